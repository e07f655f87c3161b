// Package sample picks the next token from a model's logits.
//
// A Sampler applies, in this order: repetition, presence and frequency
// penalties over a window of recently accepted tokens; temperature; top-k;
// top-p (nucleus); min-p; then draws from the remaining distribution with a
// seeded random source. A temperature of zero (or below) is greedy decoding.
//
// Promises: the same Params (including Seed) and the same sequence of logits
// and accepted tokens give the same tokens, on every platform. Log
// probabilities are those of the model itself (log-softmax of the raw logits,
// before penalties and temperature), as the OpenAI API reports them.
package sample

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultPenaltyWindow is the number of most recently accepted tokens that
// penalties look at when Params.PenaltyWindow is zero (llama.cpp's default).
const DefaultPenaltyWindow = 64

// MaxTopLogprobs bounds Params.TopLogprobs, as the OpenAI API does.
const MaxTopLogprobs = 20

// Params configures a Sampler. The zero value samples at temperature 0
// (greedy) with no penalties.
type Params struct {
	Temperature float64 // <= 0: greedy (argmax)
	TopK        int     // <= 0: off
	TopP        float64 // <= 0 or >= 1: off
	MinP        float64 // <= 0: off

	RepetitionPenalty float64 // 0 or 1: off; > 1 discourages repeats
	PresencePenalty   float64 // subtracted once from a seen token's logit
	FrequencyPenalty  float64 // subtracted per occurrence
	PenaltyWindow     int     // tokens considered for penalties; 0: DefaultPenaltyWindow, < 0: all

	Seed int64

	// TopLogprobs is how many alternatives Sample reports (0..MaxTopLogprobs).
	TopLogprobs int
}

// Alt is one candidate token and its log probability.
type Alt struct {
	Token   int
	Logprob float64
}

// Result is one sampled token.
type Result struct {
	Token   int
	Logprob float64 // model log probability of Token
	Top     []Alt   // the Params.TopLogprobs most likely tokens, most likely first
}

type cand struct {
	id    int32
	logit float32
	p     float64
}

// Sampler draws tokens. It is not safe for concurrent use.
type Sampler struct {
	p      Params
	rng    *rand.Rand
	window []int // ring of recent tokens
	next   int
	full   bool
	all    map[int]int // counts when the window is unbounded
	buf    []float32
	cands  []cand
	counts map[int]int
}

// New returns a Sampler for p.
func New(p Params) *Sampler {
	if p.TopLogprobs < 0 {
		p.TopLogprobs = 0
	}
	if p.TopLogprobs > MaxTopLogprobs {
		p.TopLogprobs = MaxTopLogprobs
	}
	if p.PenaltyWindow == 0 {
		p.PenaltyWindow = DefaultPenaltyWindow
	}
	s := &Sampler{
		p:      p,
		rng:    rand.New(rand.NewPCG(uint64(p.Seed), uint64(p.Seed)^0x9e3779b97f4a7c15)),
		counts: map[int]int{},
	}
	if p.PenaltyWindow > 0 {
		s.window = make([]int, p.PenaltyWindow)
	} else {
		s.all = map[int]int{}
	}
	return s
}

// Params returns the parameters the sampler uses (after defaults).
func (s *Sampler) Params() Params { return s.p }

// Accept records a token (from the prompt or generated) for penalties.
func (s *Sampler) Accept(tok int) {
	if s.all != nil {
		s.all[tok]++
		return
	}
	s.window[s.next] = tok
	s.next++
	if s.next == len(s.window) {
		s.next, s.full = 0, true
	}
}

func (s *Sampler) penalties() bool {
	rp := s.p.RepetitionPenalty
	return (rp != 0 && rp != 1) || s.p.PresencePenalty != 0 || s.p.FrequencyPenalty != 0
}

// recent returns the counts of tokens in the penalty window.
func (s *Sampler) recent() map[int]int {
	if s.all != nil {
		return s.all
	}
	clear(s.counts)
	n := s.next
	if s.full {
		n = len(s.window)
	}
	for _, t := range s.window[:n] {
		s.counts[t]++
	}
	return s.counts
}

// Sample picks a token from logits (one per vocabulary entry). It does not
// modify logits and does not Accept the token. An empty logits slice gives
// token -1.
func (s *Sampler) Sample(logits []float32) Result {
	if len(logits) == 0 {
		return Result{Token: -1, Logprob: math.Inf(-1)}
	}
	work := logits
	if s.penalties() {
		s.buf = append(s.buf[:0], logits...)
		work = s.buf
		rp := s.p.RepetitionPenalty
		for t, c := range s.recent() {
			if t < 0 || t >= len(work) {
				continue
			}
			l := work[t]
			if rp != 0 && rp != 1 {
				if l > 0 {
					l /= float32(rp)
				} else {
					l *= float32(rp)
				}
			}
			l -= float32(float64(c)*s.p.FrequencyPenalty + s.p.PresencePenalty)
			work[t] = l
		}
	}
	tok := s.pick(work)
	return s.logprobs(logits, tok)
}

func (s *Sampler) pick(work []float32) int {
	if s.p.Temperature <= 0 {
		return argmax(work)
	}
	invT := 1 / s.p.Temperature
	s.cands = s.cands[:0]
	for i, l := range work {
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), -1) {
			continue
		}
		s.cands = append(s.cands, cand{id: int32(i), logit: l})
	}
	c := s.cands
	if len(c) == 0 {
		return argmax(work)
	}
	sorted := false
	if k := s.p.TopK; k > 0 && k < len(c) {
		c = topK(c, k)
		sorted = true
	}
	// softmax at temperature
	maxL := float64(c[0].logit)
	for _, x := range c {
		maxL = max(maxL, float64(x.logit))
	}
	sum := 0.0
	for i := range c {
		e := math.Exp((float64(c[i].logit) - maxL) * invT)
		c[i].p = e
		sum += e
	}
	for i := range c {
		c[i].p /= sum
	}
	if tp := s.p.TopP; tp > 0 && tp < 1 {
		if !sorted {
			// Most of the mass usually sits in a few hundred tokens: sort
			// those first and the whole vocabulary only when they fall short.
			head := topK(c, min(len(c), 512))
			mass := 0.0
			for _, x := range head {
				mass += x.p
			}
			if mass < tp {
				sortCands(c)
			}
		}
		cum, n := 0.0, 0
		for n < len(c) {
			cum += c[n].p
			n++
			if cum >= tp {
				break
			}
		}
		c = c[:n]
	}
	if mp := s.p.MinP; mp > 0 {
		pmax := 0.0
		for _, x := range c {
			pmax = max(pmax, x.p)
		}
		keep := c[:0]
		for _, x := range c {
			if x.p >= mp*pmax {
				keep = append(keep, x)
			}
		}
		c = keep
	}
	total := 0.0
	for _, x := range c {
		total += x.p
	}
	u := s.rng.Float64() * total
	for _, x := range c {
		u -= x.p
		if u < 0 {
			return int(x.id)
		}
	}
	return int(c[len(c)-1].id)
}

// logprobs fills a Result for tok from the raw logits.
func (s *Sampler) logprobs(logits []float32, tok int) Result {
	maxL := math.Inf(-1)
	for _, l := range logits {
		if float64(l) > maxL {
			maxL = float64(l)
		}
	}
	sum := 0.0
	for _, l := range logits {
		if !math.IsNaN(float64(l)) {
			sum += math.Exp(float64(l) - maxL)
		}
	}
	lse := maxL + math.Log(sum)
	r := Result{Token: tok, Logprob: float64(logits[tok]) - lse}
	if n := s.p.TopLogprobs; n > 0 {
		s.cands = s.cands[:0]
		for i, l := range logits {
			s.cands = append(s.cands, cand{id: int32(i), logit: l})
		}
		top := topK(s.cands, min(n, len(s.cands)))
		r.Top = make([]Alt, len(top))
		for i, x := range top {
			r.Top[i] = Alt{Token: int(x.id), Logprob: float64(x.logit) - lse}
		}
	}
	return r
}

func argmax(x []float32) int {
	best, bi := float32(math.Inf(-1)), 0
	for i, v := range x {
		if v > best {
			best, bi = v, i
		}
	}
	return bi
}

// candLess orders by logit descending, then id ascending (a total order, so
// results do not depend on the sort algorithm).
func candLess(a, b cand) int {
	if a.logit != b.logit {
		return cmp.Compare(b.logit, a.logit)
	}
	return cmp.Compare(a.id, b.id)
}

func sortCands(c []cand) { slices.SortFunc(c, candLess) }

// topK moves the k best candidates to the front of c, sorted, and returns them.
func topK(c []cand, k int) []cand {
	if k >= len(c) {
		sortCands(c)
		return c
	}
	// Min-heap of the best k seen so far at c[:k].
	h := c[:k]
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for i := k; i < len(c); i++ {
		if candLess(c[i], h[0]) < 0 {
			h[0], c[i] = c[i], h[0]
			siftDown(h, 0)
		}
	}
	sortCands(h)
	return h
}

// siftDown keeps h a heap whose root is the worst candidate.
func siftDown(h []cand, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		w := l
		if r := l + 1; r < len(h) && candLess(h[r], h[l]) > 0 {
			w = r
		}
		if candLess(h[w], h[i]) <= 0 {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}
