package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

func init() {
	// The AVX2 kernels use F16C for the fp16 block scales; the VNNI ones
	// also need AVX-512 VL for 256-bit VPDPBUSD and embedded broadcasts.
	avx2 := cpu.X86.HasAVX2 && cpu.X86.HasF16C
	kernelSets = []kernelSet{
		{"avx2", avx2, map[ggml.Type]rowKernel{ggml.Q8_0: q8_0AVX2, ggml.Q4_0: q4_0AVX2}},
		{"avx512vnni", avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512VNNI,
			map[ggml.Type]rowKernel{ggml.Q8_0: q8_0VNNI, ggml.Q4_0: q4_0VNNI}},
	}
	useBestKernels()
}

//go:noescape
func dotQ8_0VNNI(w *byte, y *int8, d *float32, neg *int32, nb int) float32

//go:noescape
func dotQ4_0VNNI(w *byte, y *int8, d *float32, neg *int32, nb int) float32

//go:noescape
func dotQ8_0x4VNNI(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)

//go:noescape
func dotQ4_0x4VNNI(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)

type negKernel struct {
	blockBytes int
	one        func(w *byte, y *int8, d *float32, neg *int32, nb int) float32
	four       func(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)
}

func (k *negKernel) run(w []byte, a *acts, i0, m int, out *[4]float32) {
	nb := a.cols / 32
	_ = w[nb*k.blockBytes-1]
	_ = a.qs[(i0+m)*a.cols-1]
	_ = a.neg[(i0+m)*nb*8-1]
	_ = a.d[(i0+m)*nb-1]
	if m == 4 {
		k.four(&w[0], &a.qs[i0*a.cols], &a.d[i0*nb], &a.neg[i0*nb*8], nb, a.cols, nb*4, out)
		return
	}
	for j := 0; j < m; j++ {
		i := i0 + j
		out[j] = k.one(&w[0], &a.qs[i*a.cols], &a.d[i*nb], &a.neg[i*nb*8], nb)
	}
}

var (
	q8_0VNNI = (&negKernel{34, dotQ8_0VNNI, dotQ8_0x4VNNI}).run
	q4_0VNNI = (&negKernel{18, dotQ4_0VNNI, dotQ4_0x4VNNI}).run
)

//go:noescape
func dotQ8_0AVX2(w *byte, y *int8, d *float32, nb int) float32

//go:noescape
func dotQ8_0x4AVX2(w *byte, y *int8, d *float32, nb, ystride, dstride int, out *[4]float32)

//go:noescape
func dotQ4_0AVX2(w *byte, y *int8, d *float32, neg *int32, nb int) float32

//go:noescape
func dotQ4_0x4AVX2(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)

func q8_0AVX2(w []byte, a *acts, i0, m int, out *[4]float32) {
	nb := a.cols / 32
	_ = w[nb*34-1]
	if m == 4 {
		_ = a.qs[(i0+4)*a.cols-1]
		dotQ8_0x4AVX2(&w[0], &a.qs[i0*a.cols], &a.d[i0*nb], nb, a.cols, nb*4, out)
		return
	}
	for j := 0; j < m; j++ {
		i := i0 + j
		_ = a.qs[(i+1)*a.cols-1]
		out[j] = dotQ8_0AVX2(&w[0], &a.qs[i*a.cols], &a.d[i*nb], nb)
	}
}

func q4_0AVX2(w []byte, a *acts, i0, m int, out *[4]float32) {
	nb := a.cols / 32
	_ = w[nb*18-1]
	if m == 4 {
		_ = a.qs[(i0+4)*a.cols-1]
		_ = a.neg[(i0+4)*nb*8-1]
		dotQ4_0x4AVX2(&w[0], &a.qs[i0*a.cols], &a.d[i0*nb], &a.neg[i0*nb*8], nb, a.cols, nb*4, out)
		return
	}
	for j := 0; j < m; j++ {
		i := i0 + j
		_ = a.qs[(i+1)*a.cols-1]
		out[j] = dotQ4_0AVX2(&w[0], &a.qs[i*a.cols], &a.d[i*nb], &a.neg[i*nb*8], nb)
	}
}
