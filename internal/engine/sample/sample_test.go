package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func logitsFrom(p []float64) []float32 {
	l := make([]float32, len(p))
	for i, x := range p {
		l[i] = float32(math.Log(x))
	}
	return l
}

func TestGreedy(t *testing.T) {
	s := New(Params{})
	r := s.Sample([]float32{0.1, 3, -1, 2.9})
	if r.Token != 1 {
		t.Fatalf("greedy picked %d, want 1", r.Token)
	}
}

func TestSameSeedSameTokens(t *testing.T) {
	logits := make([]float32, 1000)
	for i := range logits {
		logits[i] = float32(math.Sin(float64(i))) * 3
	}
	run := func(seed int64) []int {
		s := New(Params{Temperature: 1, TopP: 0.95, TopK: 100, MinP: 0.01, Seed: seed, RepetitionPenalty: 1.1, PresencePenalty: 0.2, FrequencyPenalty: 0.1})
		var out []int
		for range 50 {
			r := s.Sample(logits)
			s.Accept(r.Token)
			out = append(out, r.Token)
		}
		return out
	}
	a, b, c := run(7), run(7), run(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed diverged at %d: %v vs %v", i, a, b)
		}
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Fatalf("different seeds gave identical sequences %v", a)
	}
}

// TestDistribution checks that sampling at temperature 1 follows the softmax.
func TestDistribution(t *testing.T) {
	p := []float64{0.5, 0.3, 0.15, 0.05}
	s := New(Params{Temperature: 1, Seed: 1})
	n := 40000
	counts := make([]int, len(p))
	l := logitsFrom(p)
	for range n {
		counts[s.Sample(l).Token]++
	}
	for i := range p {
		got := float64(counts[i]) / float64(n)
		if math.Abs(got-p[i]) > 0.015 {
			t.Errorf("token %d: frequency %.3f, want %.3f", i, got, p[i])
		}
	}
}

func TestFilters(t *testing.T) {
	p := []float64{0.4, 0.3, 0.2, 0.06, 0.04}
	l := logitsFrom(p)
	tests := []struct {
		name    string
		params  Params
		allowed []int
	}{
		{"top_k=2", Params{Temperature: 1, TopK: 2}, []int{0, 1}},
		{"top_p=0.65", Params{Temperature: 1, TopP: 0.65}, []int{0, 1}},
		{"top_p=0.75", Params{Temperature: 1, TopP: 0.75}, []int{0, 1, 2}},
		{"min_p=0.6", Params{Temperature: 1, MinP: 0.6}, []int{0, 1}},
		{"min_p=0.12", Params{Temperature: 1, MinP: 0.12}, []int{0, 1, 2, 3}},
		{"low temperature", Params{Temperature: 0.01}, []int{0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok := map[int]bool{}
			for _, a := range tc.allowed {
				ok[a] = true
			}
			seen := map[int]bool{}
			for seed := range int64(400) {
				tc.params.Seed = seed
				tok := New(tc.params).Sample(l).Token
				if !ok[tok] {
					t.Fatalf("sampled token %d outside %v", tok, tc.allowed)
				}
				seen[tok] = true
			}
			if len(seen) != len(tc.allowed) {
				t.Errorf("saw tokens %v, want all of %v", seen, tc.allowed)
			}
		})
	}
}

func TestPenalties(t *testing.T) {
	l := []float32{2, 1.9, 0}
	// Repetition penalty divides positive logits.
	s := New(Params{RepetitionPenalty: 1.2})
	s.Accept(0)
	if got := s.Sample(l).Token; got != 1 {
		t.Errorf("repetition penalty: got %d, want 1", got)
	}
	// Presence penalty subtracts once.
	s = New(Params{PresencePenalty: 0.05})
	s.Accept(0)
	s.Accept(0)
	if got := s.Sample(l).Token; got != 0 {
		t.Errorf("presence 0.05: got %d, want 0", got)
	}
	// Frequency penalty subtracts per occurrence.
	s = New(Params{FrequencyPenalty: 0.06})
	s.Accept(0)
	s.Accept(0)
	if got := s.Sample(l).Token; got != 1 {
		t.Errorf("frequency 0.06 x2: got %d, want 1", got)
	}
	// Outside the window, tokens are no longer penalised.
	s = New(Params{RepetitionPenalty: 1.2, PenaltyWindow: 2})
	s.Accept(0)
	s.Accept(2)
	s.Accept(2)
	if got := s.Sample(l).Token; got != 0 {
		t.Errorf("window: got %d, want 0", got)
	}
	// Unbounded window.
	s = New(Params{RepetitionPenalty: 1.2, PenaltyWindow: -1, Logprobs: true})
	s.Accept(0)
	for range 100 {
		s.Accept(2)
	}
	if got := s.Sample(l).Token; got != 1 {
		t.Errorf("unbounded window: got %d, want 1", got)
	}
	// Penalties never change the reported model log probabilities.
	if lp := s.Sample(l).Logprob; math.Abs(lp-logSoftmax(l, 1)) > 1e-9 {
		t.Errorf("logprob %v changed by penalties, want %v", lp, logSoftmax(l, 1))
	}
}

func logSoftmax(l []float32, i int) float64 {
	sum := 0.0
	for _, x := range l {
		sum += math.Exp(float64(x))
	}
	return float64(l[i]) - math.Log(sum)
}

func TestLogprobs(t *testing.T) {
	l := []float32{0.5, 3, -2, 1, 2.5}
	r := New(Params{TopLogprobs: 3}).Sample(l)
	if r.Token != 1 {
		t.Fatalf("token %d, want 1", r.Token)
	}
	if math.Abs(r.Logprob-logSoftmax(l, 1)) > 1e-9 {
		t.Errorf("logprob %v, want %v", r.Logprob, logSoftmax(l, 1))
	}
	want := []int{1, 4, 3}
	if len(r.Top) != 3 {
		t.Fatalf("top has %d entries, want 3", len(r.Top))
	}
	for i, a := range r.Top {
		if a.Token != want[i] || math.Abs(a.Logprob-logSoftmax(l, want[i])) > 1e-9 {
			t.Errorf("top[%d] = %+v, want token %d logprob %v", i, a, want[i], logSoftmax(l, want[i]))
		}
	}
	if r := New(Params{TopLogprobs: 100}).Sample(l); len(r.Top) != len(l) {
		t.Errorf("top logprobs clipped to %d, want %d", len(r.Top), len(l))
	}
}

func TestTopKLargeVocab(t *testing.T) {
	n := 50000
	l := make([]float32, n)
	for i := range l {
		l[i] = float32((i * 7919) % n)
	}
	c := make([]cand, n)
	for i, x := range l {
		c[i] = cand{id: int32(i), logit: x}
	}
	top := topK(c, 10)
	for i := 1; i < len(top); i++ {
		if top[i].logit > top[i-1].logit {
			t.Fatalf("topK not sorted: %v", top)
		}
	}
	if top[0].logit != float32(n-1) || top[9].logit != float32(n-10) {
		t.Fatalf("topK wrong: %v", top)
	}
}

func TestEdgeCases(t *testing.T) {
	if r := New(Params{Temperature: 1}).Sample(nil); r.Token != -1 {
		t.Errorf("empty logits gave token %d", r.Token)
	}
	l := []float32{float32(math.Inf(-1)), 1, float32(math.NaN())}
	for seed := range int64(20) {
		if r := New(Params{Temperature: 1, Seed: seed, TopP: 0.5}).Sample(l); r.Token != 1 {
			t.Fatalf("seed %d picked %d from masked logits", seed, r.Token)
		}
	}
}

// BenchmarkSample draws from a Qwen-sized vocabulary: a flat distribution
// (the worst case for top-p: most of the vocabulary is in the nucleus) and a
// peaked one, as trained models mostly give.
func BenchmarkSample(b *testing.B) {
	flat := make([]float32, 151936)
	peaked := make([]float32, len(flat))
	for i := range flat {
		flat[i] = float32(math.Sin(float64(i)*0.37)) * 4
		peaked[i] = float32(math.Sin(float64(i)*0.37))*4 - float32(i%1000)/20
	}
	for _, tc := range []struct {
		name   string
		logits []float32
		p      Params
	}{
		{"flat/top_p", flat, Params{Temperature: 0.8, TopP: 0.9, Seed: 1}},
		{"peaked/top_p", peaked, Params{Temperature: 0.8, TopP: 0.9, Seed: 1}},
		{"peaked/top_k+logprobs", peaked, Params{Temperature: 0.8, TopK: 40, Seed: 1, TopLogprobs: 5}},
		{"greedy", peaked, Params{}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := New(tc.p)
			for b.Loop() {
				s.Sample(tc.logits)
			}
		})
	}
}

// TestSelection checks the linear-time selections against sorting.
func TestSelection(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 33, 100, 5000} {
		c := make([]cand, n)
		sum := 0.0
		for i := range c {
			// Few distinct values: many ties, broken by id.
			c[i] = cand{id: int32(i), logit: float32(r.IntN(50))}
			c[i].p = math.Exp(float64(c[i].logit) / 10)
			sum += c[i].p
		}
		for i := range c {
			c[i].p /= sum
		}
		ref := append([]cand(nil), c...)
		sortCands(ref)
		for _, k := range []int{1, 7, 40, 64, 65, 300, n} {
			got := topK(append([]cand(nil), c...), k)
			want := ref[:min(k, n)]
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d: topK(%d) differs from sorting", n, k)
			}
		}
		for _, p := range []float64{0.01, 0.5, 0.9, 0.999, 1} {
			cc := append([]cand(nil), c...)
			m := nucleus(cc, p)
			cum, want := 0.0, 0
			for want < n {
				cum += ref[want].p
				want++
				if cum >= p {
					break
				}
			}
			if p == 1 {
				want = m // rounding decides how many of the last tokens count
			}
			set := map[int32]bool{}
			for _, x := range cc[:m] {
				set[x.id] = true
			}
			for _, x := range ref[:want] {
				if !set[x.id] {
					t.Fatalf("n=%d p=%v: nucleus of %d lacks token %d of the sorted %d", n, p, m, x.id, want)
				}
			}
			if m != want {
				t.Fatalf("n=%d p=%v: nucleus has %d tokens, want %d", n, p, m, want)
			}
		}
		top := bestOf(logitsOf(c), min(5, n), nil)
		if !slices.EqualFunc(top, ref[:min(5, n)], func(a, b cand) bool { return a.id == b.id }) {
			t.Fatalf("n=%d: bestOf differs from sorting", n)
		}
	}
}

func logitsOf(c []cand) []float32 {
	l := make([]float32, len(c))
	for _, x := range c {
		l[x.id] = x.logit
	}
	return l
}
