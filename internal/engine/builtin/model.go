package builtin

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/chat"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
	"github.com/silo-ai/silo/internal/engine/sample"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

// model is a loaded model and its batch loop.
type model struct {
	name  string
	opts  Options
	file  *gguf.File
	lm    *llama.Model
	tok   *tokenize.Tokenizer
	limit int // tokens per sequence
	tmpl  *chat.Template
	log   *slog.Logger

	submit    chan *job
	wake      chan struct{}
	quit      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	kept []kept // owned by the loop

	// maxDecode is the most sequences decoded in one step so far.
	maxDecode atomic.Int64

	// onRemove, when set (tests), is called by the loop for each job it
	// drops, after its last forward step.
	onRemove func(*job)
}

func openModel(name, path string, opts Options, log *slog.Logger) (*model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("builtin: model %q: %w", name, engine.ErrModelNotFound)
		}
		return nil, fmt.Errorf("builtin: load %q: %w", name, err)
	}
	m, err := newModel(name, f, opts, log)
	if err != nil {
		f.Close()
		return nil, err
	}
	return m, nil
}

func newModel(name string, f *gguf.File, opts Options, log *slog.Logger) (*model, error) {
	lm, err := llama.Load(f)
	if err != nil {
		return nil, fmt.Errorf("builtin: load %q: %w", name, err)
	}
	v, err := llama.ReadVocab(f)
	if err != nil {
		return nil, fmt.Errorf("builtin: load %q: %w", name, err)
	}
	if len(v.Tokens) > lm.Config.Vocab {
		return nil, fmt.Errorf("builtin: load %q: %d tokens for %d embedding rows", name, len(v.Tokens), lm.Config.Vocab)
	}
	tok, err := tokenize.New(v)
	if err != nil {
		return nil, fmt.Errorf("builtin: load %q: %w", name, err)
	}
	limit := min(lm.Config.Context, DefaultMaxContext)
	if opts.MaxContext > 0 {
		limit = min(lm.Config.Context, opts.MaxContext)
	}
	m := &model{name: name, opts: opts, file: f, lm: lm, tok: tok, limit: limit,
		submit: make(chan *job, 64), wake: make(chan struct{}, 1),
		quit: make(chan struct{}), done: make(chan struct{}), log: log}
	m.compileTemplate()
	go m.loop()
	return m, nil
}

func (m *model) close() error {
	m.closeOnce.Do(func() {
		close(m.quit)
		<-m.done
		m.closeErr = m.file.Close()
	})
	return m.closeErr
}

// poke wakes the loop if it waits.
func (m *model) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// attach gives j a sequence: the kept sequence that shares the longest
// prefix with j's prompt (truncated to that prefix, so that only the rest of
// the prompt is fed), or a new one.
func (m *model) attach(j *job) {
	j.hist = append(j.hist[:0], j.prompt...)
	best, bestLen := -1, 0
	if !j.embed {
		for i, c := range m.kept {
			n := commonPrefix(c.hist, j.prompt)
			// Leave at least one prompt token to feed: it gives the logits.
			n = min(n, len(j.prompt)-1)
			if n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	if best < 0 {
		j.seq = m.lm.NewSequence(m.opts.CacheType, m.limit)
		return
	}
	c := m.kept[best]
	m.kept = append(m.kept[:best], m.kept[best+1:]...)
	c.seq.Truncate(bestLen)
	j.seq, j.fed = c.seq, bestLen
	j.reused = bestLen
}

func commonPrefix(a, b []int32) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// keep puts the sequence of a finished generation job among the kept ones
// (most recent last), dropping the oldest beyond Options.KeepSequences.
func (m *model) keep(j *job) {
	if j.seq == nil || j.embed || j.failed || m.opts.KeepSequences <= 0 || j.seq.Len() == 0 {
		return
	}
	m.kept = append(m.kept, kept{seq: j.seq, hist: j.hist[:j.seq.Len()]})
	if len(m.kept) > m.opts.KeepSequences {
		m.kept = m.kept[1:]
	}
	// Idle caches hold at most one full context window of memory.
	c := m.lm.Config
	el := 4
	if m.opts.CacheType == llama.CacheF16 {
		el = 2
	}
	budget := 2 * c.Layers * c.KVHeads * c.HeadDim * el * m.limit
	total := 0
	for _, k := range m.kept {
		total += k.seq.Bytes()
	}
	for len(m.kept) > 1 && total > budget {
		total -= m.kept[0].seq.Bytes()
		m.kept = m.kept[1:]
	}
}

// kept is a finished sequence held for prompt reuse.
type kept struct {
	seq  *llama.Sequence
	hist []int32
}

// job is one request in the loop.
type job struct {
	ctx       context.Context
	prompt    []int32
	maxTokens int
	sampler   *sample.Sampler
	embed     bool
	out       chan event
	stopped   atomic.Bool  // the consumer wants no more tokens
	received  atomic.Int64 // events the consumer took (tests)

	// Owned by the loop.
	seq       *llama.Sequence
	fed       int
	next      int32
	hist      []int32 // tokens fed to seq, in order (prompt, then generated)
	failed    bool    // a forward step failed: seq is not reusable
	generated int
	pooled    []float64
	reused    int // prompt tokens taken from a kept sequence
	steps     int // forward steps that included the job
}

type event struct {
	tok       int32 // -1: none
	res       sample.Result
	finish    string // set on the last event
	err       error
	embedding []float32
}

func (j *job) wantsDecode() bool {
	return !j.embed && j.fed == len(j.prompt) && len(j.out) == 0
}

// loop runs forward steps until quit.
func (m *model) loop() {
	defer close(m.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-m.quit
		cancel()
	}()
	runner := m.lm.NewRunner()
	var active, queue []*job
	var batch []llama.Token
	var owners []*job
	var samples []sampling
	fail := func(j *job, err error) {
		select {
		case j.out <- event{tok: -1, err: err}:
		default:
		}
		m.removed(j)
	}
	defer func() {
		for _, j := range append(active, queue...) {
			fail(j, fmt.Errorf("builtin: model %q unloaded: %w", m.name, engine.ErrUnavailable))
		}
		for {
			select {
			case j := <-m.submit:
				fail(j, fmt.Errorf("builtin: model %q unloaded: %w", m.name, engine.ErrUnavailable))
			default:
				return
			}
		}
	}()
	for {
		// Admit.
	admit:
		for {
			select {
			case j := <-m.submit:
				queue = append(queue, j)
			case <-m.quit:
				return
			default:
				break admit
			}
		}
		// Drop jobs whose consumer left.
		keep := active[:0]
		for _, j := range active {
			if j.stopped.Load() || j.ctx.Err() != nil {
				m.removed(j)
				continue
			}
			keep = append(keep, j)
		}
		active = keep
		for len(queue) > 0 && len(active) < m.opts.MaxSequences {
			j := queue[0]
			queue = queue[1:]
			if j.stopped.Load() || j.ctx.Err() != nil {
				m.removed(j)
				continue
			}
			m.attach(j)
			active = append(active, j)
		}
		// Build the batch: one token per decoding sequence, then prompt
		// chunks within the budget.
		batch, owners = batch[:0], owners[:0]
		for _, j := range active {
			if j.wantsDecode() {
				j.hist = append(j.hist, j.next)
				batch = append(batch, llama.Token{Seq: j.seq, ID: int(j.next), Logits: true})
				owners = append(owners, j)
			}
		}
		if n := int64(len(batch)); n > m.maxDecode.Load() {
			m.maxDecode.Store(n)
		}
		budget := m.opts.PrefillChunk
		for _, j := range active {
			if budget == 0 {
				break
			}
			if j.fed == len(j.prompt) {
				continue
			}
			k := min(budget, len(j.prompt)-j.fed)
			for i := range k { // prompt tokens are already in hist
				last := j.fed+i == len(j.prompt)-1
				batch = append(batch, llama.Token{Seq: j.seq, ID: int(j.prompt[j.fed+i]),
					Logits: last && !j.embed, Hidden: j.embed})
				owners = append(owners, j)
			}
			budget -= k
		}
		if len(batch) == 0 {
			select {
			case j := <-m.submit:
				queue = append(queue, j)
			case <-m.wake:
			case <-m.quit:
				return
			}
			continue
		}
		// A batch of one request (a long prompt, typically) stops between
		// layers when that request is cancelled.
		fctx, sole := ctx, soleJob(owners)
		var release func()
		if sole != nil {
			c, cancel := context.WithCancel(sole.ctx)
			stop := context.AfterFunc(ctx, cancel)
			fctx, release = c, func() { stop(); cancel() }
		}
		out, err := runner.Forward(fctx, batch)
		if release != nil {
			release()
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failed := map[*job]bool{}
			for _, j := range owners {
				failed[j] = true
			}
			keep := active[:0]
			for _, j := range active {
				if failed[j] {
					j.failed = true
					fail(j, fmt.Errorf("builtin: %w", err))
					continue
				}
				keep = append(keep, j)
			}
			active = keep
			continue
		}
		// Results.
		var counted *job
		finished := map[*job]bool{}
		for i, j := range owners {
			if j != counted {
				j.steps++
				counted = j
			}
			if j.embed {
				h := out.Hidden[i]
				if j.pooled == nil {
					j.pooled = make([]float64, len(h))
				}
				for k, v := range h {
					j.pooled[k] += float64(v)
				}
				j.fed++
				if j.fed == len(j.prompt) {
					j.out <- event{tok: -1, embedding: normalize(j.pooled, len(j.prompt)), finish: engine.FinishStop}
					finished[j] = true
				}
				continue
			}
			if j.fed < len(j.prompt) {
				j.fed++
			}
			if out.Logits[i] != nil {
				samples = append(samples, sampling{j: j, logits: out.Logits[i]})
			}
		}
		// Sample each sequence's next token, in parallel: with a large
		// vocabulary sampling costs a millisecond or more per sequence.
		if len(samples) == 1 {
			samples[0].done = m.token(samples[0].j, samples[0].logits)
		} else {
			var wg sync.WaitGroup
			for i := range samples {
				wg.Go(func() { samples[i].done = m.token(samples[i].j, samples[i].logits) })
			}
			wg.Wait()
		}
		for _, sm := range samples {
			if sm.done {
				finished[sm.j] = true
			}
		}
		samples = samples[:0]
		if len(finished) > 0 {
			keep := active[:0]
			for _, j := range active {
				if finished[j] {
					m.removed(j)
					continue
				}
				keep = append(keep, j)
			}
			active = keep
		}
	}
}

// sampling is a job whose next token is to be drawn from logits.
type sampling struct {
	j      *job
	logits []float32
	done   bool
}

// soleJob returns the job of every batch entry, or nil if there are several.
func soleJob(owners []*job) *job {
	for _, j := range owners[1:] {
		if j != owners[0] {
			return nil
		}
	}
	return owners[0]
}

func (m *model) removed(j *job) {
	m.keep(j)
	j.seq = nil
	if m.onRemove != nil {
		m.onRemove(j)
	}
}

// token samples the next token of j and sends it; it reports whether the
// job is finished. It touches only j, so that jobs sample in parallel.
func (m *model) token(j *job, logits []float32) bool {
	res := j.sampler.Sample(logits)
	id := int32(res.Token)
	j.generated++
	ev := event{tok: id, res: res}
	switch {
	case m.tok.IsEOG(id):
		ev.tok, ev.finish = -1, engine.FinishStop
	case j.generated >= j.maxTokens || j.seq.Len() >= j.seq.Limit():
		ev.finish = engine.FinishLength
	}
	j.sampler.Accept(res.Token)
	j.next = id
	j.out <- ev // never blocks: the channel was empty (wantsDecode) and has room for 2
	return ev.finish != ""
}

func normalize(sum []float64, n int) []float32 {
	ss := 0.0
	for _, v := range sum {
		ss += v * v
	}
	inv := 1.0
	if ss > 0 {
		inv = 1 / math.Sqrt(ss)
	}
	out := make([]float32, len(sum))
	for i, v := range sum {
		out[i] = float32(v * inv)
	}
	return out
}

func randomSeed() int64 {
	var b [8]byte
	rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]))
}

// enqueue hands j to the loop.
func (m *model) enqueue(ctx context.Context, j *job) error {
	select {
	case m.submit <- j:
		m.poke()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.quit:
		return fmt.Errorf("builtin: model %q unloaded: %w", m.name, engine.ErrUnavailable)
	}
}

// generate runs one request on the loop and streams its text.
func (m *model) generate(ctx context.Context, req *engine.Request, emit engine.EmitFunc) (engine.Result, error) {
	var res engine.Result
	text, stops, err := m.promptText(req)
	if err != nil {
		return res, err
	}
	prompt := m.tok.AddSpecial(m.tok.Encode(text, true))
	res.Usage.PromptTokens = len(prompt)
	if len(prompt) == 0 {
		return res, fmt.Errorf("builtin: empty prompt: %w", engine.ErrInvalidRequest)
	}
	if len(prompt) >= m.limit {
		return res, fmt.Errorf("builtin: prompt of %d tokens does not fit the context window of %d: %w",
			len(prompt), m.limit, engine.ErrInvalidRequest)
	}
	params, err := samplerParams(req)
	if err != nil {
		return res, err
	}
	maxTokens := m.limit - len(prompt)
	if req.MaxTokens > 0 {
		maxTokens = min(maxTokens, req.MaxTokens)
	}
	s := sample.New(params)
	for _, t := range prompt {
		s.Accept(int(t))
	}
	j := &job{ctx: ctx, prompt: prompt, maxTokens: maxTokens, sampler: s, out: make(chan event, 2)}
	if err := m.enqueue(ctx, j); err != nil {
		return res, err
	}
	defer func() {
		j.stopped.Store(true)
		m.poke()
	}()
	st := newStreamer(append(stops, req.Stop...))
	for {
		var ev event
		select {
		case ev = <-j.out:
			j.received.Add(1)
			m.poke()
		case <-ctx.Done():
			return res, ctx.Err()
		}
		if ev.err != nil {
			return res, ev.err
		}
		if ev.tok >= 0 {
			res.Usage.CompletionTokens++
			var piece []byte
			if !m.tok.IsControl(ev.tok) {
				piece = m.tok.Piece(ev.tok)
			}
			var lp *engine.TokenLogprob
			if req.Logprobs {
				lp = m.logprob(ev.res)
			}
			if c, ok := st.push(piece, lp); ok {
				if err := emit(c); err != nil {
					return res, err
				}
			}
			if st.stopped {
				res.FinishReason = engine.FinishStop
				return res, nil
			}
		}
		if ev.finish != "" {
			if c, ok := st.flush(); ok {
				if err := emit(c); err != nil {
					return res, err
				}
			}
			res.FinishReason = ev.finish
			return res, nil
		}
	}
}

func (m *model) logprob(r sample.Result) *engine.TokenLogprob {
	piece := m.tok.Piece(int32(r.Token))
	lp := &engine.TokenLogprob{Token: string(piece), Logprob: r.Logprob, Bytes: append([]byte(nil), piece...)}
	for _, a := range r.Top {
		p := m.tok.Piece(int32(a.Token))
		lp.Top = append(lp.Top, engine.TopLogprob{Token: string(p), Logprob: a.Logprob, Bytes: append([]byte(nil), p...)})
	}
	return lp
}

func samplerParams(req *engine.Request) (sample.Params, error) {
	p := sample.Params{Temperature: 1, TopK: req.TopK, MinP: req.MinP,
		RepetitionPenalty: req.RepetitionPenalty, PresencePenalty: req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty}
	bad := func(what string, v any) (sample.Params, error) {
		return p, fmt.Errorf("builtin: %s %v out of range: %w", what, v, engine.ErrInvalidRequest)
	}
	if req.Temperature != nil {
		if t := *req.Temperature; t < 0 || t > 100 || math.IsNaN(t) {
			return bad("temperature", t)
		}
		p.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		if tp := *req.TopP; tp < 0 || tp > 1 || math.IsNaN(tp) {
			return bad("top_p", tp)
		}
		p.TopP = *req.TopP
	}
	if req.TopK < 0 {
		return bad("top_k", req.TopK)
	}
	if req.MinP < 0 || req.MinP > 1 || math.IsNaN(req.MinP) {
		return bad("min_p", req.MinP)
	}
	if req.RepetitionPenalty < 0 || math.IsNaN(req.RepetitionPenalty) {
		return bad("repetition_penalty", req.RepetitionPenalty)
	}
	if req.MaxTokens < 0 {
		return bad("max_tokens", req.MaxTokens)
	}
	if req.Logprobs {
		if req.TopLogprobs < 0 || req.TopLogprobs > sample.MaxTopLogprobs {
			return bad("top_logprobs", req.TopLogprobs)
		}
		p.Logprobs, p.TopLogprobs = true, req.TopLogprobs
	}
	if req.Seed != nil {
		p.Seed = *req.Seed
	} else {
		p.Seed = randomSeed()
	}
	return p, nil
}

// embed computes one embedding per input on the loop.
func (m *model) embed(ctx context.Context, inputs []string) ([][]float32, engine.Usage, error) {
	var usage engine.Usage
	if len(inputs) == 0 {
		return nil, usage, fmt.Errorf("builtin: no input to embed: %w", engine.ErrInvalidRequest)
	}
	jobs := make([]*job, len(inputs))
	for i, in := range inputs {
		if in == "" {
			return nil, usage, fmt.Errorf("builtin: input %d is empty: %w", i, engine.ErrInvalidRequest)
		}
		toks := m.tok.AddSpecial(m.tok.Encode(in, false))
		if len(toks) == 0 {
			return nil, usage, fmt.Errorf("builtin: input %d is empty: %w", i, engine.ErrInvalidRequest)
		}
		if len(toks) > m.limit {
			return nil, usage, fmt.Errorf("builtin: input %d has %d tokens, more than the context window of %d: %w",
				i, len(toks), m.limit, engine.ErrInvalidRequest)
		}
		usage.PromptTokens += len(toks)
		jobs[i] = &job{ctx: ctx, prompt: toks, embed: true, out: make(chan event, 2)}
	}
	defer func() {
		for _, j := range jobs {
			j.stopped.Store(true)
		}
		m.poke()
	}()
	for _, j := range jobs {
		if err := m.enqueue(ctx, j); err != nil {
			return nil, usage, err
		}
	}
	out := make([][]float32, len(jobs))
	for i, j := range jobs {
		select {
		case ev := <-j.out:
			if ev.err != nil {
				return nil, usage, ev.err
			}
			out[i] = ev.embedding
		case <-ctx.Done():
			return nil, usage, ctx.Err()
		}
	}
	return out, usage, nil
}
