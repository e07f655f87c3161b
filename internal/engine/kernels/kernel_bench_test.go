package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// BenchmarkKernel measures each kernel set on one thread with a 256x2048
// matrix that stays in cache: the compute cost of the dot products, apart
// from memory bandwidth. Bytes are weight bytes times activation rows.
func BenchmarkKernel(b *testing.B) {
	defer useBestKernels()
	defer SetThreads(SetThreads(1))
	sets := append([]kernelSet{{name: "generic", supported: true, rows: genericKernels}}, kernelSets...)
	r := rand.New(rand.NewPCG(1, 1))
	for _, t := range []ggml.Type{ggml.Q8_0, ggml.Q4_0, ggml.Q4_K, ggml.Q5_K, ggml.Q6_K, ggml.Q5_0, ggml.F16, ggml.BF16, ggml.F32} {
		const rows, cols = 256, 2048
		data, _ := Quantize(t, gaussian(r, rows*cols))
		w := &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}
		for _, set := range sets {
			if _, ok := set.rows[t]; !set.supported || !ok {
				continue
			}
			for _, n := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("%v/%s/n=%d", t, set.name, n), func(b *testing.B) {
					simd = set
					x := gaussian(r, n*cols)
					out := make([]float32, n*rows)
					b.SetBytes(int64(len(data) * n))
					c0 := cpuTime()
					for i := 0; i < b.N; i++ {
						MatMul(out, w, x, n)
					}
					reportCPU(b, c0, len(data)*n)
				})
			}
		}
	}
}

// BenchmarkQuantQ8 measures the activation quantization of one 2048-wide
// row (as in decoding), per kernel set.
func BenchmarkQuantQ8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const cols = 2048
	x := gaussian(r, cols)
	q, d, s := make([]int8, cols), make([]float32, cols/32), make([]int32, cols/32)
	sets := append([]kernelSet{{name: "generic", supported: true, quant: quantQ8BlocksGeneric}}, kernelSets...)
	for _, set := range sets {
		if !set.supported || set.quant == nil {
			continue
		}
		b.Run(set.name, func(b *testing.B) {
			b.SetBytes(cols * 4)
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				set.quant(x, q, d, s)
			}
			reportCPU(b, c0, cols*4)
		})
	}
}

// BenchmarkQuantQ8K measures the Q8_K activation quantization (K-quant
// weights) of one 2048-wide row, per kernel set.
func BenchmarkQuantQ8K(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const cols = 2048
	x := gaussian(r, cols)
	q, s, d := make([]int8, cols), make([]int16, cols/16), make([]float32, cols/256)
	sets := append([]kernelSet{{name: "generic", supported: true, quantK: quantQ8KBlocksGeneric}}, kernelSets...)
	for _, set := range sets {
		if !set.supported || set.quantK == nil {
			continue
		}
		b.Run(set.name, func(b *testing.B) {
			b.SetBytes(cols * 4)
			c0 := cpuTime()
			for i := 0; i < b.N; i++ {
				set.quantK(x, q, s, d)
			}
			reportCPU(b, c0, cols*4)
		})
	}
}
