package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// Matrix is a row-major weight matrix as stored in GGUF: Rows rows of Cols
// elements of Type, each row RowSize(Cols) bytes, Data holding all rows
// (typically a slice of a memory-mapped file).
type Matrix struct {
	Type       ggml.Type
	Rows, Cols int
	Data       []byte
}

// NewMatrix returns a Matrix after checking that t is supported, that cols
// is a multiple of t's block size and that data holds exactly rows rows.
func NewMatrix(t ggml.Type, rows, cols int, data []byte) (*Matrix, error) {
	m := &Matrix{Type: t, Rows: rows, Cols: cols, Data: data}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Matrix) check() error {
	if !m.Type.Supported() {
		return fmt.Errorf("kernels: matrix: unsupported type %v", m.Type)
	}
	if m.Rows < 0 || m.Cols <= 0 {
		return fmt.Errorf("kernels: matrix: bad shape %dx%d", m.Rows, m.Cols)
	}
	rs, err := m.Type.RowSize(m.Cols)
	if err != nil {
		return fmt.Errorf("kernels: matrix: %w", err)
	}
	if m.Type.BlockSize() == ggml.QK_K && m.Cols%ggml.QK_K != 0 {
		return fmt.Errorf("kernels: matrix: %d columns is not a multiple of %d", m.Cols, ggml.QK_K)
	}
	if len(m.Data)/rs < m.Rows || len(m.Data) != rs*m.Rows {
		return fmt.Errorf("kernels: matrix: %d bytes of data for %d rows of %d bytes", len(m.Data), m.Rows, rs)
	}
	return nil
}

// kernelFor returns the dot-product kernels for t: SIMD where available
// and not disabled, else pure Go. The group kernel is nil where there is
// none.
func kernelFor(t ggml.Type) (rowKernel, groupKernel) {
	if !generic.Load() {
		if k, ok := simd.rows[t]; ok {
			return k, simd.groups[t]
		}
	}
	return genericKernels[t], nil
}

// A kernelSet is a set of assembly kernels and whether the CPU runs them.
type kernelSet struct {
	name      string
	supported bool
	rows      map[ggml.Type]rowKernel
	groups    map[ggml.Type]groupKernel
}

// kernelSets lists the assembly kernel sets for this architecture, the
// fastest last.
var kernelSets []kernelSet

// simd is the kernel set in use.
var simd = kernelSet{name: "generic"}

// useBestKernels selects the last supported kernel set.
func useBestKernels() {
	for _, s := range kernelSets {
		if s.supported {
			simd = s
		}
	}
}

var generic atomic.Bool

// SetGeneric forces the pure-Go kernels (on) or re-enables the SIMD kernels
// the CPU supports (off). It is meant for tests and benchmarks; results
// are bit-identical either way.
func SetGeneric(on bool) { generic.Store(on) }

// SIMD reports the instruction set the fastest kernels use ("avx2",
// "avx512vnni") or "generic".
func SIMD() string {
	if generic.Load() || len(simd.rows) == 0 {
		return "generic"
	}
	return simd.name
}

var actPool = sync.Pool{New: func() any { return new(acts) }}

// Tiling. A worker takes rowChunk weight rows. With a group kernel it runs
// each group of eight activation rows over them, segBlocks blocks at a
// time, so that the group's segment (320 bytes a block) stays in L1 while
// the chunk's weights come from L2, and each weight row is read from
// memory once per call. Other activation rows take one weight row at a
// time, which stays in L1 while they pass over it.
const (
	rowChunk     = 32
	segBlocks    = 64
	minGroupRows = 3
)

// MatMul computes out[i*w.Rows+r] = dot(row r of w, x[i*w.Cols:(i+1)*w.Cols])
// for r < w.Rows and i < n, on all threads (see SetThreads). The
// activations are quantized once per call (to 8-bit blocks for quantized
// weights) and the dot products use integer arithmetic, as llama.cpp does.
//
// w must be valid (see NewMatrix), len(x) >= n*w.Cols and len(out) >=
// n*w.Rows; MatMul panics otherwise, as an out-of-range slice would.
func MatMul(out []float32, w *Matrix, x []float32, n int) {
	if err := w.check(); err != nil {
		panic(err)
	}
	if n < 0 || len(x) < n*w.Cols || len(out) < n*w.Rows {
		panic(fmt.Sprintf("kernels: matmul: n=%d needs %d inputs and %d outputs, have %d and %d",
			n, n*w.Cols, n*w.Rows, len(x), len(out)))
	}
	if n == 0 || w.Rows == 0 {
		return
	}
	k, gk := kernelFor(w.Type)
	// A group kernel is worth running on a partial group from about three
	// rows: it costs about as much per weight block as three row kernels.
	groups := 0
	if gk != nil {
		groups = (n + 8 - minGroupRows) / 8
	}
	a := actPool.Get().(*acts)
	defer actPool.Put(a)
	a.quantize(w.Type, x, n, w.Cols, groups)
	rs, _ := w.Type.RowSize(w.Cols)
	rows := w.Rows
	nb := w.Cols / 32
	chunks := (rows + rowChunk - 1) / rowChunk
	parallel(chunks, func(c int) {
		r0, r1 := c*rowChunk, min(rows, (c+1)*rowChunk)
		if groups > 0 {
			var acc [rowChunk][64]float32
			var res [8]float32
			for g := 0; g < groups; g++ {
				clear(acc[:])
				for b0 := 0; b0 < nb; b0 += segBlocks {
					nbs := min(segBlocks, nb-b0)
					last := b0+nbs == nb
					for r := r0; r < r1; r++ {
						gk(w.Data[r*rs:(r+1)*rs], a, g, b0, nbs, &acc[r-r0], &res)
						if last {
							for j, v := range res[:min(8, n-8*g)] {
								out[(8*g+j)*rows+r] = v
							}
						}
					}
				}
			}
		}
		for r := r0; r < r1; r++ {
			wr := w.Data[r*rs : (r+1)*rs]
			for i := min(n, groups*8); i < n; i++ {
				out[i*rows+r] = k(wr, a, i)
			}
		}
	})
}

// The worker pool: threads-1 persistent goroutines plus the caller.
var (
	threads atomic.Int32
	poolMu  sync.Mutex
	workers int
	jobs    = make(chan *job, 64)
)

func init() { threads.Store(int32(runtime.GOMAXPROCS(0))) }

// SetThreads sets how many threads MatMul uses (the calling goroutine
// included); n < 1 means runtime.GOMAXPROCS(0). It returns the previous
// setting.
func SetThreads(n int) int {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	return int(threads.Swap(int32(n)))
}

// Threads returns the number of threads MatMul uses.
func Threads() int { return int(threads.Load()) }

type job struct {
	next, count int64
	_           [48]byte // keep the counter on its own cache line
	fn          func(int)
	wg          sync.WaitGroup
}

func (j *job) run() {
	for {
		c := atomic.AddInt64(&j.next, 1) - 1
		if c >= j.count {
			return
		}
		j.fn(int(c))
	}
}

func worker() {
	for j := range jobs {
		j.run()
		j.wg.Done()
	}
}

// parallel calls fn(c) for every c < count, spread over the pool. If the
// pool is busy with other calls the caller does more of the work itself.
func parallel(count int, fn func(int)) {
	helpers := min(Threads(), count) - 1
	if helpers <= 0 {
		for c := 0; c < count; c++ {
			fn(c)
		}
		return
	}
	poolMu.Lock()
	for workers < helpers {
		go worker()
		workers++
	}
	poolMu.Unlock()
	j := &job{count: int64(count), fn: fn}
	j.wg.Add(helpers)
	for i := 0; i < helpers; i++ {
		select {
		case jobs <- j:
		default:
			j.wg.Done()
		}
	}
	j.run()
	j.wg.Wait()
}
