package llama

import (
	"math"

	"github.com/silo-ai/silo/internal/engine/kernels"
)

// rmsNorm writes x / rms(x) * w to out (out may alias x).
func rmsNorm(out, x, w []float32, eps float32) {
	var ss float32
	for _, v := range x {
		ss += v * v
	}
	scale := float32(1 / math.Sqrt(float64(ss/float32(len(x))+eps)))
	w = w[:len(x)]
	out = out[:len(x)]
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// expf is exp for float32 arguments, accurate to about 2 ulp: range reduction
// by ln 2 and a degree-6 polynomial (Cephes expf). It is several times faster
// than math.Exp, which matters for SiLU and softmax over long rows.
func expf(x float32) float32 {
	const (
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
		log2e = 1.44269504088896341
	)
	if x > 88.3762626647949 {
		return float32(math.Inf(1))
	}
	if x < -103.972084045410 {
		return 0
	}
	k := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - k*ln2hi - k*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	y := p*r*r + r + 1
	// scale by 2^k, in two steps so that k down to -149 stays exact.
	ki := int32(k)
	if ki > 127 {
		y *= 2
		ki = 127
	}
	if ki < -126 {
		y *= math.Float32frombits(uint32(ki+126+127) << 23)
		ki = -126
	}
	return y * math.Float32frombits(uint32(ki+127)<<23)
}

// swiglu writes silu(gate) * up into gate.
func swiglu(gate, up []float32) {
	up = up[:len(gate)]
	i := swigluAsm(gate, up)
	for ; i < len(gate); i++ {
		g := gate[i]
		gate[i] = g / (1 + expf(-g)) * up[i]
	}
}

// softmaxInPlace normalises x to probabilities.
func softmaxInPlace(x []float32) {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	i, sum := expSumAsm(x, m)
	for ; i < len(x); i++ {
		e := expf(x[i] - m)
		x[i] = e
		sum += e
	}
	inv := 1 / sum
	for i := range x {
		x[i] *= inv
	}
}

// dot returns the dot product of a and b (len(b) >= len(a)), with SIMD
// where the CPU has it.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	s, i := dotAsm(a, b)
	return s + dotGo(a[i:], b[i:])
}

func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy does y += a*x.
func axpy(a float32, x, y []float32) {
	x = x[:len(y)]
	i := axpyAsm(a, x, y)
	axpyGo(a, x[i:], y[i:])
}

func axpyGo(a float32, x, y []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// parallelFor runs f(i) for i in [0, n) on the kernels' thread pool.
func parallelFor(n int, f func(i int)) {
	kernels.ParallelFor(n, n, func(_, i int) { f(i) })
}

// f16 conversion for the F16 KV cache.

// f32ToF16s converts src to dst (len(src) >= len(dst)).
func f32ToF16s(dst []uint16, src []float32) {
	src = src[:len(dst)]
	i := f32ToF16Asm(dst, src)
	for ; i < len(dst); i++ {
		dst[i] = f32ToF16(src[i])
	}
}

// f16ToF32s converts src to dst (len(src) >= len(dst)).
func f16ToF32s(dst []float32, src []uint16) {
	src = src[:len(dst)]
	i := f16ToF32Asm(dst, src)
	for ; i < len(dst); i++ {
		dst[i] = f16Table[src[i]]
	}
}

var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToF32(uint16(i))
	}
	return &t
}()

func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		e := uint32(127 - 15 + 1)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// f32ToF16 rounds to nearest even, as ggml's GGML_FP32_TO_FP16 does.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		if e < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}

// parallelForWorker is parallelFor that also passes a worker index in
// [0, workers) to f, for per-worker scratch memory.
func parallelForWorker(workers, n int, f func(worker, i int)) {
	kernels.ParallelFor(n, workers, f)
}
