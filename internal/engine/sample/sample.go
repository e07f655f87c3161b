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
// before penalties and temperature), as the OpenAI API reports them. Each
// step takes time linear in the vocabulary size (selection, not sorting).
// Tokens e^30 times less likely than the most likely one are never drawn.
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

	// Logprobs asks Sample for the log probability of the sampled token;
	// TopLogprobs > 0 implies it.
	Logprobs bool
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
	Logprob float64 // model log probability of Token (0 unless Params.Logprobs)
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
	if p.TopLogprobs > 0 {
		p.Logprobs = true
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
	if !s.p.Logprobs {
		return Result{Token: tok}
	}
	return s.logprobs(logits, tok)
}

func (s *Sampler) pick(work []float32) int {
	if s.p.Temperature <= 0 {
		return argmax(work)
	}
	invT := 1 / s.p.Temperature
	maxW := float32(math.Inf(-1))
	for _, l := range work {
		if l > maxW { // false for NaN
			maxW = l
		}
	}
	if math.IsInf(float64(maxW), 0) {
		return argmax(work)
	}
	// Tokens e^30 times less likely than the best one (together less than
	// 1e-8 of the mass for any vocabulary) are left out.
	cut := float64(maxW) - 30*s.p.Temperature
	s.cands = s.cands[:0]
	for i, l := range work {
		if float64(l) > cut { // false for NaN
			s.cands = append(s.cands, cand{id: int32(i), logit: l})
		}
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
		if sorted {
			cum, n := 0.0, 0
			for n < len(c) {
				cum += c[n].p
				n++
				if cum >= tp {
					break
				}
			}
			c = c[:n]
		} else {
			c = c[:nucleus(c, tp)]
		}
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
	maxL := float32(math.Inf(-1))
	for _, l := range logits {
		if l > maxL {
			maxL = l
		}
	}
	// Terms below e^-30 of the largest change the sum by less than 1e-8.
	cut := float64(maxL) - 30
	sum := 0.0
	for _, l := range logits {
		if float64(l) > cut {
			sum += math.Exp(float64(l) - float64(maxL))
		}
	}
	lse := float64(maxL) + math.Log(sum)
	r := Result{Token: tok, Logprob: float64(logits[tok]) - lse}
	if n := s.p.TopLogprobs; n > 0 {
		top := bestOf(logits, min(n, len(logits)), s.cands[:0])
		r.Top = make([]Alt, len(top))
		for i, x := range top {
			r.Top[i] = Alt{Token: int(x.id), Logprob: float64(x.logit) - lse}
		}
	}
	return r
}

// bestOf returns the n best logits as candidates, best first, in one pass
// (a small sorted buffer, for small n).
func bestOf(logits []float32, n int, buf []cand) []cand {
	top := buf[:0]
	for i, l := range logits {
		if l != l { // NaN
			continue
		}
		c := cand{id: int32(i), logit: l}
		if len(top) == n && candLess(c, top[n-1]) >= 0 {
			continue
		}
		if len(top) < n {
			top = append(top, c)
		} else {
			top[n-1] = c
		}
		for j := len(top) - 1; j > 0 && candLess(top[j], top[j-1]) < 0; j-- {
			top[j], top[j-1] = top[j-1], top[j]
		}
	}
	return top
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
	switch {
	case a.logit > b.logit:
		return -1
	case a.logit < b.logit:
		return 1
	}
	return cmp.Compare(a.id, b.id)
}

func sortCands(c []cand) { slices.SortFunc(c, candLess) }

// topK moves the k best candidates to the front of c, sorted, and returns
// them. Expected time is linear in len(c) plus k log k.
func topK(c []cand, k int) []cand {
	if k <= 64 && k < len(c) {
		// One pass with a small sorted buffer beats selection for small k.
		top := make([]cand, 0, k)
		for _, x := range c {
			if len(top) == k && candLess(x, top[k-1]) >= 0 {
				continue
			}
			if len(top) < k {
				top = append(top, x)
			} else {
				top[k-1] = x
			}
			for j := len(top) - 1; j > 0 && candLess(top[j], top[j-1]) < 0; j-- {
				top[j], top[j-1] = top[j-1], top[j]
			}
		}
		return append(c[:0], top...)
	}
	if k < len(c) {
		selectBest(c, k)
	}
	h := c[:min(k, len(c))]
	sortCands(h)
	return h
}

// partition reorders c around a pivot (median of three): the candidates
// before it in candLess order, the pivot, then those after it. It returns
// the pivot's index.
func partition(c []cand) int {
	last := len(c) - 1
	mid := last / 2
	if candLess(c[mid], c[0]) < 0 {
		c[mid], c[0] = c[0], c[mid]
	}
	if candLess(c[last], c[0]) < 0 {
		c[last], c[0] = c[0], c[last]
	}
	if candLess(c[last], c[mid]) < 0 {
		c[last], c[mid] = c[mid], c[last]
	}
	c[mid], c[last] = c[last], c[mid] // pivot (the median) to the end
	pv := c[last]
	i := 0
	for j := range last {
		if candLess(c[j], pv) < 0 {
			c[i], c[j] = c[j], c[i]
			i++
		}
	}
	c[i], c[last] = c[last], c[i]
	return i
}

// selectBest reorders c so that c[:k] holds its k best candidates, in no
// particular order (quickselect).
func selectBest(c []cand, k int) {
	for len(c) > 1 && k > 0 && k < len(c) {
		i := partition(c)
		switch {
		case i == k || i+1 == k:
			return
		case k < i:
			c = c[:i]
		default:
			c, k = c[i+1:], k-i-1
		}
	}
}

// nucleus reorders c so that c[:n] holds the smallest set of most likely
// candidates whose probabilities sum to at least p, and returns n (at least
// 1). Expected time is linear in len(c).
func nucleus(c []cand, p float64) int {
	lo, hi := 0, len(c)
	need := p
	for hi-lo > 32 {
		i := lo + partition(c[lo:hi])
		better := 0.0
		for _, x := range c[lo:i] {
			better += x.p
		}
		switch {
		case better >= need:
			hi = i
		case better+c[i].p >= need:
			return i + 1
		default:
			need -= better + c[i].p
			lo = i + 1
		}
	}
	sortCands(c[lo:hi])
	for i := lo; i < hi; i++ {
		need -= c[i].p
		if need <= 0 {
			return i + 1
		}
	}
	return max(1, hi)
}
