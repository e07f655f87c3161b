package kernels

import (
	"fmt"
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// Quantize converts src to type t with ggml's reference quantizer for t
// (quantize_row_*_ref in ggml-quants.c), producing ggml's block layout.
// len(src) must be a multiple of t's block size. Every type DequantizeRow
// supports can be produced: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
// Q4_K, Q5_K and Q6_K.
func Quantize(t ggml.Type, src []float32) ([]byte, error) {
	if !t.Supported() {
		return nil, fmt.Errorf("kernels: quantize: unsupported type %v", t)
	}
	size, err := t.RowSize(len(src))
	if err != nil {
		return nil, fmt.Errorf("kernels: quantize: %w", err)
	}
	out := make([]byte, size)
	switch t {
	case ggml.F32:
		for i, v := range src {
			put32(out[4*i:], math.Float32bits(v))
		}
		return out, nil
	case ggml.F16:
		for i, v := range src {
			put16(out[2*i:], f32ToFP16(v))
		}
		return out, nil
	case ggml.BF16:
		for i, v := range src {
			put16(out[2*i:], f32ToBF16(v))
		}
		return out, nil
	}
	f := quantizers[t]
	bs, ts := t.BlockSize(), t.TypeSize()
	for b := 0; b < len(src)/bs; b++ {
		f(src[b*bs:(b+1)*bs], out[b*ts:(b+1)*ts])
	}
	return out, nil
}

var quantizers = map[ggml.Type]func(x []float32, b []byte){
	ggml.Q4_0: quantQ4_0,
	ggml.Q4_1: quantQ4_1,
	ggml.Q5_0: quantQ5_0,
	ggml.Q5_1: quantQ5_1,
	ggml.Q8_0: quantQ8_0,
	ggml.Q4_K: quantQ4_K,
	ggml.Q5_K: quantQ5_K,
	ggml.Q6_K: quantQ6_K,
}

func put16(p []byte, v uint16) { p[0], p[1] = byte(v), byte(v>>8) }
func put32(p []byte, v uint32) {
	p[0], p[1], p[2], p[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// absMax returns the element of largest magnitude (first one on ties) and
// that magnitude.
func absMax(x []float32) (mx, amax float32) {
	for _, v := range x {
		if a := float32(math.Abs(float64(v))); a > amax {
			amax, mx = a, v
		}
	}
	return mx, amax
}

func minMax(x []float32) (lo, hi float32) {
	lo, hi = float32(math.MaxFloat32), -float32(math.MaxFloat32)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

func inv(d float32) float32 {
	if d == 0 {
		return 0
	}
	return 1 / d
}

func quantQ4_0(x []float32, b []byte) {
	mx, _ := absMax(x)
	d := mx / -8
	id := inv(d)
	put16(b, f32ToFP16(d))
	for j := 0; j < 16; j++ {
		x0 := min(15, int(x[j]*id+8.5))
		x1 := min(15, int(x[j+16]*id+8.5))
		b[2+j] = byte(x0) | byte(x1)<<4
	}
}

func quantQ4_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	id := inv(d)
	put16(b, f32ToFP16(d))
	put16(b[2:], f32ToFP16(lo))
	for j := 0; j < 16; j++ {
		x0 := min(15, int((x[j]-lo)*id+0.5))
		x1 := min(15, int((x[j+16]-lo)*id+0.5))
		b[4+j] = byte(x0) | byte(x1)<<4
	}
}

func quantQ5_0(x []float32, b []byte) {
	mx, _ := absMax(x)
	d := mx / -16
	id := inv(d)
	put16(b, f32ToFP16(d))
	var qh uint32
	for j := 0; j < 16; j++ {
		x0 := min(31, int(x[j]*id+16.5))
		x1 := min(31, int(x[j+16]*id+16.5))
		b[6+j] = byte(x0&0xf) | byte(x1&0xf)<<4
		qh |= uint32(x0>>4&1) << j
		qh |= uint32(x1>>4&1) << (j + 16)
	}
	put32(b[2:], qh)
}

func quantQ5_1(x []float32, b []byte) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	id := inv(d)
	put16(b, f32ToFP16(d))
	put16(b[2:], f32ToFP16(lo))
	var qh uint32
	for j := 0; j < 16; j++ {
		x0 := int((x[j]-lo)*id + 0.5)
		x1 := int((x[j+16]-lo)*id + 0.5)
		b[8+j] = byte(x0&0xf) | byte(x1&0xf)<<4
		qh |= uint32(x0>>4&1) << j
		qh |= uint32(x1>>4&1) << (j + 16)
	}
	put32(b[4:], qh)
}

func quantQ8_0(x []float32, b []byte) {
	_, amax := absMax(x)
	d := amax / 127
	id := inv(d)
	put16(b, f32ToFP16(d))
	for j := 0; j < 32; j++ {
		b[2+j] = byte(int8(math.Round(float64(x[j] * id))))
	}
}

// makeQKX2Quants is ggml's make_qkx2_quants: it fits x ≈ scale*L - min
// with L in [0, nmax], searching nstep+1 candidate scales, and returns
// scale and min (positive when the fitted offset is negative).
func makeQKX2Quants(nmax int, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int) (float32, float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		lo, hi = min(lo, x[i]), max(hi, x[i])
		w := weights[i]
		sumW += w
		sumX += w * x[i]
	}
	if lo > 0 {
		lo = 0
	}
	if hi == lo {
		for i := range L[:n] {
			L[i] = 0
		}
		return 0, -lo
	}
	iscale := float32(nmax) / (hi - lo)
	scale := 1 / iscale
	var bestErr float32
	for i := 0; i < n; i++ {
		l := max(0, min(nmax, nearestInt(iscale*(x[i]-lo))))
		L[i] = uint8(l)
		diff := scale*float32(L[i]) + lo - x[i]
		bestErr += weights[i] * (diff * diff)
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := max(0, min(nmax, nearestInt(iscale*(x[i]-lo))))
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += w * fl
			sumL2 += w * fl * fl
			sumXL += w * fl * x[i]
		}
		D := sumW*sumL2 - sumL*sumL
		if D > 0 {
			thisScale := (sumW*sumXL - sumX*sumL) / D
			thisMin := (sumL2*sumX - sumL*sumXL) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i := 0; i < n; i++ {
				diff := thisScale*float32(Laux[i]) + thisMin - x[i]
				curErr += weights[i] * (diff * diff)
			}
			if curErr < bestErr {
				copy(L[:n], Laux[:n])
				bestErr, scale, lo = curErr, thisScale, thisMin
			}
		}
	}
	return scale, -lo
}

// quantKScaleMin is the shared part of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: fit each 32-element sub-block, pack the 6-bit
// scales and mins into b[4:16] with d and dmin in b[0:4], and return the
// final quants L in [0, nmax].
func quantKScaleMin(x []float32, b []byte, nmax int, rmin, rdelta float32, nstep int) [256]uint8 {
	var L [256]uint8
	var Laux [32]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += v * v
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + float32(math.Abs(float64(v)))
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], Laux[:], rmin, rdelta, nstep)
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	clear(sc)
	for j := 0; j < 8; j++ {
		ls := uint8(min(63, uint8(nearestInt(invScale*scales[j]))))
		lm := uint8(min(63, uint8(nearestInt(invMin*mins[j]))))
		if j < 4 {
			sc[j] = ls
			sc[j+4] = lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	put16(b, f32ToFP16(maxScale/63))
	put16(b[2:], f32ToFP16(maxMin/63))
	d, dmin := fp16ToF32(le16(b)), fp16ToF32(le16(b[2:]))
	for j := 0; j < 8; j++ {
		s, m := scaleMinK4(j, sc)
		dd := d * float32(s)
		if dd == 0 {
			continue
		}
		dm := dmin * float32(m)
		for i := 0; i < 32; i++ {
			L[32*j+i] = uint8(max(0, min(nmax, nearestInt((x[32*j+i]+dm)/dd))))
		}
	}
	return L
}

func quantQ4_K(x []float32, b []byte) {
	L := quantKScaleMin(x, b, 15, -1, 0.1, 20)
	q := b[16:144]
	for j := 0; j < 4; j++ {
		for l := 0; l < 32; l++ {
			q[32*j+l] = L[64*j+l] | L[64*j+l+32]<<4
		}
	}
}

func quantQ5_K(x []float32, b []byte) {
	L := quantKScaleMin(x, b, 31, -0.5, 0.1, 15)
	qh, ql := b[16:48], b[48:176]
	clear(qh)
	for j := 0; j < 4; j++ {
		m1, m2 := byte(1)<<(2*j), byte(2)<<(2*j)
		for l := 0; l < 32; l++ {
			l1, l2 := L[64*j+l], L[64*j+l+32]
			if l1 > 15 {
				l1 -= 16
				qh[l] |= m1
			}
			if l2 > 15 {
				l2 -= 16
				qh[l] |= m2
			}
			ql[32*j+l] = l1 | l2<<4
		}
	}
}

const groupMaxEps = 1e-15

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 and no importance
// weights: it fits x ≈ scale*(L-nmax) with L-nmax in [-nmax, nmax-1].
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	mx, amax := absMax(x)
	if amax < groupMaxEps {
		for i := range L {
			L[i] = 0
		}
		return 0
	}
	fit := func(iscale float32) (sumLX, sumL2 float32) {
		for _, v := range x {
			l := float32(max(-nmax, min(nmax-1, nearestInt(iscale*v))))
			w := v * v
			sumLX += w * v * l
			sumL2 += w * l * l
		}
		return
	}
	set := func(iscale float32) {
		for i, v := range x {
			L[i] = int8(nmax + max(-nmax, min(nmax-1, nearestInt(iscale*v))))
		}
	}
	iscale := -float32(nmax) / mx
	set(iscale)
	sumLX, sumL2 := fit(iscale)
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + 0.1*float32(is)) / mx
		sumLX, sumL2 = fit(iscale)
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			set(iscale)
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

func quantQ6_K(x []float32, b []byte) {
	var L [256]int8
	var scales [16]float32
	var maxScale, maxAbs float32
	for ib := 0; ib < 16; ib++ {
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := float32(math.Abs(float64(s))); a > maxAbs {
			maxAbs, maxScale = a, s
		}
	}
	clear(b)
	if maxAbs < groupMaxEps {
		return
	}
	iscale := -128 / maxScale
	put16(b[208:], f32ToFP16(1/iscale))
	sc := b[192:208]
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d := fp16ToF32(le16(b[208:]))
	for j := 0; j < 16; j++ {
		dd := d * float32(int8(sc[j]))
		if dd == 0 {
			continue
		}
		for i := 0; i < 16; i++ {
			l := max(-32, min(31, nearestInt(x[16*j+i]/dd)))
			L[16*j+i] = int8(l + 32)
		}
	}
	for n := 0; n < 2; n++ {
		ql, qh := b[64*n:64*n+64], b[128+32*n:128+32*n+32]
		Ln := L[128*n:]
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(Ln[l]), uint8(Ln[l+32]), uint8(Ln[l+64]), uint8(Ln[l+96])
			ql[l] = q1&0xf | (q3&0xf)<<4
			ql[l+32] = q2&0xf | (q4&0xf)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
