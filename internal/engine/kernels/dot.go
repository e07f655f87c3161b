package kernels

import (
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// A rowKernel computes the dot product of one weight row w with
// activation row i of a.
type rowKernel func(w []byte, a *acts, i int) float32

// A rowsKernel sets out[r] to what the rowKernel of the same type returns
// for weight row r, at w[r*rs:(r+1)*rs], and activation row i of a, for
// r < len(out).
type rowsKernel func(w []byte, rs int, a *acts, i int, out []float32)

// A manyKernel sets out[(i-i0)*ostride+r] to what the rowKernel of the
// same type returns for weight row r, at w[r*rs:(r+1)*rs], and activation
// row i of a, for r < nrows and i0 <= i < i1.
type manyKernel func(w []byte, rs, nrows int, a *acts, i0, i1 int, out []float32, ostride int)

// maxMulti is the most activation rows a manyKernel takes in one pass.
const maxMulti = 5

// A groupKernel adds, for one weight row w and the eight activation rows of
// group g of a (see acts), blocks b0..b0+nb-1 of the dot products to acc:
// acc[8*(b%8)+j] collects the block terms of row j. It then sets res[j] to
// the sum of row j's accumulators, which after the last block is exactly
// what the rowKernel of the same type returns for that row. b0 is a
// multiple of 8.
type groupKernel func(w []byte, a *acts, g, b0, nb int, acc *[64]float32, res *[8]float32)

// genericKernels are the pure-Go dot products for every supported type.
var genericKernels = map[ggml.Type]rowKernel{
	ggml.F32:  dotFloatRow,
	ggml.F16:  dotFloatRow,
	ggml.BF16: dotFloatRow,
	ggml.Q4_0: dotQ4_0Generic,
	ggml.Q4_1: dotQ4_1Row,
	ggml.Q5_0: dotQ5_0Row,
	ggml.Q5_1: dotQ5_1Row,
	ggml.Q8_0: dotQ8_0Generic,
	ggml.Q4_K: dotQ4_KRow,
	ggml.Q5_K: dotQ5_KRow,
	ggml.Q6_K: dotQ6_KRow,
}

// The float dot products (F32, F16 and BF16 weights) add the product of
// element k, rounded to float32, to accumulator k%32 of thirty-two, in
// order, and sum the accumulators as hsum32 does. No step is fused, so
// the SIMD kernels, which keep the accumulators in four vectors, compute
// exactly the same.

// dotFloatRow is the row kernel of F32, F16 and BF16 weights (a.t).
func dotFloatRow(w []byte, a *acts, i int) float32 {
	var acc [32]float32
	floatTail(a.t, w, a.f[i*a.cols:(i+1)*a.cols], 0, &acc)
	return hsum32(&acc)
}

// floatTail adds the products of elements k0 and after of x with the
// float weights w of type t to acc.
func floatTail(t ggml.Type, w []byte, x []float32, k0 int, acc *[32]float32) {
	switch t {
	case ggml.F32:
		for k := k0; k < len(x); k++ {
			acc[k%32] += float32(math.Float32frombits(le32(w[4*k:])) * x[k])
		}
	case ggml.F16:
		for k := k0; k < len(x); k++ {
			acc[k%32] += float32(fp16ToF32(le16(w[2*k:])) * x[k])
		}
	default:
		for k := k0; k < len(x); k++ {
			acc[k%32] += float32(bf16ToF32(le16(w[2*k:])) * x[k])
		}
	}
}

// hsum32 adds thirty-two accumulators in the order the SIMD kernels do:
// four vectors of eight added pairwise, then hsum8.
func hsum32(acc *[32]float32) float32 {
	var s [8]float32
	for j := range s {
		s[j] = (acc[j] + acc[j+8]) + (acc[j+16] + acc[j+24])
	}
	return hsum8(&s)
}

// hsum8 adds eight accumulators in the order the SIMD kernels do: fold
// the high four onto the low four, then two onto two, then one onto one.
func hsum8(acc *[8]float32) float32 {
	t0, t1, t2, t3 := acc[0]+acc[4], acc[1]+acc[5], acc[2]+acc[6], acc[3]+acc[7]
	return (t0 + t2) + (t1 + t3)
}

// The Q8_0 and Q4_0 dot products are defined block by block: block b
// contributes float32(s*float32(isum)), where isum is the exact integer dot
// product of its 32 weight and activation quants and s = fp16(weight
// scale)*(activation scale), rounded to float32; the terms are added, in
// order, to accumulator b%8 of eight, and the accumulators are summed as
// hsum8 does. No step is fused, so the SIMD kernels, which keep the eight
// accumulators in the lanes of a vector (one lane per block for one row,
// or one vector per b%8 with a lane per row for eight rows), compute
// exactly the same.

// dotQ8_0Generic is the reference for the SIMD Q8_0 kernels.
func dotQ8_0Generic(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	var acc [8]float32
	q8_0Blocks(w, a, i, 0, nb, &acc)
	return hsum8(&acc)
}

// q8_0Blocks adds blocks b0..b1-1 of row i's Q8_0 dot product to acc.
func q8_0Blocks(w []byte, a *acts, i, b0, b1 int, acc *[8]float32) {
	nb := a.cols / 32
	qs, ds := a.qs[i*a.cols:(i+1)*a.cols], a.d[i*nb:(i+1)*nb]
	for b := b0; b < b1; b++ {
		blk := w[b*34 : b*34+34]
		q, y := blk[2:34], qs[b*32:b*32+32]
		var isum int32
		for k := 0; k < 32; k += 4 {
			isum += int32(int8(q[k]))*int32(y[k]) + int32(int8(q[k+1]))*int32(y[k+1]) +
				int32(int8(q[k+2]))*int32(y[k+2]) + int32(int8(q[k+3]))*int32(y[k+3])
		}
		s := fp16ToF32(le16(blk)) * ds[b]
		acc[b&7] += float32(s * float32(isum))
	}
}

// dotQ4_0Generic is the reference for the SIMD Q4_0 kernels.
func dotQ4_0Generic(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	var acc [8]float32
	q4_0Blocks(w, a, i, 0, nb, &acc)
	return hsum8(&acc)
}

// q4_0Blocks adds blocks b0..b1-1 of row i's Q4_0 dot product to acc.
func q4_0Blocks(w []byte, a *acts, i, b0, b1 int, acc *[8]float32) {
	nb := a.cols / 32
	qs, ds, ys := a.qs[i*a.cols:(i+1)*a.cols], a.d[i*nb:(i+1)*nb], a.ysum[i*nb:(i+1)*nb]
	for b := b0; b < b1; b++ {
		blk := w[b*18 : b*18+18]
		q, y := blk[2:18], qs[b*32:b*32+32]
		// sum (n-8)*y = sum n*y - 8*sum y, with n the unsigned nibbles.
		var isum int32
		for j := 0; j < 16; j++ {
			isum += int32(q[j]&0xf)*int32(y[j]) + int32(q[j]>>4)*int32(y[j+16])
		}
		isum -= 8 * ys[b]
		s := fp16ToF32(le16(blk)) * ds[b]
		acc[b&7] += float32(s * float32(isum))
	}
}

func dotQ4_1Row(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	qs, ds, ss := a.qs[i*a.cols:], a.d[i*nb:], a.s[i*nb:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*20 : b*20+20]
		y := qs[b*32 : b*32+32]
		var sum int32
		for j := 0; j < 16; j++ {
			sum += int32(blk[4+j]&0xf)*int32(y[j]) + int32(blk[4+j]>>4)*int32(y[j+16])
		}
		acc += fp16ToF32(le16(blk))*ds[b]*float32(sum) + fp16ToF32(le16(blk[2:]))*ss[b]
	}
	return acc
}

func dotQ5_0Row(w []byte, a *acts, i int) float32 {
	return q5_0Blocks(w, a, i, 0, a.cols/32, 0)
}

// q5_0Blocks adds the terms of blocks b0..b1-1 of weight row w and
// activation row i to acc, in order, and returns the sum.
func q5_0Blocks(w []byte, a *acts, i, b0, b1 int, acc float32) float32 {
	nb := a.cols / 32
	qs, ds := a.qs[i*a.cols:], a.d[i*nb:]
	for b := b0; b < b1; b++ {
		blk := w[b*22 : b*22+22]
		qh := le32(blk[2:])
		y := qs[b*32 : b*32+32]
		var sum int32
		for j := 0; j < 16; j++ {
			q0 := int32(uint32(blk[6+j]&0xf)|(qh>>j<<4)&0x10) - 16
			q1 := int32(uint32(blk[6+j]>>4)|(qh>>(j+12))&0x10) - 16
			sum += q0*int32(y[j]) + q1*int32(y[j+16])
		}
		// The conversion keeps the product from being fused with the sum.
		acc += float32(fp16ToF32(le16(blk)) * ds[b] * float32(sum))
	}
	return acc
}

func dotQ5_1Row(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	qs, ds, ss := a.qs[i*a.cols:], a.d[i*nb:], a.s[i*nb:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*24 : b*24+24]
		qh := le32(blk[4:])
		y := qs[b*32 : b*32+32]
		var sum int32
		for j := 0; j < 16; j++ {
			q0 := int32(uint32(blk[8+j]&0xf) | (qh>>j<<4)&0x10)
			q1 := int32(uint32(blk[8+j]>>4) | (qh>>(j+12))&0x10)
			sum += q0*int32(y[j]) + q1*int32(y[j+16])
		}
		acc += fp16ToF32(le16(blk))*ds[b]*float32(sum) + fp16ToF32(le16(blk[2:]))*ss[b]
	}
	return acc
}

func dotQ4_KRow(w []byte, a *acts, i int) float32 {
	nb := a.cols / 256
	qs, ds, bs := a.qs[i*a.cols:], a.d[i*nb:], a.bs[i*nb*16:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*144 : b*144+144]
		y := qs[b*256 : b*256+256]
		bsum := bs[b*16 : b*16+16]
		var sums, msum int32
		for j := 0; j < 8; j++ {
			sc, m := scaleMinK4(j, blk[4:16])
			q := blk[16+32*(j/2) : 16+32*(j/2)+32]
			yy := y[32*j : 32*j+32]
			var isum int32
			if j%2 == 0 {
				for l := 0; l < 32; l++ {
					isum += int32(q[l]&0xf) * int32(yy[l])
				}
			} else {
				for l := 0; l < 32; l++ {
					isum += int32(q[l]>>4) * int32(yy[l])
				}
			}
			sums += int32(sc) * isum
			msum += int32(m) * (int32(bsum[2*j]) + int32(bsum[2*j+1]))
		}
		// Explicit conversions keep the products from being fused.
		acc += float32(fp16ToF32(le16(blk))*ds[b]*float32(sums)) - float32(fp16ToF32(le16(blk[2:]))*ds[b]*float32(msum))
	}
	return acc
}

func dotQ5_KRow(w []byte, a *acts, i int) float32 {
	nb := a.cols / 256
	qs, ds, bs := a.qs[i*a.cols:], a.d[i*nb:], a.bs[i*nb*16:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*176 : b*176+176]
		qh := blk[16:48]
		y := qs[b*256 : b*256+256]
		bsum := bs[b*16 : b*16+16]
		var sums, msum int32
		for j := 0; j < 8; j++ {
			sc, m := scaleMinK4(j, blk[4:16])
			q := blk[48+32*(j/2) : 48+32*(j/2)+32]
			yy := y[32*j : 32*j+32]
			shift := uint(4 * (j % 2))
			var isum int32
			for l := 0; l < 32; l++ {
				v := int32(q[l]>>shift&0xf) | int32(qh[l]>>j&1)<<4
				isum += v * int32(yy[l])
			}
			sums += int32(sc) * isum
			msum += int32(m) * (int32(bsum[2*j]) + int32(bsum[2*j+1]))
		}
		acc += float32(fp16ToF32(le16(blk))*ds[b]*float32(sums)) - float32(fp16ToF32(le16(blk[2:]))*ds[b]*float32(msum))
	}
	return acc
}

func dotQ6_KRow(w []byte, a *acts, i int) float32 {
	nb := a.cols / 256
	qs, ds := a.qs[i*a.cols:], a.d[i*nb:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*210 : b*210+210]
		y := qs[b*256 : b*256+256]
		var sums int32
		for n := 0; n < 2; n++ {
			ql, qh, sc := blk[64*n:64*n+64], blk[128+32*n:128+32*n+32], blk[192+8*n:192+8*n+8]
			yy := y[128*n : 128*n+128]
			var g [8]int32 // sums per 16-element group, indexed like sc
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int32(ql[l]&0xf|(qh[l]&3)<<4) - 32
				q2 := int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				g[is] += q1 * int32(yy[l])
				g[is+2] += q2 * int32(yy[l+32])
				g[is+4] += q3 * int32(yy[l+64])
				g[is+6] += q4 * int32(yy[l+96])
			}
			for k := 0; k < 8; k++ {
				sums += int32(int8(sc[k])) * g[k]
			}
		}
		acc += float32(fp16ToF32(le16(blk[208:])) * ds[b] * float32(sums))
	}
	return acc
}
