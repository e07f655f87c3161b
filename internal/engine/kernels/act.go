package kernels

import (
	"encoding/binary"
	"math"
	"unsafe"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// acts holds the activation rows of one MatMul call in the form the weight
// type's dot product wants: float32 for F32/F16/BF16 weights, 32-element
// 8-bit blocks for Q4_0..Q8_0 weights, 256-element 8-bit blocks (ggml's
// Q8_K) for K-quant weights.
type acts struct {
	t       ggml.Type
	x       []float32 // the input, during quantize
	n, cols int
	f       []float32 // float weights: the activations themselves
	qs      []int8    // n*cols quants, row-major
	d       []float32 // per block scale
	s       []float32 // per 32-block d*sum(qs) (Q4_1, Q5_1)
	ysum    []int32   // per 32-block sum of the quants
	bs      []int16   // per 256-block, 16 sums of 16 quants (K-quants)

	// For the group kernels (Q4_0, Q8_0 batches), the first groups*8 rows
	// (rows past n are zero) again, transposed so that one 32-byte vector holds four consecutive
	// quants of each of eight rows. Per group g and block b: tq[(g*nb+b)*256
	// + 32*k + 4*j + e] is quant 4k+e of the block in row 8g+j; td and tsum
	// [(g*nb+b)*8 + j] are that block's scale and quant sum.
	groups int
	tq     []int8

	// For the Q4_0 rows kernels, rows pqFrom.. of qs in pairs of blocks:
	// in each run of eight blocks, blocks p and p+4 (p < 4) take 64 bytes
	// from 64p: the low halves (quants 0-15) of both, then the high
	// halves. pqFrom is n when there are none.
	pqFrom int
	pq     []int8
	td     []float32
	tsum   []int32

	// wide stores the groups sixteen rows wide instead, for the two-row
	// kernels of the AVX-512 VNNI set (dotQ4_0x16x2VNNI, which serves
	// Q4_0 and Q8_0): per pair of groups G and block b,
	// tq[(G*nb+b)*512 + 64*k + 4*j + e] is quant
	// 4k+e of the block in row 16G+j, plus 128 (as a byte), and
	// td[(G*nb+b)*16 + j] its scale; rows past n are quants 0, scale 0.
	// tsum is not filled.
	wide bool

	// For K-quant weights, wide groups hold the quants as above (a
	// 256-element block is eight blocks of 32 there), and per pair of
	// groups G: tdk[(G*nbk+b)*16 + j] is the scale of 256-block b of row
	// 16G+j (nbk = cols/256), and tys[(G*nb+c)*16 + j] the sum of the
	// quants of its 32-block c (nb = cols/32).
	tdk []float32
	tys []int32
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// parallelQuantMin is the number of activations from which quantization is
// spread over the worker pool.
const parallelQuantMin = 16 << 10

// quantize fills a for weights of type t from x (n rows of cols). The
// first groups groups of 8 rows are also stored transposed for the group
// kernels (the last one may be partial).
func (a *acts) quantize(t ggml.Type, x []float32, n, cols, groups int, wide bool) {
	a.t, a.n, a.cols, a.groups, a.pqFrom, a.wide = t, n, cols, 0, n, false
	switch t {
	case ggml.F32, ggml.F16, ggml.BF16:
		a.f = x[:n*cols]
		return
	case ggml.Q4_K, ggml.Q5_K, ggml.Q6_K:
		nb := n * cols / 256
		a.qs, a.d, a.bs = grow(a.qs, n*cols), grow(a.d, nb), grow(a.bs, nb*16)
		if groups > 0 && wide {
			// Whole pairs of groups only (matmul.run).
			a.groups, a.wide = groups, true
			wg := groups / 2
			a.tq = grow(a.tq, wg*16*cols)
			a.tdk = grow(a.tdk, wg*16*(cols/256))
			if t != ggml.Q6_K { // Q6_K has no mins
				a.tys = grow(a.tys, wg*16*(cols/32))
			}
		}
	default:
		nb := n * cols / 32
		perRow := cols / 32
		a.qs, a.d = grow(a.qs, n*cols), grow(a.d, nb)
		if t == ggml.Q4_1 || t == ggml.Q5_1 {
			a.s = grow(a.s, nb)
		}
		// The sums are kept for every type: the SIMD quantizer computes
		// them anyway.
		a.ysum = grow(a.ysum, nb)
		if groups > 0 && wide {
			a.groups, a.wide = groups, true
			wg := (groups + 1) / 2
			a.tq = grow(a.tq, wg*16*cols)
			a.td = grow(a.td, wg*16*perRow)
		} else if groups > 0 {
			a.groups = groups
			a.tq = grow(a.tq, groups*8*cols)
			a.td = grow(a.td, groups*8*perRow)
			a.tsum = grow(a.tsum, groups*8*perRow)
		}
	}
	a.x = x[:n*cols]
	// Eight rows at a time, aligned to the transposed groups.
	tasks := (n + 7) / 8
	if n*cols < parallelQuantMin {
		for c := 0; c < tasks; c++ {
			a.do(c, nil)
		}
	} else {
		parallel(tasks, a)
	}
	a.x = nil
}

// do quantizes activation rows 8c..8c+7 (a task for parallel).
func (a *acts) do(c int, _ *scratch) {
	i0, i1 := c*8, min(a.n, c*8+8)
	x := a.x
	switch a.t {
	case ggml.Q4_K, ggml.Q5_K, ggml.Q6_K:
		perRow := a.cols / 256
		b0, b1 := i0*perRow, i1*perRow
		quantQ8KBlocks(x[b0*256:b1*256], a.qs[b0*256:b1*256], a.bs[b0*16:b1*16], a.d[b0:b1])
		if g := i0 / 8; g < a.groups && a.wide {
			a.transposeWideK(g)
		}
		return
	}
	perRow := a.cols / 32
	b0, b1 := i0*perRow, i1*perRow
	quantQ8Blocks(x[b0*32:b1*32], a.qs[b0*32:b1*32], a.d[b0:b1], a.ysum[b0:b1])
	if a.t == ggml.Q4_1 || a.t == ggml.Q5_1 {
		for b := b0; b < b1; b++ {
			a.s[b] = a.d[b] * float32(a.ysum[b])
		}
	}
	if g := i0 / 8; g < a.groups && a.wide {
		a.transposeWide(g, i1-i0)
	} else if g < a.groups {
		a.transpose(g, i1-i0)
	}
}

// quantQ8Blocks quantizes len(d) blocks of 32 activations from x to q,
// with their scales in d and quant sums in ysum.
func quantQ8Blocks(x []float32, q []int8, d []float32, ysum []int32) {
	if f := simd.quant; f != nil && !generic.Load() {
		f(x, q, d, ysum)
		return
	}
	quantQ8BlocksGeneric(x, q, d, ysum)
}

// quantQ8KBlocks quantizes len(d) blocks of 256 activations from x to
// ggml's Q8_K: quants q, 16 sums of 16 quants per block in bs, scales d.
func quantQ8KBlocks(x []float32, q []int8, bs []int16, d []float32) {
	if f := simd.quantK; f != nil && !generic.Load() {
		f(x, q, bs, d)
		return
	}
	quantQ8KBlocksGeneric(x, q, bs, d)
}

// quantQ8KBlocksGeneric is quantQ8KBlocks in Go.
func quantQ8KBlocksGeneric(x []float32, q []int8, bs []int16, d []float32) {
	for b := range d {
		d[b] = quantQ8K(x[b*256:b*256+256], q[b*256:b*256+256], bs[b*16:b*16+16])
	}
}

// quantQ8BlocksGeneric quantizes len(d) blocks of 32 activations from x
// to q, with their scales in d and quant sums in ysum.
func quantQ8BlocksGeneric(x []float32, q []int8, d []float32, ysum []int32) {
	for b := range d {
		qb := q[b*32 : b*32+32]
		d[b] = quantQ8Act(x[b*32:b*32+32], qb)
		var sum int32
		for _, v := range qb {
			sum += int32(v)
		}
		ysum[b] = sum
	}
}

// quantQ8Act quantizes 32 activations like ggml's quantize_row_q8_0 but
// keeps the scale as float32.
func quantQ8Act(x []float32, q []int8) float32 {
	x, q = x[:32], q[:32]
	var amax float32
	for _, v := range x {
		amax = max(amax, math.Float32frombits(math.Float32bits(v)&^(1<<31)))
	}
	d := amax / 127
	id := inv(d)
	for j, v := range x {
		q[j] = int8(roundAway(v * id))
	}
	return d
}

// roundAway rounds f (|f| < 2^28) to the nearest integer, halves away from
// zero, like C's roundf (and math.Round): adding ±0.5 is exact in float64
// for such a float32, and the conversion truncates.
func roundAway(f float32) int32 {
	x := float64(f)
	half := math.Float64frombits(math.Float64bits(x)&(1<<63) | math.Float64bits(0.5))
	return int32(x + half)
}

// quantQ8K is ggml's quantize_row_q8_K_ref for one 256-element block.
func quantQ8K(x []float32, q []int8, bsums []int16) float32 {
	mx, amax := absMax(x)
	if amax == 0 {
		clear(q)
		clear(bsums)
		return 0
	}
	iscale := -127 / mx
	for j, v := range x {
		q[j] = int8(min(127, nearestInt(iscale*v)))
	}
	for g := 0; g < 16; g++ {
		var s int16
		for _, v := range q[16*g : 16*g+16] {
			s += int16(v)
		}
		bsums[g] = s
	}
	return 1 / iscale
}

// pairQ4 fills pq from activation rows i0..i1-1 (a.cols a multiple of
// 256).
func (a *acts) pairQ4(i0, i1 int) {
	a.pq = grow(a.pq, (i1-i0)*a.cols)
	a.pqFrom = i0
	src := a.qs[i0*a.cols : i1*a.cols]
	for g := 0; g+256 <= len(src); g += 256 {
		s, d := src[g:g+256], a.pq[g:g+256]
		for p := 0; p < 4; p++ {
			lo, hi := s[32*p:32*p+32], s[32*(p+4):32*(p+4)+32]
			copy(d[64*p:], lo[:16])
			copy(d[64*p+16:], hi[:16])
			copy(d[64*p+32:], lo[16:])
			copy(d[64*p+48:], hi[16:])
		}
	}
}

// transpose fills group g of tq, td and tsum from rows 8g..8g+m-1 and
// zeros in place of the rows past m.
func (a *acts) transpose(g, m int) {
	nb := a.cols / 32
	for b := 0; b < nb; b++ {
		o := (g*nb + b) * 8
		dst := a.tq[o*32 : o*32+256]
		if m < 8 {
			clear(dst)
			clear(a.td[o : o+8])
			clear(a.tsum[o : o+8])
		}
		for j := 0; j < m; j++ {
			rb := (8*g+j)*nb + b
			src := a.qs[rb*32 : rb*32+32]
			for k := 0; k < 8; k++ {
				copy(dst[32*k+4*j:32*k+4*j+4], src[4*k:4*k+4])
			}
			a.td[o+j] = a.d[rb]
			a.tsum[o+j] = a.ysum[rb]
		}
	}
}

// transposeWide fills half g%2 of wide group g/2 of tq and td (see
// acts.wide) from rows 8g..8g+m-1, with zero quants and scales in place
// of the rows past m, and past the group when g is the last of an odd
// number.
func (a *acts) transposeWide(g, m int) {
	nb := a.cols / 32
	h := 8 * (g % 2)
	clearTo := 8 // rows of this half to fill or clear
	if g%2 == 0 && g == a.groups-1 {
		clearTo = 16 - h
	}
	tq, qs := bytesOf(a.tq), bytesOf(a.qs)
	simd := m == 8 && transposeWideSIMD != nil
	if simd {
		_ = a.qs[(8*g+8)*a.cols-1]
		_ = a.tq[(g/2*nb+nb)*512-1]
		transposeWideSIMD(&a.qs[8*g*a.cols], a.cols, nb, &a.tq[g/2*nb*512+4*h])
	}
	for b := 0; b < nb; b++ {
		o := g/2*nb + b
		dst := tq[o*512 : o*512+512]
		td := a.td[o*16 : o*16+16]
		for j := m; j < clearTo; j++ {
			for k := 0; k < 8; k++ {
				binary.LittleEndian.PutUint32(dst[64*k+4*(h+j):], 0x80808080)
			}
			td[h+j] = 0
		}
		for j := 0; j < m; j++ {
			rb := (8*g+j)*nb + b
			td[h+j] = a.d[rb]
			if simd {
				continue
			}
			src := qs[rb*32 : rb*32+32]
			for k := 0; k < 8; k++ {
				binary.LittleEndian.PutUint32(dst[64*k+4*(h+j):], binary.LittleEndian.Uint32(src[4*k:])^0x80808080)
			}
		}
	}
}

// transposeWideK fills half g%2 of wide group g/2 of tq, tdk and (but for
// Q6_K) tys (see acts.tdk) from the eight K-quant rows 8g..8g+7.
func (a *acts) transposeWideK(g int) {
	nb, nbk := a.cols/32, a.cols/256
	h := 8 * (g % 2)
	_ = a.qs[(8*g+8)*a.cols-1]
	_ = a.tq[(g/2*nb+nb)*512-1]
	if transposeWideSIMD != nil {
		transposeWideSIMD(&a.qs[8*g*a.cols], a.cols, nb, &a.tq[g/2*nb*512+4*h])
	} else {
		tq, qs := bytesOf(a.tq), bytesOf(a.qs)
		for j := range 8 {
			for b := range nb {
				src := qs[((8*g+j)*nb+b)*32:]
				dst := tq[(g/2*nb+b)*512:]
				for k := range 8 {
					binary.LittleEndian.PutUint32(dst[64*k+4*(h+j):], binary.LittleEndian.Uint32(src[4*k:])^0x80808080)
				}
			}
		}
	}
	for j := range 8 {
		row := 8*g + j
		for b := range nbk {
			o := g/2*nbk + b
			a.tdk[o*16+h+j] = a.d[row*nbk+b]
			if a.t == ggml.Q6_K {
				continue
			}
			bs := a.bs[(row*nbk+b)*16 : (row*nbk+b)*16+16]
			for c := range 8 {
				a.tys[(o*8+c)*16+h+j] = int32(bs[2*c]) + int32(bs[2*c+1])
			}
		}
	}
}

// transposeWideSIMD, if not nil, does transposeWide's work on the quants
// of eight rows: for each of nb blocks, the rows' 32 quants at q, q+cols,
// ... q+7*cols go, plus 128, to the eight runs of 32 bytes at
// dst+512*b+64*k.
var transposeWideSIMD func(q *int8, cols, nb int, dst *int8)

// bytesOf returns q's memory as bytes.
func bytesOf(q []int8) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(q))), len(q))
}
