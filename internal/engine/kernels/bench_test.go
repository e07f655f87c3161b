package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// The benchmarks report weight bytes per second (b.SetBytes). Each one
// rotates through enough copies of its matrix to exceed the CPU caches
// (benchWorkingSet bytes), so memory bandwidth is measured, not cache
// bandwidth; BenchmarkCopy is the baseline: a plain copy (and a parallel
// one over the MatMul pool) of buffers of the same size.
const benchWorkingSet = 128 << 20

var benchShapes = []struct{ rows, cols int }{{2048, 2048}, {8192, 2048}}

func benchMatrices(b *testing.B, t ggml.Type, rows, cols int) []*Matrix {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, rows*cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	data, err := Quantize(t, x)
	if err != nil {
		b.Fatal(err)
	}
	copies := max(1, benchWorkingSet/len(data))
	ms := make([]*Matrix, copies)
	for i := range ms {
		d := data
		if i > 0 {
			d = append([]byte(nil), data...)
		}
		ms[i] = &Matrix{Type: t, Rows: rows, Cols: cols, Data: d}
	}
	return ms
}

// reportCPU reports the CPU time per op since c0 (all threads) and the
// bytes per CPU second: on a machine shared with other work, these measure
// the kernels' cost better than the wall time does.
func reportCPU(b *testing.B, c0 int64, bytes int) {
	ns := cpuTime() - c0
	if ns <= 0 {
		return
	}
	b.ReportMetric(float64(ns)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(bytes)*float64(b.N)/float64(ns)*1e3, "cpu-MB/s")
}

func BenchmarkMatMul(b *testing.B) {
	for _, t := range []ggml.Type{ggml.Q8_0, ggml.Q4_0} {
		for _, s := range benchShapes {
			ms := benchMatrices(b, t, s.rows, s.cols)
			for _, n := range []int{1, 128} {
				b.Run(fmt.Sprintf("%v/%dx%d/n=%d", t, s.rows, s.cols, n), func(b *testing.B) {
					x := make([]float32, n*s.cols)
					for i := range x {
						x[i] = float32(i%7) - 3
					}
					out := make([]float32, n*s.rows)
					b.SetBytes(int64(len(ms[0].Data)))
					b.ResetTimer()
					c0 := cpuTime()
					for i := 0; i < b.N; i++ {
						MatMul(out, ms[i%len(ms)], x, n)
					}
					reportCPU(b, c0, len(ms[0].Data))
				})
			}
		}
	}
}

func BenchmarkCopy(b *testing.B) {
	for _, s := range benchShapes {
		for _, t := range []ggml.Type{ggml.Q8_0, ggml.Q4_0} {
			size, _ := t.RowSize(s.rows * s.cols)
			copies := max(1, benchWorkingSet/size)
			src := make([][]byte, copies)
			for i := range src {
				src[i] = make([]byte, size)
				for j := range src[i] {
					src[i][j] = byte(j)
				}
			}
			dst := make([]byte, size)
			b.Run(fmt.Sprintf("%v/%dx%d", t, s.rows, s.cols), func(b *testing.B) {
				b.SetBytes(int64(size))
				for i := 0; i < b.N; i++ {
					copy(dst, src[i%copies])
				}
			})
			b.Run(fmt.Sprintf("%v/%dx%d/parallel", t, s.rows, s.cols), func(b *testing.B) {
				b.SetBytes(int64(size))
				const chunk = 64 << 10
				for i := 0; i < b.N; i++ {
					s := src[i%copies]
					parallel((size+chunk-1)/chunk, funcTask(func(c int) {
						lo, hi := c*chunk, min(size, (c+1)*chunk)
						copy(dst[lo:hi], s[lo:hi])
					}))
				}
			})
		}
	}
}

// BenchmarkParallel measures the cost of handing work to the pool: one
// call of parallel with a trivial piece per thread.
func BenchmarkParallel(b *testing.B) {
	var sink [2][16]int64
	t := funcTask(func(c int) { sink[c%2][0]++ })
	for i := 0; i < b.N; i++ {
		parallel(2, t)
	}
}
