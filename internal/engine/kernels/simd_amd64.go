package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

func init() {
	// The AVX2 kernels use F16C for the fp16 block scales; the VNNI ones
	// also need AVX-512 VL for 256-bit VPDPBUSD and embedded broadcasts,
	// and BW for word shifts of Y16..Y31 (dot_multi_amd64.s).
	avx2 := cpu.X86.HasAVX2 && cpu.X86.HasF16C
	vnni := avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI
	kernelSets = []kernelSet{
		{name: "avx2", supported: avx2,
			rows:   rowsAVX2(map[ggml.Type]rowKernel{ggml.Q8_0: q8_0AVX2.row, ggml.Q4_0: q4_0AVX2.row}),
			multi:  map[ggml.Type]rowsKernel{ggml.Q8_0: q8_0AVX2.rows, ggml.Q4_0: q4_0AVX2.rows},
			many:   map[ggml.Type]manyKernel{ggml.Q8_0: q8_0AVX2.multi, ggml.Q4_0: q4_0AVX2.multi},
			groups: map[ggml.Type]groupKernel{ggml.Q8_0: q8_0AVX2.group, ggml.Q4_0: q4_0AVX2.group},
			quant:  quantQ8AVX2, quantK: quantQ8KBlocksAVX2},
		{name: "avx512vnni", supported: vnni,
			rows:   rowsAVX2(map[ggml.Type]rowKernel{ggml.Q8_0: q8_0VNNI.row, ggml.Q4_0: q4_0VNNI.row}),
			multi:  map[ggml.Type]rowsKernel{ggml.Q8_0: q8_0VNNI.rows, ggml.Q4_0: q4_0VNNI.rows, ggml.Q4_K: q4_KVNNIRows, ggml.Q5_K: q5_KVNNIRows},
			many:   map[ggml.Type]manyKernel{ggml.Q8_0: q8_0VNNI.multi, ggml.Q4_0: q4_0VNNI.multi},
			groups: map[ggml.Type]groupKernel{ggml.Q8_0: q8_0VNNI.group, ggml.Q4_0: q4_0VNNI.group},
			quant:  quantQ8AVX2, quantK: quantQ8KBlocksAVX2, pairGroups: pairGroupsVNNI, kwideGroups: kwideGroupsVNNI},
	}
	useBestKernels()
	if vnni {
		transposeWideSIMD = transposeWide8
	}
}

// rowsAVX2 adds to m the AVX2 row kernels both sets share: K-quants, Q5_0
// and float weights.
func rowsAVX2(m map[ggml.Type]rowKernel) map[ggml.Type]rowKernel {
	m[ggml.Q4_K], m[ggml.Q5_K], m[ggml.Q6_K] = q4_KAVX2, q5_KAVX2, q6_KAVX2
	m[ggml.F32], m[ggml.F16], m[ggml.BF16] = floatAVX2, floatAVX2, floatAVX2
	m[ggml.Q5_0] = q5_0AVX2
	return m
}

//go:noescape
func dotQ5_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc0 float32) float32

// q5_0AVX2 is dotQ5_0Row: groups of eight blocks in assembly, the rest in
// Go, continuing the same sum.
func q5_0AVX2(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	ng := nb / 8
	var acc float32
	if ng > 0 {
		_ = w[ng*8*22-1]
		_ = a.qs[(i+1)*a.cols-1]
		_ = a.d[(i+1)*nb-1]
		_ = a.ysum[(i+1)*nb-1]
		acc = dotQ5_0AVX2(&w[0], &a.qs[i*a.cols], &a.d[i*nb], &a.ysum[i*nb], ng, 0)
	}
	return q5_0Blocks(w, a, i, ng*8, nb, acc)
}

// Float weights (dot_float_amd64.s): groups of 32 elements in assembly,
// the rest in Go, with the same accumulators.

//go:noescape
func dotF32AVX2(w *byte, x *float32, n int, acc *[32]float32)

//go:noescape
func dotF16AVX2(w *byte, x *float32, n int, acc *[32]float32)

//go:noescape
func dotBF16AVX2(w *byte, x *float32, n int, acc *[32]float32)

// floatAVX2 is dotFloatRow with the groups of 32 elements in assembly.
func floatAVX2(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.cols : (i+1)*a.cols]
	var acc [32]float32
	n := len(x) / 32
	if n > 0 {
		_ = w[n*32*a.t.TypeSize()-1]
		// Static calls, so that acc stays on the stack.
		switch a.t {
		case ggml.F32:
			dotF32AVX2(&w[0], &x[0], n, &acc)
		case ggml.F16:
			dotF16AVX2(&w[0], &x[0], n, &acc)
		default:
			dotBF16AVX2(&w[0], &x[0], n, &acc)
		}
	}
	floatTail(a.t, w, x, 32*n, &acc)
	return hsum32(&acc)
}

// Assembly kernels for 32-element blocks (dot_amd64.s, dot_vnni_amd64.s).
// The row kernels add ngroups*8 blocks of one activation row to acc, lane
// b%8; the x8 kernels add nb blocks of a transposed group of eight rows
// (acts.tq) to acc[8*(b%8)+j] and store the row sums in res.

//go:noescape
func dotQ8_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)

//go:noescape
func dotQ4_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)

//go:noescape
func dotQ8_0x8AVX2(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)

//go:noescape
func dotQ4_0x8AVX2(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)

//go:noescape
func dotQ8_0AVX2Rows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)

//go:noescape
func dotQ4_0AVX2Rows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)

//go:noescape
func dotQ8_0VNNIRows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)

//go:noescape
func dotQ4_0VNNIRows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)

//go:noescape
func dotQ4_0AVX2Multi(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)

//go:noescape
func dotQ8_0VNNIMulti(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)

//go:noescape
func dotQ4_0VNNIMulti(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)

//go:noescape
func dotQ8_0VNNI(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)

//go:noescape
func dotQ4_0VNNI(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)

//go:noescape
func dotQ8_0x8VNNI(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)

//go:noescape
func dotQ4_0x8VNNI(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)

// blockKernels wraps the assembly for one 32-element block type: the
// bounds checks the assembly relies on, and the blocks past the last full
// eight in Go (tail, with the same arithmetic).
type blockKernels struct {
	blockBytes int
	vnni       bool
	rowsAsm    func(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)
	groupAsm   func(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)
	// multiAsm, if not nil, takes 2 to maxMulti activation rows at once.
	multiAsm func(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)
}

// multi sets out[(i-i0)*ostride+r] to the row kernel's result for weight
// row r (at w[r*rs:]) and activation row i, for r < nrows and i0 <= i <
// i1.
func (k *blockKernels) multi(w []byte, rs, nrows int, a *acts, i0, i1 int, out []float32, ostride int) {
	nb := a.cols / 32
	paired := k.blockBytes == 18
	m := i1 - i0
	if k.multiAsm == nil || m < 2 || m > maxMulti || nb%8 != 0 || paired && i0 < a.pqFrom || nrows == 0 {
		for i := i0; i < i1; i++ {
			o := (i - i0) * ostride
			k.rows(w[:nrows*rs], rs, a, i, out[o:o+nrows])
		}
		return
	}
	_ = w[(nrows-1)*rs+nb*k.blockBytes-1]
	_ = a.qs[i1*a.cols-1]
	_ = a.d[i1*nb-1]
	_ = a.ysum[i1*nb-1]
	_ = out[(m-1)*ostride+nrows-1]
	y := &a.qs[i0*a.cols]
	if paired {
		_ = a.pq[(i1-a.pqFrom)*a.cols-1]
		y = &a.pq[(i0-a.pqFrom)*a.cols]
	}
	k.multiAsm(&w[0], rs, nrows, y, a.cols, &a.d[i0*nb], &a.ysum[i0*nb], nb*4, m, nb/8, &out[0], ostride*4)
}

// multiAsm, if not nil, is the kernel for 2 to maxMulti activation rows.
// rowAsm calls the row kernel for k statically (a call through a function
// value would move acc to the heap).
func (k *blockKernels) rowAsm(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32) {
	switch {
	case k.blockBytes == 34 && k.vnni:
		dotQ8_0VNNI(w, y, d, ysum, ngroups, acc)
	case k.blockBytes == 34:
		dotQ8_0AVX2(w, y, d, ysum, ngroups, acc)
	case k.vnni:
		dotQ4_0VNNI(w, y, d, ysum, ngroups, acc)
	default:
		dotQ4_0AVX2(w, y, d, ysum, ngroups, acc)
	}
}

// rows sets out[r] to the row kernel's result for weight row r (at
// w[r*rs:]) and activation row i, for r < len(out).
func (k *blockKernels) rows(w []byte, rs int, a *acts, i int, out []float32) {
	nb := a.cols / 32
	// The Q4_0 kernels take the paired layout (acts.pairQ4).
	paired := k.blockBytes == 18
	if nb%8 != 0 || paired && i < a.pqFrom {
		for r := range out {
			out[r] = k.row(w[r*rs:(r+1)*rs], a, i)
		}
		return
	}
	if len(out) == 0 {
		return
	}
	_ = w[(len(out)-1)*rs+nb*k.blockBytes-1]
	_ = a.qs[(i+1)*a.cols-1]
	_ = a.d[(i+1)*nb-1]
	_ = a.ysum[(i+1)*nb-1]
	y := &a.qs[i*a.cols]
	if paired {
		_ = a.pq[(i-a.pqFrom+1)*a.cols-1]
		y = &a.pq[(i-a.pqFrom)*a.cols]
	}
	k.rowsAsm(&w[0], rs, len(out), y, &a.d[i*nb], &a.ysum[i*nb], nb/8, &out[0])
}

func (k *blockKernels) row(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	ng := nb / 8
	var acc [8]float32
	if ng > 0 {
		_ = w[nb*k.blockBytes-1]
		_ = a.qs[(i+1)*a.cols-1]
		_ = a.d[(i+1)*nb-1]
		_ = a.ysum[(i+1)*nb-1]
		k.rowAsm(&w[0], &a.qs[i*a.cols], &a.d[i*nb], &a.ysum[i*nb], ng, &acc)
	}
	if ng*8 < nb {
		// Static calls, so that acc stays on the stack.
		if k.blockBytes == 34 {
			q8_0Blocks(w, a, i, ng*8, nb, &acc)
		} else {
			q4_0Blocks(w, a, i, ng*8, nb, &acc)
		}
	}
	return hsum8(&acc)
}

func (k *blockKernels) group(w []byte, a *acts, g, b0, nb int, acc *[64]float32, res *[8]float32) {
	if nb <= 0 {
		return
	}
	_ = w[(b0+nb)*k.blockBytes-1]
	o := g*(a.cols/32) + b0
	_ = a.tq[(o+nb)*256-1]
	_ = a.td[(o+nb)*8-1]
	_ = a.tsum[(o+nb)*8-1]
	k.groupAsm(&w[b0*k.blockBytes], &a.tq[o*256], &a.td[o*8], &a.tsum[o*8], nb, acc, res)
}

var (
	q8_0AVX2 = &blockKernels{34, false, dotQ8_0AVX2Rows, dotQ8_0x8AVX2, nil}
	q4_0AVX2 = &blockKernels{18, false, dotQ4_0AVX2Rows, dotQ4_0x8AVX2, dotQ4_0AVX2Multi}
	q8_0VNNI = &blockKernels{34, true, dotQ8_0VNNIRows, dotQ8_0x8VNNI, dotQ8_0VNNIMulti}
	q4_0VNNI = &blockKernels{18, true, dotQ4_0VNNIRows, dotQ4_0x8VNNI, dotQ4_0VNNIMulti}
)

// K-quant kernels (dot_k_amd64.s): nb 256-element blocks of one row with
// Q8_K activations (quants y, bsums bs, scales d).

//go:noescape
func dotQ4_KAVX2(w *byte, y *int8, bs *int16, d *float32, nb int, acc0 float32) float32

//go:noescape
func dotQ4_KVNNIRows(w *byte, rs, nrows int, y *int8, bs *int16, d *float32, ngroups int, out *float32)

//go:noescape
func dotQ5_KAVX2(w *byte, y *int8, bs *int16, d *float32, nb int, acc0 float32) float32

//go:noescape
func dotQ5_KVNNIRows(w *byte, rs, nrows int, y *int8, bs *int16, d *float32, ngroups int, out *float32)

//go:noescape
func dotQ6_KAVX2(w *byte, y *int8, bs *int16, d *float32, nb int, acc0 float32) float32

func q4_KAVX2(w []byte, a *acts, i int) float32 { return kquantAVX2(w, a, i, 144, dotQ4_KAVX2) }

func q5_KAVX2(w []byte, a *acts, i int) float32 { return kquantAVX2(w, a, i, 176, dotQ5_KAVX2) }

func q6_KAVX2(w []byte, a *acts, i int) float32 { return kquantAVX2(w, a, i, 210, dotQ6_KAVX2) }

func kquantAVX2(w []byte, a *acts, i, blockBytes int, f func(w *byte, y *int8, bs *int16, d *float32, nb int, acc0 float32) float32) float32 {
	nb := a.cols / 256
	_ = w[nb*blockBytes-1]
	_ = a.qs[(i+1)*a.cols-1]
	_ = a.bs[(i+1)*nb*16-1]
	_ = a.d[(i+1)*nb-1]
	return f(&w[0], &a.qs[i*a.cols], &a.bs[i*nb*16], &a.d[i*nb], nb, 0)
}

func q4_KVNNIRows(w []byte, rs int, a *acts, i int, out []float32) {
	kquantVNNIRows(w, rs, a, i, out, 144, dotQ4_KVNNIRows, dotQ4_KAVX2)
}

func q5_KVNNIRows(w []byte, rs int, a *acts, i int, out []float32) {
	kquantVNNIRows(w, rs, a, i, out, 176, dotQ5_KVNNIRows, dotQ5_KAVX2)
}

// kquantVNNIRows sets out[r] to the row kernel's result for the Q4_K or
// Q5_K weight row r (at w[r*rs:]) and activation row i: eight blocks at a
// time in the VNNI rows kernel, and the blocks past the last eight,
// continuing each row's sum in order, in the AVX2 kernel.
func kquantVNNIRows(w []byte, rs int, a *acts, i int, out []float32, blockBytes int,
	rowsAsm func(w *byte, rs, nrows int, y *int8, bs *int16, d *float32, ngroups int, out *float32),
	rowAsm func(w *byte, y *int8, bs *int16, d *float32, nb int, acc0 float32) float32) {
	if len(out) == 0 {
		return
	}
	nb := a.cols / 256
	ng := nb / 8
	_ = w[(len(out)-1)*rs+nb*blockBytes-1]
	_ = a.qs[(i+1)*a.cols-1]
	_ = a.bs[(i+1)*nb*16-1]
	_ = a.d[(i+1)*nb-1]
	if ng > 0 {
		rowsAsm(&w[0], rs, len(out), &a.qs[i*a.cols], &a.bs[i*nb*16], &a.d[i*nb], ng, &out[0])
	} else {
		clear(out)
	}
	if b := ng * 8; b < nb {
		for r := range out {
			out[r] = rowAsm(&w[r*rs+b*blockBytes], &a.qs[i*a.cols+b*256], &a.bs[(i*nb+b)*16], &a.d[i*nb+b], nb-b, out[r])
		}
	}
}

// Activation quantization (quant_amd64.s).

//go:noescape
func quantQ8ActAVX2(x *float32, q *int8, d *float32, ysum *int32, nb int) (bad int)

// quantQ8AVX2 is quantQ8BlocksGeneric in AVX2. The assembly leaves blocks
// with a non-finite or tiny absolute maximum (scale set to NaN) to the Go
// code.
func quantQ8AVX2(x []float32, q []int8, d []float32, ysum []int32) {
	nb := len(d)
	if nb == 0 {
		return
	}
	_ = x[nb*32-1]
	_ = q[nb*32-1]
	_ = ysum[nb-1]
	if quantQ8ActAVX2(&x[0], &q[0], &d[0], &ysum[0], nb) == 0 {
		return
	}
	for b, v := range d {
		if v != v {
			quantQ8BlocksGeneric(x[b*32:b*32+32], q[b*32:b*32+32], d[b:b+1], ysum[b:b+1])
		}
	}
}

//go:noescape
func quantQ8KAVX2(x *float32, q *int8, bs *int16, d *float32, nb int) (bad int)

// quantQ8KBlocksAVX2 is quantQ8KBlocksGeneric in AVX2. The assembly leaves
// blocks with a non-finite or tiny absolute maximum (scale set to NaN) to
// the Go code.
func quantQ8KBlocksAVX2(x []float32, q []int8, bs []int16, d []float32) {
	nb := len(d)
	if nb == 0 {
		return
	}
	_ = x[nb*256-1]
	_ = q[nb*256-1]
	_ = bs[nb*16-1]
	if quantQ8KAVX2(&x[0], &q[0], &bs[0], &d[0], nb) == 0 {
		return
	}
	for b, v := range d {
		if v != v {
			quantQ8KBlocksGeneric(x[b*256:b*256+256], q[b*256:b*256+256], bs[b*16:b*16+16], d[b:b+1])
		}
	}
}

// Two-row group kernels for Q4_0 and Q8_0 (dot_q4pair_amd64.s).

//go:noescape
func unpackQ4_0(w *byte, nb int, out *byte)

//go:noescape
func unpackQ8_0(w *byte, nb int, out *byte)

//go:noescape
func transposeWide8(q *int8, cols, nb int, dst *int8)

//go:noescape
func transpose16(res *[16][16]float32, out *float32, ostride, nj int)

//go:noescape
func dotQ4_0x8x2VNNI(u *byte, ustride int, t *int8, d *float32, nb int, accA, accB *[64]float32, resA, resB *[8]float32, first bool)

//go:noescape
func dotQ4_0x16x2VNNI(u *byte, ustride int, t *int8, d *float32, nb int, accA, accB *[128]float32, resA, resB *[16]float32, first bool)

// unpackedBlock is the size of a block unpacked by unpackQ4_0 or
// unpackQ8_0.
const unpackedBlock = 40

// pairGroupsVNNI computes the products of weight rows r0..r1-1 (at most
// rowChunk) of w (Q4_0 or Q8_0) with the groups of activation rows of m,
// as the group loop of matmul.chunk does with the type's group kernel,
// and with the same results: it unpacks the rows once, then runs them two
// at a time over each group, segBlocks blocks at a time.
func pairGroupsVNNI(m *matmul, w *Matrix, out []float32, r0, r1 int, s *scratch) {
	a, n, rows := &m.a, m.n, w.Rows
	rs := len(w.Data) / rows
	nb := w.Cols / 32
	per := nb * unpackedBlock
	s.unp = grow(s.unp, (r1-r0)*per)
	if w.Type == ggml.Q8_0 {
		_ = w.Data[(r1-1)*rs+nb*34-1]
		for r := r0; r < r1; r++ {
			unpackQ8_0(&w.Data[r*rs], nb, &s.unp[(r-r0)*per])
		}
	} else {
		_ = w.Data[(r1-1)*rs+nb*18-1]
		for r := r0; r < r1; r++ {
			unpackQ4_0(&w.Data[r*rs], nb, &s.unp[(r-r0)*per])
		}
	}
	if a.wide {
		wideGroupsVNNI(m, out, r0, r1, nb, rows, s)
		return
	}
	_ = a.tq[m.groups*nb*256-1]
	_ = a.td[m.groups*nb*8-1]
	for g := 0; g < m.groups; g++ {
		acc := &s.acc
		rowsOut := min(8, n-8*g)
		for b0 := 0; b0 < nb; b0 += segBlocks {
			nbs := min(segBlocks, nb-b0)
			last := b0+nbs == nb
			o := g*nb + b0
			for r := r0; r < r1; r += 2 {
				rb := min(r+1, r1-1)
				ua, ub := (r-r0)*per+b0*unpackedBlock, (rb-r0)*per+b0*unpackedBlock
				dotQ4_0x8x2VNNI(&s.unp[ua], ub-ua, &a.tq[o*256], &a.td[o*8], nbs, &acc[r-r0], &acc[rb-r0], &s.res, &s.res2, b0 == 0)
				if last {
					for j, v := range s.res[:rowsOut] {
						out[(8*g+j)*rows+r] = v
					}
					if rb != r {
						for j, v := range s.res2[:rowsOut] {
							out[(8*g+j)*rows+rb] = v
						}
					}
				}
			}
		}
	}
}

// wideGroupsVNNI is the group loop of pairGroupsVNNI over the wide groups
// of sixteen activation rows (acts.wide), on the unpacked rows in s.unp.
func wideGroupsVNNI(m *matmul, out []float32, r0, r1, nb, rows int, s *scratch) {
	a := &m.a
	per := nb * unpackedBlock
	wg := (m.groups + 1) / 2
	_ = a.tq[wg*nb*512-1]
	_ = a.td[wg*nb*16-1]
	for g := 0; g < wg; g++ {
		acc, res := &s.wacc, &s.wres
		for b0 := 0; b0 < nb; b0 += segBlocks {
			nbs := min(segBlocks, nb-b0)
			o := g*nb + b0
			for r := r0; r < r1; r += 2 {
				rb := min(r+1, r1-1)
				ua, ub := (r-r0)*per+b0*unpackedBlock, (rb-r0)*per+b0*unpackedBlock
				dotQ4_0x16x2VNNI(&s.unp[ua], ub-ua, &a.tq[o*512], &a.td[o*16], nbs, &acc[r-r0], &acc[rb-r0], &res[r-r0], &res[rb-r0], b0 == 0)
			}
		}
		// The group's results, read back only now, long after the
		// kernels stored them.
		storeWide(out, res, g, min(16, m.from-16*g), r0, r1, rows)
	}
}

// storeWide stores the results res[r-r0][j] of weight rows r0..r1-1 for
// activation rows 16g+j (j < nj) of a wide group at out[(16g+j)*rows+r]:
// a run of the chunk's rows per activation row, sixteen rows at a time by
// a transpose in registers.
func storeWide(out []float32, res *[rowChunk][16]float32, g, nj, r0, r1, rows int) {
	_ = out[(16*g+nj-1)*rows+r1-1]
	i := 0
	for ; i+16 <= r1-r0; i += 16 {
		transpose16((*[16][16]float32)(res[i:i+16]), &out[16*g*rows+r0+i], rows*4, nj)
	}
	for j := range nj {
		o := out[(16*g+j)*rows+r0+i : (16*g+j)*rows+r1]
		for r := range o {
			o[r] = res[i+r][j]
		}
	}
}
