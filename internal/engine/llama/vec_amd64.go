package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly vector routines (AVX2, FMA and F16C).
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

//go:noescape
func dotF32AVX2(a, b *float32, n int) float32

//go:noescape
func axpyF32AVX2(alpha float32, x, y *float32, n int)

//go:noescape
func f16ToF32F16C(dst *float32, src *uint16, n int)

func dotAsm(a, b []float32) (float32, int) {
	n := len(a) &^ 7
	if !useAVX2 || n == 0 {
		return 0, 0
	}
	_ = b[n-1]
	return dotF32AVX2(&a[0], &b[0], n), n
}

func axpyAsm(alpha float32, x, y []float32) int {
	n := len(y) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	_ = x[n-1]
	axpyF32AVX2(alpha, &x[0], &y[0], n)
	return n
}

func f16ToF32Asm(dst []float32, src []uint16) int {
	n := len(dst) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	_ = src[n-1]
	f16ToF32F16C(&dst[0], &src[0], n)
	return n
}

//go:noescape
func scoresF32AVX2(q, k *float32, stride, n, d int, scale float32, out *float32)

//go:noescape
func scoresF16AVX2(q *float32, k *uint16, stride, n, d int, scale float32, out *float32)

//go:noescape
func wsumF32AVX2(p, v *float32, stride, n, d int, out *float32)

//go:noescape
func wsumF16AVX2(p *float32, v *uint16, stride, n, d int, out *float32)

// The attention kernels below take a cache slice starting at row 0 of the
// head, rows stride elements apart; they report false when the assembly
// cannot be used (the caller then runs the Go loops).

func scoresF32Asm(q, k []float32, stride, n int, scale float32, out []float32) bool {
	d := len(q)
	if !useAVX2 || d%8 != 0 || n == 0 {
		return false
	}
	_ = k[(n-1)*stride+d-1]
	_ = out[n-1]
	scoresF32AVX2(&q[0], &k[0], stride*4, n, d, scale, &out[0])
	return true
}

func scoresF16Asm(q []float32, k []uint16, stride, n int, scale float32, out []float32) bool {
	d := len(q)
	if !useAVX2 || d%8 != 0 || n == 0 {
		return false
	}
	_ = k[(n-1)*stride+d-1]
	_ = out[n-1]
	scoresF16AVX2(&q[0], &k[0], stride*2, n, d, scale, &out[0])
	return true
}

func wsumF32Asm(p, v []float32, stride int, out []float32) bool {
	d, n := len(out), len(p)
	if !useAVX2 || d%8 != 0 || n == 0 {
		return false
	}
	_ = v[(n-1)*stride+d-1]
	wsumF32AVX2(&p[0], &v[0], stride*4, n, d, &out[0])
	return true
}

func wsumF16Asm(p []float32, v []uint16, stride int, out []float32) bool {
	d, n := len(out), len(p)
	if !useAVX2 || d%8 != 0 || n == 0 {
		return false
	}
	_ = v[(n-1)*stride+d-1]
	wsumF16AVX2(&p[0], &v[0], stride*2, n, d, &out[0])
	return true
}

//go:noescape
func expSumAVX2(x *float32, n int, m float32) float32

// expSumAsm sets x[i] = exp(x[i]-m) for a prefix of x (results below
// exp(-87) are rounded up to it) and returns the prefix length and sum.
func expSumAsm(x []float32, m float32) (int, float32) {
	n := len(x) &^ 7
	if !useAVX2 || n == 0 {
		return 0, 0
	}
	return n, expSumAVX2(&x[0], n, m)
}

//go:noescape
func swigluAVX2(gate, up *float32, n int)

// swigluAsm applies swiglu to a prefix of gate and returns its length.
func swigluAsm(gate, up []float32) int {
	n := len(gate) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	_ = up[n-1]
	swigluAVX2(&gate[0], &up[0], n)
	return n
}

//go:noescape
func f32ToF16F16C(dst *uint16, src *float32, n int)

func f32ToF16Asm(dst []uint16, src []float32) int {
	n := len(dst) &^ 7
	if !useAVX2 || n == 0 {
		return 0
	}
	_ = src[n-1]
	f32ToF16F16C(&dst[0], &src[0], n)
	return n
}
