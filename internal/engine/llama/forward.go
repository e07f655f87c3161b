package llama

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"

	"github.com/silo-ai/silo/internal/engine/kernels"
)

// ErrContextFull is returned (wrapped) when a batch would take a sequence past
// its limit.
var ErrContextFull = errors.New("context window is full")

// Token is one entry of a batch: the next token of a sequence.
type Token struct {
	Seq *Sequence
	ID  int
	// Logits asks for this token's next-token logits.
	Logits bool
	// Hidden asks for this token's final hidden state (after output_norm).
	Hidden bool
}

// Output holds what a Forward call computed, indexed like the batch. Its
// slices are reused by the next Forward call of the same Runner.
type Output struct {
	Logits [][]float32 // Vocab floats, or nil where not asked for
	Hidden [][]float32 // Hidden floats, or nil where not asked for
}

// Runner computes forward passes of one Model. It holds scratch memory that
// it reuses from call to call; it is not safe for concurrent use (use one
// Runner per goroutine; they may share the Model).
type Runner struct {
	m    *Model
	rope *rope

	// Scratch, grown as needed.
	cap                 int // tokens the buffers hold
	x, xb, q, k, v, att []float32
	gate, up            []float32
	pos                 []int
	workers             int
	scores              [][]float32 // per worker
	kbuf                [][]float32 // per worker
	sel                 []int
	selX                []float32
	logits              []float32
	hidden              []float32
	out                 Output

	// Steps counts Forward calls that ran (for tests and metrics).
	Steps int64
}

// NewRunner returns a Runner for m.
func (m *Model) NewRunner() *Runner {
	w := runtime.GOMAXPROCS(0)
	return &Runner{m: m, rope: newRope(&m.Config, m.RopeFreqs), workers: w,
		scores: make([][]float32, w), kbuf: make([][]float32, w)}
}

// Model returns the runner's model.
func (r *Runner) Model() *Model { return r.m }

func (r *Runner) grow(n int) {
	if n <= r.cap {
		return
	}
	c := &r.m.Config
	r.cap = n
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	r.x = make([]float32, n*c.Hidden)
	r.xb = make([]float32, n*max(c.Hidden, qDim))
	r.q = make([]float32, n*qDim)
	r.k = make([]float32, n*kvDim)
	r.v = make([]float32, n*kvDim)
	r.att = make([]float32, n*qDim)
	r.gate = make([]float32, n*c.FFN)
	r.up = make([]float32, n*c.FFN)
	r.pos = make([]int, n)
}

// Work below these sizes runs on the calling goroutine: starting helper
// goroutines (and waking threads for them) costs more than it saves. A
// decode step's SwiGLU over 8192 values takes a few microseconds.
const (
	// parallelAttnMin is in query-key products of HeadDim (n*Heads*context*HeadDim).
	parallelAttnMin = 1 << 18
	swigluChunk     = 16 << 10
)

// Forward runs the batch through the model: it appends each token to its
// sequence's KV cache, at the next position of that sequence (tokens of the
// same sequence in batch order), and returns the logits and hidden states
// asked for. Tokens of one sequence attend to earlier tokens of the batch.
// A sequence must not appear in two concurrent Forward calls.
//
// Forward checks ctx between layers; when ctx is done it returns ctx.Err()
// and the sequences of the batch are left as they were before the call.
func (r *Runner) Forward(ctx context.Context, batch []Token) (*Output, error) {
	m := r.m
	c := &m.Config
	n := len(batch)
	if n == 0 {
		return &Output{}, nil
	}
	r.grow(n)
	// Positions and capacity.
	counts := map[*Sequence]int{}
	maxPos := 0
	for i, t := range batch {
		if t.Seq == nil || t.Seq.m != m {
			return nil, fmt.Errorf("llama: forward: token %d: sequence of another model", i)
		}
		if t.ID < 0 || t.ID >= c.Vocab {
			return nil, fmt.Errorf("llama: forward: token id %d out of range [0, %d)", t.ID, c.Vocab)
		}
		p := t.Seq.n + counts[t.Seq]
		if p >= t.Seq.limit {
			return nil, fmt.Errorf("llama: forward: position %d: %w (limit %d)", p, ErrContextFull, t.Seq.limit)
		}
		counts[t.Seq]++
		r.pos[i] = p
		maxPos = max(maxPos, p)
	}
	for s, k := range counts {
		s.reserve(s.n + k)
	}
	r.rope.warm(maxPos + 1)

	hid := c.Hidden
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	d := c.HeadDim
	x := r.x[:n*hid]
	for i, t := range batch {
		if err := dequantize(m.Embd.Type, rowBytes(m.Embd, t.ID), x[i*hid:(i+1)*hid]); err != nil {
			return nil, fmt.Errorf("llama: forward: embedding: %w", err)
		}
	}
	xb := r.xb[:n*hid]
	q, k, v := r.q[:n*qDim], r.k[:n*kvDim], r.v[:n*kvDim]
	att := r.att[:n*qDim]
	gate, up := r.gate[:n*c.FFN], r.up[:n*c.FFN]
	group := c.Heads / c.KVHeads
	scale := float32(1 / math.Sqrt(float64(d)))
	for s := range r.scores {
		if need := group * (maxPos + 1); len(r.scores[s]) < need {
			r.scores[s] = make([]float32, max(need, 2*len(r.scores[s])))
		}
		if len(r.kbuf[s]) < d {
			r.kbuf[s] = make([]float32, d)
		}
	}

	for li := range m.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ly := &m.Layers[li]
		forTokens(n, func(i int) {
			rmsNorm(xb[i*hid:(i+1)*hid], x[i*hid:(i+1)*hid], ly.AttnNorm, c.NormEps)
		})
		kernels.MatMuls([][]float32{q, k, v}, []*kernels.Matrix{ly.Q, ly.K, ly.V}, xb, n)
		forTokens(n, func(i int) {
			qi, ki, vi := q[i*qDim:(i+1)*qDim], k[i*kvDim:(i+1)*kvDim], v[i*kvDim:(i+1)*kvDim]
			addBias(qi, ly.QBias)
			addBias(ki, ly.KBias)
			addBias(vi, ly.VBias)
			for h := range c.Heads {
				qh := qi[h*d : (h+1)*d]
				if ly.QNorm != nil {
					rmsNorm(qh, qh, ly.QNorm, c.NormEps)
				}
				r.rope.apply(qh, r.pos[i])
			}
			for h := range c.KVHeads {
				kh := ki[h*d : (h+1)*d]
				if ly.KNorm != nil {
					rmsNorm(kh, kh, ly.KNorm, c.NormEps)
				}
				r.rope.apply(kh, r.pos[i])
			}
			batch[i].Seq.store(li, r.pos[i], ki, vi)
		})
		// Attention over a short context costs less than waking a second
		// thread: run it on this one.
		attWorkers := r.workers
		if n*c.Heads*(maxPos+1)*d < parallelAttnMin {
			attWorkers = 1
		}
		parallelForWorker(attWorkers, n*c.KVHeads, func(w, task int) {
			i, h := task/c.KVHeads, task%c.KVHeads
			lo, hi := h*group*d, (h+1)*group*d
			batch[i].Seq.attend(li, h, r.pos[i]+1, q[i*qDim+lo:i*qDim+hi], att[i*qDim+lo:i*qDim+hi],
				group, scale, r.scores[w], r.kbuf[w])
		})
		o := xb[:n*hid]
		kernels.MatMul(o, ly.O, att, n)
		forTokens(n, func(i int) {
			oi := o[i*hid : (i+1)*hid]
			addBias(oi, ly.OBias)
			xi := x[i*hid : (i+1)*hid]
			for j := range xi {
				xi[j] += oi[j]
			}
			rmsNorm(oi, xi, ly.FFNNorm, c.NormEps)
		})
		kernels.MatMuls([][]float32{gate, up}, []*kernels.Matrix{ly.Gate, ly.Up}, xb, n)
		if len(gate) <= swigluChunk {
			swiglu(gate, up)
		} else {
			parallelFor((len(gate)+swigluChunk-1)/swigluChunk, func(j int) {
				lo, hi := j*swigluChunk, min(len(gate), (j+1)*swigluChunk)
				swiglu(gate[lo:hi], up[lo:hi])
			})
		}
		kernels.MatMul(xb, ly.Down, gate, n)
		forTokens(n, func(i int) {
			xi, di := x[i*hid:(i+1)*hid], xb[i*hid:(i+1)*hid]
			for j := range xi {
				xi[j] += di[j]
			}
		})
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for s, k := range counts {
		s.n += k
	}
	r.Steps++
	return r.finish(batch, x)
}

// finish computes the outputs asked for from the final residual stream x.
func (r *Runner) finish(batch []Token, x []float32) (*Output, error) {
	c := &r.m.Config
	hid := c.Hidden
	r.sel = r.sel[:0]
	nh := 0
	for i, t := range batch {
		if t.Logits || t.Hidden {
			r.sel = append(r.sel, i)
		}
		if t.Hidden {
			nh++
		}
	}
	r.out.Logits = resize(r.out.Logits, len(batch))
	r.out.Hidden = resize(r.out.Hidden, len(batch))
	if len(r.sel) == 0 {
		return &r.out, nil
	}
	ns := len(r.sel)
	if cap(r.selX) < ns*hid {
		r.selX = make([]float32, ns*hid)
	}
	sx := r.selX[:ns*hid]
	for j, i := range r.sel {
		rmsNorm(sx[j*hid:(j+1)*hid], x[i*hid:(i+1)*hid], r.m.OutNorm, c.NormEps)
	}
	if cap(r.hidden) < nh*hid {
		r.hidden = make([]float32, nh*hid)
	}
	hj := 0
	for j, i := range r.sel {
		if batch[i].Hidden {
			h := r.hidden[hj*hid : (hj+1)*hid]
			copy(h, sx[j*hid:(j+1)*hid])
			r.out.Hidden[i] = h
			hj++
		}
	}
	// Logits for the tokens that asked, in one matmul; compact the rows.
	nl := 0
	for j, i := range r.sel {
		if batch[i].Logits {
			copy(sx[nl*hid:(nl+1)*hid], sx[j*hid:(j+1)*hid])
			nl++
		}
	}
	if nl == 0 {
		return &r.out, nil
	}
	if cap(r.logits) < nl*c.Vocab {
		r.logits = make([]float32, nl*c.Vocab)
	}
	lg := r.logits[:nl*c.Vocab]
	kernels.MatMul(lg, r.m.Output, sx[:nl*hid], nl)
	j := 0
	for i, t := range batch {
		if t.Logits {
			r.out.Logits[i] = lg[j*c.Vocab : (j+1)*c.Vocab]
			j++
		}
	}
	return &r.out, nil
}

func resize(s [][]float32, n int) [][]float32 {
	if cap(s) < n {
		s = make([][]float32, n)
	}
	s = s[:n]
	clear(s)
	return s
}

func addBias(x, b []float32) {
	if b == nil {
		return
	}
	for i := range x {
		x[i] += b[i]
	}
}

// rowBytes returns the bytes of row i of w.
func rowBytes(w *kernels.Matrix, i int) []byte {
	rb := len(w.Data) / w.Rows
	return w.Data[i*rb : (i+1)*rb]
}

// forTokens runs f for each token, in parallel when there are enough.
func forTokens(n int, f func(i int)) {
	if n < 4 {
		for i := range n {
			f(i)
		}
		return
	}
	parallelFor(n, f)
}
