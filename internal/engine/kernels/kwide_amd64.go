package kernels

import (
	"encoding/binary"
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// kwideBlock is the size of one K-quant block unpacked for the wide
// kernels (see dot_kwide_amd64.s).
const kwideBlock = 336

// kwideSeg is how many 256-element blocks a K-quant wide kernel takes per
// call: sixteen activation rows of eight blocks are 32 KiB, which stay in
// L1 while the chunk's weight rows pass over them.
const kwideSeg = 8

//go:noescape
func dotQ4_Kx16x2VNNI(u *byte, ustride int, t *int8, d *float32, ys *int32, nb int, accA, accB *[16]float32, first bool)

//go:noescape
func unpackQ4KQuants(w *byte, nb int, u *byte)

//go:noescape
func unpackQ5KQuants(w *byte, nb int, u *byte)

// unpackQ4K unpacks the nb Q4_K blocks of w into u (kwideBlock bytes
// each) for dotQ4_Kx16x2VNNI.
func unpackQ4K(w []byte, nb int, u []byte) {
	_ = w[nb*144-1]
	_ = u[nb*kwideBlock-1]
	unpackQ4KQuants(&w[0], nb, &u[0])
	unpackK4Scales(w, 144, nb, u)
}

// unpackQ5K unpacks the nb Q5_K blocks of w into u for dotQ4_Kx16x2VNNI,
// which serves both: the fifth bit only widens the quants.
func unpackQ5K(w []byte, nb int, u []byte) {
	_ = w[nb*176-1]
	_ = u[nb*kwideBlock-1]
	unpackQ5KQuants(&w[0], nb, &u[0])
	unpackK4Scales(w, 176, nb, u)
}

// unpackK4Scales completes unpackQ4K and unpackQ5K (blocks of bs bytes
// at w, starting with d, dmin and the 6-bit scales and mins): it replaces
// the quant sums the assembly left at u+256 with the scales, and stores
// the mins, d, dmin and the activations' offset term.
func unpackK4Scales(w []byte, bs, nb int, u []byte) {
	for b := range nb {
		blk, o := w[b*bs:b*bs+16], u[b*kwideBlock:b*kwideBlock+kwideBlock]
		var c int32
		for j := range 8 {
			sc, m := scaleMinK4(j, blk[4:16])
			c += int32(sc) * int32(binary.LittleEndian.Uint32(o[256+4*j:]))
			binary.LittleEndian.PutUint32(o[256+4*j:], uint32(sc))
			binary.LittleEndian.PutUint32(o[288+4*j:], uint32(m))
		}
		binary.LittleEndian.PutUint32(o[320:], math.Float32bits(fp16ToF32(le16(blk))))
		binary.LittleEndian.PutUint32(o[324:], math.Float32bits(fp16ToF32(le16(blk[2:]))))
		binary.LittleEndian.PutUint32(o[328:], uint32(128*c))
	}
}

//go:noescape
func dotQ6_Kx16x2VNNI(u *byte, ustride int, t *int8, d *float32, nb int, accA, accB *[16]float32, first bool)

//go:noescape
func unpackQ6KQuants(w *byte, nb int, u *byte)

// unpackQ6K unpacks the nb Q6_K blocks of w into u (kwideBlock bytes
// each) for dotQ6_Kx16x2VNNI.
func unpackQ6K(w []byte, nb int, u []byte) {
	_ = w[nb*210-1]
	_ = u[nb*kwideBlock-1]
	unpackQ6KQuants(&w[0], nb, &u[0])
	for b := range nb {
		blk, o := w[b*210:b*210+210], u[b*kwideBlock:b*kwideBlock+kwideBlock]
		var c int32
		for k := range 16 {
			sc := int32(int8(blk[192+k]))
			c += sc * (int32(binary.LittleEndian.Uint32(o[256+4*k:])) - 16*32)
			binary.LittleEndian.PutUint32(o[256+4*k:], uint32(sc))
		}
		binary.LittleEndian.PutUint32(o[320:], math.Float32bits(fp16ToF32(le16(blk[208:]))))
		binary.LittleEndian.PutUint32(o[324:], uint32(128*c))
	}
}

// kwideGroupsVNNI computes weight rows r0..r1-1 of a K-quant matrix
// over the sixteen-row groups of a prompt batch, two rows per kernel
// call, each row unpacked once per call.
func kwideGroupsVNNI(m *matmul, w *Matrix, out []float32, r0, r1 int, s *scratch) {
	a, rows := &m.a, w.Rows
	rs := len(w.Data) / rows
	nb := w.Cols / 256
	per := nb * kwideBlock
	q6 := w.Type == ggml.Q6_K
	s.unp = grow(s.unp, (r1-r0)*per)
	for r := r0; r < r1; r++ {
		wr, u := w.Data[r*rs:(r+1)*rs], s.unp[(r-r0)*per:(r-r0+1)*per]
		switch w.Type {
		case ggml.Q4_K:
			unpackQ4K(wr, nb, u)
		case ggml.Q5_K:
			unpackQ5K(wr, nb, u)
		default:
			unpackQ6K(wr, nb, u)
		}
	}
	wg := m.groups / 2
	_ = a.tq[wg*nb*4096-1]
	_ = a.tdk[wg*nb*16-1]
	if !q6 {
		_ = a.tys[wg*nb*128-1]
	}
	acc := &s.wres // a single accumulator per row, as the row kernels have
	for g := range wg {
		for b0 := 0; b0 < nb; b0 += kwideSeg {
			nbs := min(kwideSeg, nb-b0)
			o := g*nb + b0
			for r := r0; r < r1; r += 2 {
				rb := min(r+1, r1-1)
				ua, ub := (r-r0)*per+b0*kwideBlock, (rb-r0)*per+b0*kwideBlock
				if q6 {
					dotQ6_Kx16x2VNNI(&s.unp[ua], ub-ua, &a.tq[o*4096], &a.tdk[o*16], nbs, &acc[r-r0], &acc[rb-r0], b0 == 0)
				} else {
					dotQ4_Kx16x2VNNI(&s.unp[ua], ub-ua, &a.tq[o*4096], &a.tdk[o*16], &a.tys[o*128], nbs, &acc[r-r0], &acc[rb-r0], b0 == 0)
				}
			}
		}
		storeWide(out, acc, g, 16, r0, r1, rows)
	}
}
