package kernels

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

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
// and not disabled, else pure Go. The rows and group kernels are nil where
// there are none.
func kernelFor(t ggml.Type) (rowKernel, rowsKernel, manyKernel, groupKernel) {
	if !generic.Load() {
		if k, ok := simd.rows[t]; ok {
			return k, simd.multi[t], simd.many[t], simd.groups[t]
		}
	}
	return genericKernels[t], nil, nil, nil
}

// A kernelSet is a set of assembly kernels and whether the CPU runs them.
type kernelSet struct {
	name      string
	supported bool
	rows      map[ggml.Type]rowKernel
	groups    map[ggml.Type]groupKernel
	multi     map[ggml.Type]rowsKernel
	many      map[ggml.Type]manyKernel
	// quant, if not nil, replaces quantQ8BlocksGeneric.
	quant func(x []float32, q []int8, d []float32, ysum []int32)
	// quantK, if not nil, replaces quantQ8KBlocksGeneric.
	quantK func(x []float32, q []int8, bs []int16, d []float32)
	// pairGroups, if not nil, replaces the group loop of matmul.chunk for
	// Q4_0 and Q8_0 weights (same results).
	pairGroups func(m *matmul, w *Matrix, out []float32, r0, r1 int, s *scratch)
	// kwideGroups, if not nil, runs K-quant weights over the
	// sixteen-row groups of a prompt batch (same results as the row
	// kernels).
	kwideGroups func(m *matmul, w *Matrix, out []float32, r0, r1 int, s *scratch)
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

// Tiling. A worker takes rowChunk weight rows. With a group kernel it runs
// each group of eight activation rows over them, segBlocks blocks at a
// time, so that the group's segment (320 bytes a block) stays in L1 while
// the chunk's weights come from L2, and each weight row is read from
// memory once per call. (The sixteen-row groups of the two-row kernels
// take 576 bytes a block; 32 blocks a segment measured no faster.) Other activation rows take one weight row at a
// time, which stays in L1 while they pass over it.
//
// Calls without groups (decoding) take rows for about streamBytes of
// weights at a time (at least rowChunk rows, and at most a half of a
// thread's share of the call's rows): each task starts a new
// stream for the hardware prefetcher to pick up, and longer ones read
// memory faster (measured on the 1B Q4_0 model: 32 rows of 1152 bytes
// 24.5 ms a token, 128 rows 20.8 ms), while the last tasks of a call
// should stay short for both threads to finish together.
const (
	rowChunk    = 32
	segBlocks   = 64
	streamBytes = 256 << 10
)

// A group kernel is worth running on a partial group from about three
// rows, where it costs about as much per weight block as three row
// kernels, or from six where a rows kernel takes the rest.
const (
	minGroupRows     = 3
	minGroupRowsMany = 6
)

// maxFused is how many matrices one MatMuls pass takes.
const maxFused = 4

// A matmul is the state of one MatMul or MatMuls call, recycled through
// callPool so that a call allocates nothing.
type matmul struct {
	a acts
	// ws and outs are the matrices of the call and their outputs; nw of
	// them are in use. Matrix j has chunks starts[j]..starts[j+1]-1.
	ws     [maxFused]*Matrix
	outs   [maxFused][]float32
	starts [maxFused + 1]int
	nw     int
	n      int
	groups int
	// chunkRows is the number of weight rows per task.
	chunkRows int
	// from is the first activation row past the groups.
	from int
	k    rowKernel
	rk   rowsKernel
	mk   manyKernel
	gk   groupKernel
	// qg, if not nil, is simd.pairGroups (Q4_0 and Q8_0 weights) or
	// simd.kwideGroups (Q4_K, Q5_K, Q6_K).
	qg func(m *matmul, w *Matrix, out []float32, r0, r1 int, s *scratch)
}

var callPool = sync.Pool{New: func() any { return new(matmul) }}

// MatMul computes out[i*w.Rows+r] = dot(row r of w, x[i*w.Cols:(i+1)*w.Cols])
// for r < w.Rows and i < n, on all threads (see SetThreads). The
// activations are quantized once per call (to 8-bit blocks for quantized
// weights) and the dot products use integer arithmetic, as llama.cpp does.
//
// w must be valid (see NewMatrix), len(x) >= n*w.Cols and len(out) >=
// n*w.Rows; MatMul panics otherwise, as an out-of-range slice would.
func MatMul(out []float32, w *Matrix, x []float32, n int) {
	checkCall(out, w, x, n)
	if n == 0 || w.Rows == 0 {
		return
	}
	m := callPool.Get().(*matmul)
	m.ws[0], m.outs[0], m.nw = w, out, 1
	m.run(x, n)
	callPool.Put(m)
}

// MatMuls computes MatMul(outs[j], ws[j], x, n) for every j. When the
// matrices share their type and column count (as a layer's query, key and
// value projections usually do) x is quantized once for all of them and
// their rows are spread over the threads in one pass, which saves the
// hand-offs of separate calls. The results are bit-identical to separate
// MatMul calls. It panics as MatMul does, and if len(outs) != len(ws).
func MatMuls(outs [][]float32, ws []*Matrix, x []float32, n int) {
	if len(outs) != len(ws) {
		panic(fmt.Sprintf("kernels: matmuls: %d outputs for %d matrices", len(outs), len(ws)))
	}
	for j, w := range ws {
		checkCall(outs[j], w, x, n)
	}
	for len(ws) > 0 {
		k := min(len(ws), maxFused)
		for j := 1; j < k; j++ {
			if ws[j].Type != ws[0].Type || ws[j].Cols != ws[0].Cols {
				k = j
				break
			}
		}
		if n > 0 {
			m := callPool.Get().(*matmul)
			m.nw = 0
			for j := range k {
				if ws[j].Rows > 0 {
					m.ws[m.nw], m.outs[m.nw] = ws[j], outs[j]
					m.nw++
				}
			}
			if m.nw > 0 {
				m.run(x, n)
			}
			callPool.Put(m)
		}
		ws, outs = ws[k:], outs[k:]
	}
}

func checkCall(out []float32, w *Matrix, x []float32, n int) {
	if err := w.check(); err != nil {
		panic(err)
	}
	if n < 0 || len(x) < n*w.Cols || len(out) < n*w.Rows {
		panic(fmt.Sprintf("kernels: matmul: n=%d needs %d inputs and %d outputs, have %d and %d",
			n, n*w.Cols, n*w.Rows, len(x), len(out)))
	}
}

// run computes the products of m.ws[:m.nw] (same type and columns, at
// least one row each) with x.
func (m *matmul) run(x []float32, n int) {
	w := m.ws[0]
	m.k, m.rk, m.mk, m.gk = kernelFor(w.Type)
	m.qg = nil
	if m.gk != nil && (w.Type == ggml.Q4_0 || w.Type == ggml.Q8_0) {
		m.qg = simd.pairGroups
	}
	m.groups = 0
	if m.gk != nil {
		least := minGroupRows
		if m.rk != nil {
			least = minGroupRowsMany
		}
		m.groups = (n + 8 - least) / 8
	}
	// K-quant batches take the two-row kernels on whole groups of sixteen
	// activation rows, and the row kernel on the rest.
	if (w.Type == ggml.Q4_K || w.Type == ggml.Q5_K || w.Type == ggml.Q6_K) && simd.kwideGroups != nil && !generic.Load() && n >= 16 {
		m.qg = simd.kwideGroups
		m.groups = n / 16 * 2
	}
	// The two-row kernels take sixteen activation rows at a time
	// when there are two groups or more.
	m.a.quantize(w.Type, x, n, w.Cols, m.groups, m.qg != nil && m.groups >= 2)
	m.n = n
	m.from = min(n, m.groups*8)
	m.chunkRows = rowChunk
	if m.groups == 0 {
		// At least two tasks per thread, for the threads to even out.
		total := 0
		for j := range m.nw {
			total += m.ws[j].Rows
		}
		perThread := (total + 2*Threads() - 1) / (2 * Threads())
		m.chunkRows = max(rowChunk, min(streamBytes/(len(w.Data)/w.Rows), perThread))
	}
	if m.rk != nil && m.from < n && w.Type == ggml.Q4_0 && w.Cols%256 == 0 {
		m.a.pairQ4(m.from, n)
	}
	m.starts[0] = 0
	for j := range m.nw {
		m.starts[j+1] = m.starts[j] + (m.ws[j].Rows+m.chunkRows-1)/m.chunkRows
	}
	parallel(m.starts[m.nw], m)
	for j := range m.nw {
		m.ws[j], m.outs[j] = nil, nil
	}
	m.a.f = nil
}

// do computes the products of chunk c of the call's rows (a task for
// parallel).
func (m *matmul) do(c int, s *scratch) {
	j := 0
	for c >= m.starts[j+1] {
		j++
	}
	m.chunk(m.ws[j], m.outs[j], c-m.starts[j], s)
}

// chunk computes the products of weight rows m.chunkRows*c... of w.
func (m *matmul) chunk(w *Matrix, out []float32, c int, s *scratch) {
	a, n := &m.a, m.n
	rows := w.Rows
	rs := len(w.Data) / rows
	nb := w.Cols / 32
	r0, r1 := c*m.chunkRows, min(rows, (c+1)*m.chunkRows)
	if m.qg != nil && m.groups > 0 {
		m.qg(m, w, out, r0, r1, s)
	}
	for g := 0; g < m.groups && m.qg == nil; g++ {
		acc := &s.acc
		clear(acc[:])
		for b0 := 0; b0 < nb; b0 += segBlocks {
			nbs := min(segBlocks, nb-b0)
			last := b0+nbs == nb
			for r := r0; r < r1; r++ {
				m.gk(w.Data[r*rs:(r+1)*rs], a, g, b0, nbs, &acc[r-r0], &s.res)
				if last {
					for j, v := range s.res[:min(8, n-8*g)] {
						out[(8*g+j)*rows+r] = v
					}
				}
			}
		}
	}
	if m.mk != nil && n-m.from >= 2 && n-m.from <= maxMulti {
		// Each weight block once for all the activation rows.
		m.mk(w.Data[r0*rs:r1*rs], rs, r1-r0, a, m.from, n, out[m.from*rows+r0:], rows)
		return
	}
	if m.rk != nil {
		// All the chunk's weight rows in one call per activation row: the
		// first reads them from memory, the others from L2.
		for i := m.from; i < n; i++ {
			m.rk(w.Data[r0*rs:r1*rs], rs, a, i, out[i*rows+r0:i*rows+r1])
		}
		return
	}
	for r := r0; r < r1; r++ {
		wr := w.Data[r*rs : (r+1)*rs]
		for i := m.from; i < n; i++ {
			out[i*rows+r] = m.k(wr, a, i)
		}
	}
}

// The worker pool: threads-1 persistent goroutines plus the caller.
var (
	threads atomic.Int32
	poolMu  sync.Mutex
	workers int
	jobs    = make(chan *job, 64)
	jobPool = sync.Pool{New: func() any { return new(job) }}
	// callerScratch holds the scratch of callers of parallel (workers have
	// their own).
	callerScratch = sync.Pool{New: func() any { return new(scratch) }}
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

// A task is work in independent pieces, run by parallel.
type task interface {
	// do runs piece c with the scratch space of the thread running it.
	do(c int, s *scratch)
}

// scratch is the per-thread working memory of the tasks.
type scratch struct {
	acc [rowChunk][64]float32
	res [8]float32
	// res2, wacc, wres and unp serve the two-row kernels
	// (simd.pairGroups).
	res2 [8]float32
	wacc [rowChunk][128]float32
	wres [rowChunk][16]float32
	unp  []byte
	// worker numbers the threads running one job from 0 (set by
	// job.run).
	worker int
}

// funcTask runs a function as a task.
type funcTask func(c int)

func (f funcTask) do(c int, _ *scratch) { f(c) }

// workerTask runs a function of the worker number and the piece as a task.
type workerTask func(w, c int)

func (f workerTask) do(c int, s *scratch) { f(s.worker, c) }

// ParallelFor calls f(w, c) for every c < count on up to min(Threads(),
// maxThreads) threads of the MatMul pool, the calling goroutine included,
// and returns when all calls have returned. w < maxThreads numbers the
// thread making the call (0 to the number of threads taking part), so f
// may use per-thread scratch space indexed by w; calls with the same w
// do not overlap. Using the pool's threads, rather than new goroutines,
// saves waking a thread when the pool's are already running.
func ParallelFor(count, maxThreads int, f func(w, c int)) {
	if count <= 0 {
		return
	}
	parallelN(count, max(1, maxThreads), workerTask(f))
}

type job struct {
	next  atomic.Int64
	_     [56]byte // keep the counter on its own cache line
	count int64
	// joined numbers the threads that take part.
	joined atomic.Int64
	// left counts the helpers that have not finished.
	left atomic.Int64
	t    task
	wg   sync.WaitGroup
}

func (j *job) run(s *scratch) {
	s.worker = int(j.joined.Add(1) - 1)
	for {
		c := j.next.Add(1) - 1
		if c >= j.count {
			return
		}
		j.t.do(int(c), s)
	}
}

func worker() {
	s := new(scratch)
	for {
		j := nextJob()
		j.run(s)
		j.left.Add(-1)
		j.wg.Done()
	}
}

// spinWait is how long an idle worker polls for its next job before it
// parks, and how long a caller polls for its helpers to finish before it
// sleeps. Waking a parked thread takes the runtime tens to hundreds of
// microseconds on a virtual machine, longer than the gap between the
// matrix products of a decode step, so the pool's threads stay awake
// across those gaps and sleep only when the work stops.
const spinWait = 200 * time.Microsecond

// nextJob returns the next job, polling for up to spinWait before it
// parks on the channel. Between polls it yields the processor, so that a
// goroutine made runnable on it (the caller it waits for, typically) is
// not kept waiting by the spin.
func nextJob() *job {
	start := time.Now()
	for {
		select {
		case j := <-jobs:
			return j
		default:
		}
		if time.Since(start) > spinWait {
			return <-jobs
		}
		runtime.Gosched()
	}
}

// spinUntilDone polls for up to spinWait for j's helpers to finish,
// yielding between polls as nextJob does.
func spinUntilDone(j *job) {
	start := time.Now()
	for j.left.Load() > 0 && time.Since(start) <= spinWait {
		runtime.Gosched()
	}
}

// parallel calls t.do(c) for every c < count, spread over the pool. If the
// pool is busy with other calls the caller does more of the work itself.
func parallel(count int, t task) { parallelN(count, count, t) }

// parallelN is parallel on at most maxThreads threads.
func parallelN(count, maxThreads int, t task) {
	helpers := min(Threads(), count, maxThreads) - 1
	s := callerScratch.Get().(*scratch)
	defer callerScratch.Put(s)
	if helpers <= 0 {
		s.worker = 0
		for c := 0; c < count; c++ {
			t.do(c, s)
		}
		return
	}
	poolMu.Lock()
	for workers < helpers {
		go worker()
		workers++
	}
	poolMu.Unlock()
	j := jobPool.Get().(*job)
	j.next.Store(0)
	j.joined.Store(0)
	j.count, j.t = int64(count), t
	j.wg.Add(helpers)
	j.left.Store(int64(helpers))
	for i := 0; i < helpers; i++ {
		select {
		case jobs <- j:
		default:
			j.left.Add(-1)
			j.wg.Done()
		}
	}
	j.run(s)
	if j.left.Load() > 0 {
		spinUntilDone(j)
	}
	j.wg.Wait()
	j.t = nil
	jobPool.Put(j)
}
