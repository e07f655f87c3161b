package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/enginetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func doubles(t *testing.T, n int) []*enginetest.Upstream {
	t.Helper()
	out := make([]*enginetest.Upstream, n)
	for i := range out {
		out[i] = enginetest.NewUpstream(t)
	}
	return out
}

// newTestPool builds a pool over the doubles, named b0, b1, ..., with a
// fake clock, and waits for its first health round.
func newTestPool(t *testing.T, cfg Config, ups ...*enginetest.Upstream) (*Pool, *fakeClock) {
	t.Helper()
	for i, u := range ups {
		cfg.Backends = append(cfg.Backends, Backend{Name: fmt.Sprintf("b%d", i), URL: u.URL})
	}
	clock := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	p, err := newPool(cfg, clock.Now)
	if err != nil {
		t.Fatalf("newPool: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.ready(t.Context()); err != nil {
		t.Fatalf("ready: %v", err)
	}
	return p, clock
}

// recv waits for a value from ch. The bound only stops a broken pool from
// hanging the run; it asserts nothing about speed.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("gave up waiting")
		panic("unreachable")
	}
}

// startAt makes the next pick consider backend i first among equals.
func (p *Pool) startAt(i int) {
	p.rr.Store(uint64(i + len(p.backends) - 1))
}

func chat(model, content string) *engine.Request {
	return &engine.Request{Model: model, Messages: []engine.Message{{Role: "user", Content: content}}}
}

// collect runs Generate and returns the emitted text.
func collect(ctx context.Context, p *Pool, req *engine.Request) (string, engine.Result, error) {
	var b strings.Builder
	res, err := p.Generate(ctx, req, func(c engine.Chunk) error {
		b.WriteString(c.Text)
		return nil
	})
	return b.String(), res, err
}

func TestGenerateChat(t *testing.T) {
	ups := doubles(t, 1)
	ups[0].SetAPIKey("sekret")
	cfg := Config{Backends: []Backend{{Name: "vllm", URL: ups[0].URL + "/v1/", APIKey: "sekret",
		Models: map[string]string{"small": enginetest.DefaultModel}}}}
	p, _ := newTestPool(t, cfg)

	temp, topP, seed := 0.0, 0.9, int64(42)
	req := &engine.Request{
		Model: "small",
		Messages: []engine.Message{
			{Role: "system", Content: "be brief"},
			{Role: "user", Content: "one two three four", Name: "ann"},
		},
		MaxTokens: 3, Temperature: &temp, TopP: &topP, TopK: 40, MinP: 0.05,
		PresencePenalty: 0.5, FrequencyPenalty: 0.25, RepetitionPenalty: 1.1,
		Seed: &seed, Stop: []string{"never"}, User: "u1",
	}
	var chunks []string
	res, err := p.Generate(t.Context(), req, func(c engine.Chunk) error {
		chunks = append(chunks, c.Text)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if diff := cmp.Diff([]string{"one", " two", " three"}, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	want := engine.Result{FinishReason: engine.FinishLength, Usage: engine.Usage{PromptTokens: 6, CompletionTokens: 3}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	last := ups[0].Last()
	if last.Path != "/v1/chat/completions" {
		t.Errorf("path = %q", last.Path)
	}
	var sent map[string]any
	if err := json.Unmarshal(last.Body, &sent); err != nil {
		t.Fatal(err)
	}
	wantBody := map[string]any{
		"model": enginetest.DefaultModel,
		"messages": []any{
			map[string]any{"role": "system", "content": "be brief"},
			map[string]any{"role": "user", "content": "one two three four", "name": "ann"},
		},
		"stream": true, "stream_options": map[string]any{"include_usage": true},
		"max_tokens": 3.0, "temperature": 0.0, "top_p": 0.9, "top_k": 40.0, "min_p": 0.05,
		"presence_penalty": 0.5, "frequency_penalty": 0.25, "repetition_penalty": 1.1,
		"seed": 42.0, "stop": []any{"never"}, "user": "u1",
	}
	if diff := cmp.Diff(wantBody, sent); diff != "" {
		t.Errorf("upstream body (-want +got):\n%s", diff)
	}
}

func TestGenerateStopAndLogprobs(t *testing.T) {
	ups := doubles(t, 1)
	p, _ := newTestPool(t, Config{}, ups...)

	req := chat(enginetest.DefaultModel, "ab c STOP d")
	req.Stop = []string{"STOP"}
	req.Logprobs, req.TopLogprobs = true, 2
	var got []engine.Chunk
	res, err := p.Generate(t.Context(), req, func(c engine.Chunk) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	want := []engine.Chunk{
		{Text: "ab", Logprobs: []engine.TokenLogprob{{Token: "ab", Logprob: -0.2, Bytes: []byte("ab"), Top: []engine.TopLogprob{
			{Token: "ab", Logprob: -0.2, Bytes: []byte("ab")}, {Token: "alt1", Logprob: -1.2, Bytes: []byte("alt1")}}}}},
		{Text: " c", Logprobs: []engine.TokenLogprob{{Token: " c", Logprob: -0.1, Bytes: []byte(" c"), Top: []engine.TopLogprob{
			{Token: " c", Logprob: -0.1, Bytes: []byte(" c")}, {Token: "alt1", Logprob: -1.1, Bytes: []byte("alt1")}}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	if res.FinishReason != engine.FinishStop || res.Usage.CompletionTokens != 2 {
		t.Errorf("result = %+v", res)
	}
}

func TestGenerateCompletion(t *testing.T) {
	ups := doubles(t, 1)
	p, _ := newTestPool(t, Config{}, ups...)

	req := &engine.Request{Model: enginetest.DefaultModel, Prompt: "to be or", Logprobs: true, TopLogprobs: 1}
	var got []engine.Chunk
	res, err := p.Generate(t.Context(), req, func(c engine.Chunk) error {
		got = append(got, c)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if last := ups[0].Last(); last.Path != "/v1/completions" {
		t.Errorf("path = %q", last.Path)
	}
	want := []engine.Chunk{
		{Text: "to", Logprobs: []engine.TokenLogprob{{Token: "to", Logprob: -0.2, Bytes: []byte("to"), Top: []engine.TopLogprob{{Token: "to", Logprob: -0.2, Bytes: []byte("to")}}}}},
		{Text: " be", Logprobs: []engine.TokenLogprob{{Token: " be", Logprob: -0.2, Bytes: []byte(" be"), Top: []engine.TopLogprob{{Token: " be", Logprob: -0.2, Bytes: []byte(" be")}}}}},
		{Text: " or", Logprobs: []engine.TokenLogprob{{Token: " or", Logprob: -0.2, Bytes: []byte(" or"), Top: []engine.TopLogprob{{Token: " or", Logprob: -0.2, Bytes: []byte(" or")}}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	wantRes := engine.Result{FinishReason: engine.FinishStop, Usage: engine.Usage{PromptTokens: 3, CompletionTokens: 3}}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
}

func TestModelsAndDiscovery(t *testing.T) {
	ups := doubles(t, 2)
	ups[0].SetModels("alpha", "beta")
	ups[1].SetModels("beta", "gamma")
	p, _ := newTestPool(t, Config{}, ups...)

	models, err := p.Models(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models {
		ids = append(ids, m.ID)
		if m.Engine != "upstream" {
			t.Errorf("model %s engine = %q", m.ID, m.Engine)
		}
	}
	if diff := cmp.Diff([]string{"alpha", "beta", "gamma"}, ids); diff != "" {
		t.Errorf("models (-want +got):\n%s", diff)
	}

	// gamma is only on b1.
	if _, _, err := collect(t.Context(), p, chat("gamma", "hi")); err != nil {
		t.Fatal(err)
	}
	if ups[0].Generations() != 0 || ups[1].Generations() != 1 {
		t.Errorf("requests = %d, %d; want 0, 1", ups[0].Generations(), ups[1].Generations())
	}

	// A model learnt later is served after the next check.
	ups[0].SetModels("alpha", "beta", "delta")
	if _, _, err := collect(t.Context(), p, chat("delta", "hi")); !errors.Is(err, engine.ErrModelNotFound) {
		t.Fatalf("before check: err = %v, want ErrModelNotFound", err)
	}
	p.Check(t.Context())
	if _, _, err := collect(t.Context(), p, chat("delta", "hi")); err != nil {
		t.Fatalf("after check: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	ups := doubles(t, 2)
	p, _ := newTestPool(t, Config{FailureThreshold: 100}, ups...)

	if _, _, err := collect(t.Context(), p, chat("nope", "hi")); !errors.Is(err, engine.ErrModelNotFound) {
		t.Errorf("unknown model: err = %v", err)
	}

	// The double refuses top_logprobs > 20 with a 400: not retried, and the
	// upstream's message is kept.
	req := chat(enginetest.DefaultModel, "hi")
	req.Logprobs, req.TopLogprobs = true, 50
	_, _, err := collect(t.Context(), p, req)
	if !errors.Is(err, engine.ErrInvalidRequest) || !strings.Contains(err.Error(), "top_logprobs must be between 0 and 20") {
		t.Errorf("400: err = %v", err)
	}
	if n := ups[0].Generations() + ups[1].Generations(); n != 1 {
		t.Errorf("400 reached %d backends, want 1", n)
	}

	// 429 everywhere: ErrQueueFull with a hint.
	ups[0].FailNext(1, http.StatusTooManyRequests)
	ups[1].FailNext(1, http.StatusTooManyRequests)
	_, _, err = collect(t.Context(), p, chat(enginetest.DefaultModel, "hi"))
	var ra engine.RetryAfter
	if !errors.Is(err, engine.ErrQueueFull) || !errors.As(err, &ra) || ra.RetryAfter() <= 0 {
		t.Errorf("429: err = %v", err)
	}

	// A wrong key is the operator's fault: unavailable, not invalid.
	ups[0].SetAPIKey("k")
	ups[1].SetAPIKey("k")
	if _, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "hi")); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("401: err = %v", err)
	}
}

func TestRoutingLeastLoaded(t *testing.T) {
	ups := doubles(t, 3)
	p, _ := newTestPool(t, Config{}, ups...)

	counts := func() []int {
		var c []int
		for _, u := range ups {
			c = append(c, u.Generations())
		}
		return c
	}
	type held struct {
		release chan struct{}
		done    chan error
		backend int
	}
	// hold starts a request that stays in flight until released and
	// reports which backend took it.
	hold := func() *held {
		h := &held{release: make(chan struct{}), done: make(chan error, 1)}
		started := make(chan struct{})
		before := counts()
		go func() {
			first := true
			_, err := p.Generate(t.Context(), chat(enginetest.DefaultModel, "a b c"), func(engine.Chunk) error {
				if first {
					first = false
					close(started)
					<-h.release
				}
				return nil
			})
			h.done <- err
		}()
		recv(t, started)
		after := counts()
		h.backend = -1
		for i := range after {
			if after[i] != before[i] {
				h.backend = i
			}
		}
		return h
	}

	var hs []*held
	for range 3 {
		hs = append(hs, hold())
	}
	// Each new request went to an idle backend.
	if diff := cmp.Diff([]int{1, 1, 1}, counts()); diff != "" {
		t.Fatalf("requests per backend (-want +got):\n%s", diff)
	}

	// Free the second one; the next request must go to its backend.
	close(hs[1].release)
	if err := recv(t, hs[1].done); err != nil {
		t.Fatal(err)
	}
	next := hold()
	if next.backend != hs[1].backend {
		t.Errorf("request went to b%d, want the least-loaded b%d", next.backend, hs[1].backend)
	}
	for _, h := range append(hs, next) {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	}
	for _, h := range []*held{hs[0], hs[2], next} {
		if err := recv(t, h.done); err != nil {
			t.Error(err)
		}
	}
}

func TestRetryBeforeFirstByte(t *testing.T) {
	closed := enginetest.NewUpstream(t)
	closed.Close()
	tests := []struct {
		name   string
		break_ func(u *enginetest.Upstream)
	}{
		{"status 503", func(u *enginetest.Upstream) { u.FailNext(1, http.StatusServiceUnavailable) }},
		{"status 500", func(u *enginetest.Upstream) { u.FailNext(1, http.StatusInternalServerError) }},
		{"cut before first chunk", func(u *enginetest.Upstream) { u.SetFault(0, enginetest.FaultCut) }},
		{"malformed before first chunk", func(u *enginetest.Upstream) { u.SetFault(0, enginetest.FaultMalformed) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ups := doubles(t, 2)
			tt.break_(ups[0])
			p, _ := newTestPool(t, Config{}, ups...)
			p.startAt(0)
			text, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "x y"))
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if text != "x y" {
				t.Errorf("text = %q, want %q", text, "x y")
			}
			if diff := cmp.Diff([]int{1, 1}, []int{ups[0].Generations(), ups[1].Generations()}); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		ok := enginetest.NewUpstream(t)
		cfg := Config{Backends: []Backend{
			{Name: "dead", URL: closed.URL, Models: map[string]string{"m": enginetest.DefaultModel}},
			{Name: "live", URL: ok.URL, Models: map[string]string{"m": enginetest.DefaultModel}},
		}}
		p, _ := newTestPool(t, cfg)
		// The dead backend failed its health check; mark it healthy so the
		// request really tries to connect to it.
		p.backends[0].setHealth(nil, nil)
		p.startAt(0)
		text, _, err := collect(t.Context(), p, chat("m", "x y"))
		if err != nil || text != "x y" {
			t.Fatalf("Generate = %q, %v", text, err)
		}
	})
}

func TestNoRetryAfterFirstByte(t *testing.T) {
	for _, f := range []enginetest.Fault{enginetest.FaultCut, enginetest.FaultMalformed, enginetest.FaultNoDone} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			ups := doubles(t, 2)
			ups[0].SetFault(2, f)
			p, _ := newTestPool(t, Config{}, ups...)
			p.startAt(0)
			text, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "a b c d"))
			if !errors.Is(err, engine.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if text != "a b" {
				t.Errorf("emitted %q before the failure, want %q", text, "a b")
			}
			if n := ups[1].Generations(); n != 0 {
				t.Errorf("second backend got %d requests after the first byte, want 0", n)
			}
		})
	}
}

func TestMidStreamDeathReturnsError(t *testing.T) {
	tests := []struct {
		fault enginetest.Fault
		want  string
	}{
		{enginetest.FaultCut, "unexpected EOF"},
		{enginetest.FaultMalformed, "malformed"},
		{enginetest.FaultNoDone, "without [DONE]"},
		{enginetest.FaultStall, "no event for"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			ups := doubles(t, 1)
			ups[0].SetFault(1, tt.fault)
			// A short idle timeout is what turns a stalled upstream into
			// an error; the test asserts the error, not the time.
			p, _ := newTestPool(t, Config{IdleTimeout: 50 * time.Millisecond}, ups...)
			text, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "a b c"))
			if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrUnavailable mentioning %q", err, tt.want)
			}
			if text != "a" {
				t.Errorf("emitted %q, want %q", text, "a")
			}
		})
	}
}

func TestCancelReachesUpstream(t *testing.T) {
	t.Run("context", func(t *testing.T) {
		ups := doubles(t, 1)
		ups[0].SetFault(1, enginetest.FaultStall)
		p, _ := newTestPool(t, Config{}, ups...)
		ctx, cancel := context.WithCancel(t.Context())
		firstChunk := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			_, err := p.Generate(ctx, chat(enginetest.DefaultModel, "a b c"), func(engine.Chunk) error {
				close(firstChunk)
				return nil
			})
			done <- err
		}()
		recv(t, firstChunk)
		cancel()
		recv(t, ups[0].Canceled())
		if err := recv(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if n := ups[0].CanceledCount(); n != 1 {
			t.Errorf("double saw %d cancellations, want 1", n)
		}
	})
	t.Run("emit error", func(t *testing.T) {
		ups := doubles(t, 2)
		ups[0].SetFault(1, enginetest.FaultStall)
		p, _ := newTestPool(t, Config{}, ups...)
		p.startAt(0)
		stop := errors.New("client went away")
		_, err := p.Generate(t.Context(), chat(enginetest.DefaultModel, "a b c"), func(engine.Chunk) error { return stop })
		if !errors.Is(err, stop) {
			t.Errorf("err = %v, want the emit error", err)
		}
		recv(t, ups[0].Canceled())
		if n := ups[1].Generations(); n != 0 {
			t.Errorf("emit error was retried on another backend (%d requests)", n)
		}
	})
}

func TestCircuitOpensAndRecovers(t *testing.T) {
	ups := doubles(t, 1)
	p, clock := newTestPool(t, Config{FailureThreshold: 2, CoolDown: time.Minute}, ups...)
	gen := func() error {
		_, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "hi"))
		return err
	}

	ups[0].FailNext(2, http.StatusInternalServerError)
	for i := range 2 {
		if err := gen(); !errors.Is(err, engine.ErrUnavailable) {
			t.Fatalf("failure %d: err = %v", i, err)
		}
	}
	// Open: no request reaches the backend, and the error says when to retry.
	err := gen()
	var ra engine.RetryAfter
	if !errors.Is(err, engine.ErrUnavailable) || !errors.As(err, &ra) || ra.RetryAfter() != time.Minute {
		t.Fatalf("open circuit: err = %v", err)
	}
	if n := ups[0].Generations(); n != 2 {
		t.Errorf("open circuit let a request through: %d requests", n)
	}
	if h := p.Health(t.Context()); h[0].Healthy || !strings.Contains(h[0].Detail, "circuit open") {
		t.Errorf("health while open = %+v", h)
	}

	// Half-open: the probe fails and the circuit opens again.
	clock.Advance(time.Minute)
	ups[0].FailNext(1, http.StatusBadGateway)
	if err := gen(); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("failed probe: err = %v", err)
	}
	if err := gen(); !errors.Is(err, engine.ErrUnavailable) || ups[0].Generations() != 3 {
		t.Fatalf("after failed probe: err = %v, requests = %d", err, ups[0].Generations())
	}

	// Half-open again: the probe succeeds and the circuit closes.
	clock.Advance(time.Minute)
	for i := range 3 {
		if err := gen(); err != nil {
			t.Fatalf("after recovery, request %d: %v", i, err)
		}
	}
	if h := p.Health(t.Context()); !h[0].Healthy {
		t.Errorf("health after recovery = %+v", h)
	}
}

func TestHealthCheckMarksDown(t *testing.T) {
	ups := doubles(t, 1)
	p, _ := newTestPool(t, Config{}, ups...)

	ups[0].SetModelsStatus(http.StatusServiceUnavailable)
	p.Check(t.Context())
	if h := p.Health(t.Context()); h[0].Healthy || !strings.Contains(h[0].Detail, "health check failed") {
		t.Errorf("health = %+v", h)
	}
	if _, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "hi")); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("down: err = %v, want ErrUnavailable", err)
	}
	if n := ups[0].Generations(); n != 0 {
		t.Errorf("unhealthy backend got %d requests", n)
	}

	ups[0].SetModelsStatus(http.StatusOK)
	p.Check(t.Context())
	if _, _, err := collect(t.Context(), p, chat(enginetest.DefaultModel, "hi")); err != nil {
		t.Errorf("back up: %v", err)
	}
}

func TestEmbed(t *testing.T) {
	ups := doubles(t, 2)
	p, _ := newTestPool(t, Config{}, ups...)
	p.startAt(0)
	ups[0].FailNext(1, http.StatusServiceUnavailable)

	inputs := []string{"hello world", "x"}
	vecs, usage, err := p.Embed(t.Context(), enginetest.DefaultModel, inputs)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	want := [][]float32{enginetest.Embedding("hello world"), enginetest.Embedding("x")}
	if diff := cmp.Diff(want, vecs); diff != "" {
		t.Errorf("vectors (-want +got):\n%s", diff)
	}
	if usage.PromptTokens != 3 {
		t.Errorf("usage = %+v, want 3 prompt tokens", usage)
	}
	if _, _, err := p.Embed(t.Context(), enginetest.DefaultModel, nil); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("no input: err = %v", err)
	}
	if _, _, err := p.Embed(t.Context(), "nope", inputs); !errors.Is(err, engine.ErrModelNotFound) {
		t.Errorf("unknown model: err = %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no backends", Config{}},
		{"bad scheme", Config{Backends: []Backend{{URL: "ftp://x"}}}},
		{"no host", Config{Backends: []Backend{{URL: "http://"}}}},
		{"duplicate name", Config{Backends: []Backend{{Name: "a", URL: "http://x"}, {Name: "a", URL: "http://y"}}}},
		{"empty model", Config{Backends: []Backend{{URL: "http://x", Models: map[string]string{"a": ""}}}}},
		{"negative timeout", Config{Backends: []Backend{{URL: "http://x"}}, IdleTimeout: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := New(tt.cfg); err == nil {
				p.Close()
				t.Fatal("New accepted a bad config")
			}
		})
	}
}

func TestErrorsHideCredentials(t *testing.T) {
	closed := enginetest.NewUpstream(t)
	closed.Close()
	url := strings.Replace(closed.URL, "http://", "http://user:pw@", 1)
	p, _ := newTestPool(t, Config{Backends: []Backend{{Name: "dead", URL: url, APIKey: "sekret-key",
		Models: map[string]string{"m": "m"}}}})
	p.backends[0].setHealth(nil, nil)
	_, _, err := collect(t.Context(), p, chat("m", "hi"))
	if err == nil {
		t.Fatal("no error")
	}
	for _, secret := range []string{"pw", "sekret-key"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q reveals %q", err, secret)
		}
	}
	for _, h := range p.Health(t.Context()) {
		if strings.Contains(h.Detail, "sekret-key") || strings.Contains(h.Detail, ":pw@") {
			t.Errorf("health detail %q reveals a secret", h.Detail)
		}
	}
}
