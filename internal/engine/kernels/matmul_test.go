package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// randMatrix returns a rows x cols matrix of type t from Gaussian weights,
// and the weights as dequantized (what the kernels actually multiply).
func randMatrix(t *testing.T, r *rand.Rand, typ ggml.Type, rows, cols int) (*Matrix, []float32) {
	t.Helper()
	data, err := Quantize(typ, gaussian(r, rows*cols))
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	deq := make([]float32, rows*cols)
	if err := DequantizeRow(typ, data, deq); err != nil {
		t.Fatal(err)
	}
	return m, deq
}

// TestMatMulAccuracy compares MatMul with a float64 product of the
// dequantized weights and the exact activations. The bound is what 8-bit
// activation quantization can cost: each activation moves by at most half
// a step (amax/254 of its block), so the error is at most
// sum |w| * amax/254, plus float32 rounding.
func TestMatMulAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const rows, cols = 37, 512
	for _, q := range quantTypes {
		t.Run(q.t.String(), func(t *testing.T) {
			w, deq := randMatrix(t, r, q.t, rows, cols)
			for _, n := range []int{1, 3, 9} {
				x := gaussian(r, n*cols)
				out := make([]float32, n*rows)
				MatMul(out, w, x, n)
				block := 32
				if q.t.BlockSize() == 256 {
					block = 256
				}
				for i := 0; i < n; i++ {
					xi := x[i*cols : (i+1)*cols]
					for row := 0; row < rows; row++ {
						wr := deq[row*cols : (row+1)*cols]
						var ref, bound, mag float64
						for k := range xi {
							ref += float64(wr[k]) * float64(xi[k])
							mag += math.Abs(float64(wr[k]) * float64(xi[k]))
						}
						if q.t.BlockSize() > 1 {
							for b := 0; b < cols; b += block {
								var amax float64
								for _, v := range xi[b : b+block] {
									amax = max(amax, math.Abs(float64(v)))
								}
								for _, v := range wr[b : b+block] {
									bound += math.Abs(float64(v)) * amax / 254
								}
							}
						}
						bound += 1e-5 * mag
						if got := float64(out[i*rows+row]); math.Abs(got-ref) > bound {
							t.Fatalf("n=%d out[%d][%d] = %g, want %g ± %g", n, i, row, got, ref, bound)
						}
					}
				}
			}
		})
	}
}

// TestMatMulConsistent checks that results do not depend on how the work
// is split: one activation row at a time, all at once, one thread or two.
func TestMatMulConsistent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const rows, cols, n = 70, 1280, 11
	defer SetThreads(SetThreads(0))
	for _, q := range quantTypes {
		w, _ := randMatrix(t, r, q.t, rows, cols)
		x := gaussian(r, n*cols)
		SetThreads(2)
		all := make([]float32, n*rows)
		MatMul(all, w, x, n)
		SetThreads(1)
		for i := 0; i < n; i++ {
			one := make([]float32, rows)
			MatMul(one, w, x[i*cols:(i+1)*cols], 1)
			for row := range one {
				if one[row] != all[i*rows+row] {
					t.Fatalf("%v: row %d of input %d: %g alone, %g batched", q.t, row, i, one[row], all[i*rows+row])
				}
			}
		}
	}
}

// TestSIMDMatchesGeneric checks that the assembly kernels and the pure-Go
// ones give bit-identical results on random data, including weights at
// the extremes of their ranges.
func TestSIMDMatchesGeneric(t *testing.T) {
	defer useBestKernels()
	ran := false
	for _, set := range kernelSets {
		if !set.supported {
			t.Logf("%s kernels: not supported by this CPU", set.name)
			continue
		}
		ran = true
		t.Run(set.name, func(t *testing.T) {
			simd = set
			testSIMDMatchesGeneric(t)
		})
	}
	if !ran {
		t.Skip("no SIMD kernels on this CPU")
	}
}

func testSIMDMatchesGeneric(t *testing.T) {
	defer SetGeneric(false)
	r := rand.New(rand.NewPCG(7, 8))
	for typ := range simd.rows {
		// Shapes cover block counts below, at and past multiples of 8 and
		// segBlocks, and batches with and without groups of eight rows.
		for _, shape := range [][3]int{{1, 32, 1}, {5, 64, 1}, {33, 2048, 1}, {9, 256, 4}, {17, 512, 6},
			{3, 1024, 13}, {7, 384, 8}, {5, 4160, 9}, {35, 288, 19}, {2, 2560, 16}, {70, 512, 9}, {70, 1024, 1}, {40, 256, 2}, {11, 640, 29}, {5, 2048, 40}, {37, 2304, 33}, {3, 100, 2}, {4, 1000, 17}} {
			rows, cols, n := shape[0], shape[1], shape[2]
			if cols%typ.BlockSize() != 0 {
				continue
			}
			rs, _ := typ.RowSize(cols)
			data := make([]byte, rows*rs)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			// Keep the block scales finite: random fp16 bit patterns include
			// NaN and infinity.
			fixScales(typ, data, r)
			w, err := NewMatrix(typ, rows, cols, data)
			if err != nil {
				t.Fatal(err)
			}
			x := gaussian(r, n*cols)
			x[0] = 100 // one outlier per input
			simd, gen := make([]float32, n*rows), make([]float32, n*rows)
			SetGeneric(false)
			MatMul(simd, w, x, n)
			SetGeneric(true)
			MatMul(gen, w, x, n)
			for i := range simd {
				if math.Float32bits(simd[i]) != math.Float32bits(gen[i]) {
					t.Fatalf("%v %dx%d n=%d: out[%d] SIMD %g, generic %g", typ, rows, cols, n, i, simd[i], gen[i])
				}
			}
		}
	}
}

// fixScales overwrites the fp16 scales of every block with random finite
// values.
func fixScales(t ggml.Type, data []byte, r *rand.Rand) {
	// Float weights: every element.
	switch t {
	case ggml.F32:
		for b := 0; b+4 <= len(data); b += 4 {
			binary.LittleEndian.PutUint32(data[b:], math.Float32bits(float32(r.NormFloat64())))
		}
		return
	case ggml.F16, ggml.BF16:
		for b := 0; b+2 <= len(data); b += 2 {
			if t == ggml.F16 {
				put16(data[b:], f32ToFP16(float32(r.NormFloat64())))
			} else {
				put16(data[b:], f32ToBF16(float32(r.NormFloat64())))
			}
		}
		return
	}
	ts := t.TypeSize()
	var offs []int
	switch t {
	case ggml.Q8_0, ggml.Q4_0, ggml.Q5_0:
		offs = []int{0}
	case ggml.Q4_1, ggml.Q5_1, ggml.Q4_K, ggml.Q5_K:
		offs = []int{0, 2}
	case ggml.Q6_K:
		offs = []int{208}
	}
	for b := 0; b+ts <= len(data); b += ts {
		for _, o := range offs {
			put16(data[b+o:], f32ToFP16(float32(r.NormFloat64()*0.01)))
		}
	}
}

func TestNewMatrixErrors(t *testing.T) {
	for _, c := range []struct {
		t          ggml.Type
		rows, cols int
		size       int
	}{
		{ggml.Q8_0, 2, 32, 67},
		{ggml.Q8_0, 2, 31, 62},
		{ggml.Q2_K, 1, 256, 84},
		{ggml.F32, -1, 4, 0},
		{ggml.F32, 1, 0, 0},
	} {
		if _, err := NewMatrix(c.t, c.rows, c.cols, make([]byte, c.size)); err == nil {
			t.Errorf("NewMatrix(%v, %d, %d, %d bytes) succeeded", c.t, c.rows, c.cols, c.size)
		}
	}
}

func TestMatMulPanicsOnShortSlices(t *testing.T) {
	w, err := NewMatrix(ggml.F32, 2, 4, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MatMul with a short output did not panic")
		}
	}()
	MatMul(make([]float32, 1), w, make([]float32, 4), 1)
}

// TestMatMulAllocs checks that a warm MatMul allocates nothing, for
// decoding (one and four activation rows) and batches, on one thread and
// two.
func TestMatMulAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	defer SetThreads(SetThreads(0))
	r := rand.New(rand.NewPCG(11, 12))
	for _, typ := range []ggml.Type{ggml.Q8_0, ggml.Q4_0, ggml.Q4_K} {
		w, _ := randMatrix(t, r, typ, 256, 512)
		for _, threads := range []int{1, 2} {
			SetThreads(threads)
			for _, n := range []int{1, 4, 16} {
				x := gaussian(r, n*512)
				out := make([]float32, n*256)
				MatMul(out, w, x, n)
				if a := testing.AllocsPerRun(20, func() { MatMul(out, w, x, n) }); a != 0 {
					t.Errorf("%v, %d threads, n=%d: %v allocations per call", typ, threads, n, a)
				}
			}
		}
	}
}

// TestMatMulsMatchesMatMul checks that MatMuls gives bit-identical results
// to one MatMul per matrix, with matrices of one type and columns (fused),
// of mixed types (split), with more than maxFused matrices, rows not a
// multiple of the chunk size and an empty matrix, and that it allocates
// nothing when warm.
func TestMatMulsMatchesMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	const cols = 512
	defer SetThreads(SetThreads(2))
	var ws []*Matrix
	for i, rows := range []int{70, 33, 0, 256, 1, 64} {
		typ := ggml.Q8_0
		if i == 3 {
			typ = ggml.Q4_0
		}
		w, _ := randMatrix(t, r, typ, rows, cols)
		ws = append(ws, w)
	}
	for _, q := range quantTypes {
		w, _ := randMatrix(t, r, q.t, 40, cols)
		ws = append(ws, w)
	}
	for _, n := range []int{1, 3, 9} {
		x := gaussian(r, n*cols)
		outs := make([][]float32, len(ws))
		for j, w := range ws {
			outs[j] = make([]float32, n*w.Rows)
		}
		MatMuls(outs, ws, x, n)
		for j, w := range ws {
			want := make([]float32, n*w.Rows)
			MatMul(want, w, x, n)
			for k := range want {
				if want[k] != outs[j][k] {
					t.Fatalf("n=%d, matrix %d (%v): output %d: %g fused, %g alone", n, j, w.Type, k, outs[j][k], want[k])
				}
			}
		}
		if !raceEnabled {
			qkv := ws[:2]
			o := outs[:2]
			if a := testing.AllocsPerRun(20, func() { MatMuls(o, qkv, x, n) }); a != 0 {
				t.Errorf("n=%d: %v allocations per MatMuls call", n, a)
			}
		}
	}
}

func TestMatMulsPanicsOnMismatch(t *testing.T) {
	w, err := NewMatrix(ggml.F32, 2, 4, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MatMuls with one output for two matrices did not panic")
		}
	}()
	MatMuls([][]float32{make([]float32, 2)}, []*Matrix{w, w}, make([]float32, 4), 1)
}

// TestParallelFor checks that ParallelFor calls f once for every piece,
// with worker numbers below maxThreads, never two calls at once with the
// same worker number.
func TestParallelFor(t *testing.T) {
	defer SetThreads(SetThreads(4))
	for _, tc := range []struct{ count, maxThreads int }{{0, 2}, {1, 2}, {100, 1}, {100, 2}, {1000, 8}} {
		seen := make([]atomic.Int32, tc.count)
		busy := make([]atomic.Int32, max(1, tc.maxThreads))
		var bad atomic.Int32
		ParallelFor(tc.count, tc.maxThreads, func(w, c int) {
			if w < 0 || w >= tc.maxThreads {
				bad.Add(1)
				return
			}
			if busy[w].Add(1) != 1 {
				bad.Add(1)
			}
			seen[c].Add(1)
			busy[w].Add(-1)
		})
		if bad.Load() != 0 {
			t.Errorf("count %d, %d threads: %d calls with a bad or shared worker number", tc.count, tc.maxThreads, bad.Load())
		}
		for c := range seen {
			if n := seen[c].Load(); n != 1 {
				t.Fatalf("count %d, %d threads: piece %d run %d times", tc.count, tc.maxThreads, c, n)
			}
		}
	}
}

// TestParallelAfterIdle checks the pool past its polling: calls separated
// by more than spinWait (the helpers have parked) and a piece that outlasts
// the caller's wait for its helpers still run every piece once.
func TestParallelAfterIdle(t *testing.T) {
	defer SetThreads(SetThreads(2))
	for round := range 3 {
		var seen [4]atomic.Int32
		ParallelFor(len(seen), 2, func(_, c int) {
			if c == 0 && round == 1 {
				time.Sleep(3 * spinWait)
			}
			seen[c].Add(1)
		})
		for c := range seen {
			if n := seen[c].Load(); n != 1 {
				t.Fatalf("round %d: piece %d run %d times", round, c, n)
			}
		}
		time.Sleep(3 * spinWait)
	}
}
