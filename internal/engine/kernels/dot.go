package kernels

import (
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// A rowKernel computes, for one weight row w and the m (1..4) activation
// rows i0..i0+m-1 of a, out[j] = dot(w, activation row i0+j).
type rowKernel func(w []byte, a *acts, i0, m int, out *[4]float32)

// genericKernels are the pure-Go dot products for every supported type.
var genericKernels = map[ggml.Type]rowKernel{
	ggml.F32:  eachRow(dotF32Row),
	ggml.F16:  eachRow(dotF16Row),
	ggml.BF16: eachRow(dotBF16Row),
	ggml.Q4_0: eachRow(dotQ4_0Generic),
	ggml.Q4_1: eachRow(dotQ4_1Row),
	ggml.Q5_0: eachRow(dotQ5_0Row),
	ggml.Q5_1: eachRow(dotQ5_1Row),
	ggml.Q8_0: eachRow(dotQ8_0Generic),
	ggml.Q4_K: eachRow(dotQ4_KRow),
	ggml.Q5_K: eachRow(dotQ5_KRow),
	ggml.Q6_K: eachRow(dotQ6_KRow),
}

func eachRow(f func(w []byte, a *acts, i int) float32) rowKernel {
	return func(w []byte, a *acts, i0, m int, out *[4]float32) {
		for j := 0; j < m; j++ {
			out[j] = f(w, a, i0+j)
		}
	}
}

func dotF32Row(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.cols : (i+1)*a.cols]
	var s float32
	for k, v := range x {
		s += math.Float32frombits(le32(w[4*k:])) * v
	}
	return s
}

func dotF16Row(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.cols : (i+1)*a.cols]
	var s float32
	for k, v := range x {
		s += fp16ToF32(le16(w[2*k:])) * v
	}
	return s
}

func dotBF16Row(w []byte, a *acts, i int) float32 {
	x := a.f[i*a.cols : (i+1)*a.cols]
	var s float32
	for k, v := range x {
		s += bf16ToF32(le16(w[2*k:])) * v
	}
	return s
}

// hsum8 adds eight lane accumulators in the order the SIMD kernels do:
// fold the high four lanes onto the low four, then two onto two, then one
// onto one.
func hsum8(acc *[8]float32) float32 {
	t0, t1, t2, t3 := acc[0]+acc[4], acc[1]+acc[5], acc[2]+acc[6], acc[3]+acc[7]
	return (t0 + t2) + (t1 + t3)
}

// dotQ8_0Generic is the reference for the SIMD Q8_0 kernels, which it
// matches bit for bit: per block, eight lanes each get the exact integer
// dot product of four weights and four activations, scaled by the product
// of the block scales and added to a per-lane float accumulator.
func dotQ8_0Generic(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	qs, ds := a.qs[i*a.cols:], a.d[i*nb:]
	var acc [8]float32
	for b := 0; b < nb; b++ {
		blk := w[b*34 : b*34+34]
		s := fp16ToF32(le16(blk)) * ds[b]
		q, y := blk[2:34], qs[b*32:b*32+32]
		for k := 0; k < 8; k++ {
			sum := int32(int8(q[4*k]))*int32(y[4*k]) + int32(int8(q[4*k+1]))*int32(y[4*k+1]) +
				int32(int8(q[4*k+2]))*int32(y[4*k+2]) + int32(int8(q[4*k+3]))*int32(y[4*k+3])
			acc[k] += float32(s * float32(sum))
		}
	}
	return hsum8(&acc)
}

// dotQ4_0Generic is the reference for the SIMD Q4_0 kernels, with the same
// lane structure as dotQ8_0Generic (lane k covers elements 4k..4k+3).
func dotQ4_0Generic(w []byte, a *acts, i int) float32 {
	nb := a.cols / 32
	qs, ds := a.qs[i*a.cols:], a.d[i*nb:]
	var acc [8]float32
	var q [32]int32
	for b := 0; b < nb; b++ {
		blk := w[b*18 : b*18+18]
		s := fp16ToF32(le16(blk)) * ds[b]
		for j := 0; j < 16; j++ {
			q[j] = int32(blk[2+j]&0xf) - 8
			q[j+16] = int32(blk[2+j]>>4) - 8
		}
		y := qs[b*32 : b*32+32]
		for k := 0; k < 8; k++ {
			sum := q[4*k]*int32(y[4*k]) + q[4*k+1]*int32(y[4*k+1]) +
				q[4*k+2]*int32(y[4*k+2]) + q[4*k+3]*int32(y[4*k+3])
			acc[k] += float32(s * float32(sum))
		}
	}
	return hsum8(&acc)
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
	nb := a.cols / 32
	qs, ds := a.qs[i*a.cols:], a.d[i*nb:]
	var acc float32
	for b := 0; b < nb; b++ {
		blk := w[b*22 : b*22+22]
		qh := le32(blk[2:])
		y := qs[b*32 : b*32+32]
		var sum int32
		for j := 0; j < 16; j++ {
			q0 := int32(uint32(blk[6+j]&0xf)|(qh>>j<<4)&0x10) - 16
			q1 := int32(uint32(blk[6+j]>>4)|(qh>>(j+12))&0x10) - 16
			sum += q0*int32(y[j]) + q1*int32(y[j+16])
		}
		acc += fp16ToF32(le16(blk)) * ds[b] * float32(sum)
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
		acc += fp16ToF32(le16(blk))*ds[b]*float32(sums) - fp16ToF32(le16(blk[2:]))*ds[b]*float32(msum)
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
		acc += fp16ToF32(le16(blk))*ds[b]*float32(sums) - fp16ToF32(le16(blk[2:]))*ds[b]*float32(msum)
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
		acc += fp16ToF32(le16(blk[208:])) * ds[b] * float32(sums)
	}
	return acc
}
