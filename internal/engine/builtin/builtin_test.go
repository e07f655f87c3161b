package builtin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/llama"
	"github.com/silo-ai/silo/internal/engine/sample"
)

var modelDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "silo-builtin-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	modelDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var genOnce sync.Map // name -> *sync.Once

// testModel writes model name (once per test binary) and returns the dir.
func testModel(t testing.TB, name string, o genmodel.Options) string {
	t.Helper()
	v, _ := genOnce.LoadOrStore(name, new(sync.Once))
	var err error
	v.(*sync.Once).Do(func() {
		err = genmodel.WriteFile(filepath.Join(modelDir, name+Extension), o)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modelDir, name+Extension)); err != nil {
		t.Fatal(err)
	}
	return modelDir
}

func tinyOpts() genmodel.Options {
	return genmodel.Options{Arch: genmodel.ArchLlama, Type: ggml.Q8_0, Hidden: 64, Heads: 4, KVHeads: 2,
		FFN: 128, Layers: 2, Context: 128, Seed: 5}
}

func newEngine(t *testing.T, opts Options) *Engine {
	t.Helper()
	testModel(t, "tiny", tinyOpts())
	opts.Dir = modelDir
	opts.Logger = slog.New(slog.DiscardHandler)
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func ptr[T any](v T) *T { return &v }

type collected struct {
	text   strings.Builder
	chunks int
	lps    []engine.TokenLogprob
}

func (c *collected) emit(ch engine.Chunk) error {
	c.text.WriteString(ch.Text)
	c.chunks++
	c.lps = append(c.lps, ch.Logprobs...)
	return nil
}

func run(t *testing.T, e *Engine, req *engine.Request) (*collected, engine.Result) {
	t.Helper()
	c := &collected{}
	res, err := e.Generate(context.Background(), req, c.emit)
	if err != nil {
		t.Fatal(err)
	}
	return c, res
}

func TestGenerate(t *testing.T) {
	e := newEngine(t, Options{})
	req := &engine.Request{Model: "tiny", Prompt: "Once upon a time", MaxTokens: 20, Seed: ptr(int64(1)),
		Logprobs: true, TopLogprobs: 3}
	c, res := run(t, e, req)
	if res.FinishReason != engine.FinishLength && res.FinishReason != engine.FinishStop {
		t.Errorf("finish reason %q", res.FinishReason)
	}
	if res.Usage.CompletionTokens == 0 || res.Usage.CompletionTokens > 20 {
		t.Errorf("completion tokens %d, want 1..20", res.Usage.CompletionTokens)
	}
	if res.Usage.PromptTokens < 5 {
		t.Errorf("prompt tokens %d, want at least BOS + 4", res.Usage.PromptTokens)
	}
	if !utf8.ValidString(c.text.String()) || c.text.Len() == 0 {
		t.Errorf("text %q: empty or invalid UTF-8", c.text.String())
	}
	noTop := *req
	noTop.TopLogprobs = 0
	c0, _ := run(t, e, &noTop)
	for _, lp := range c0.lps {
		if lp.Logprob >= 0 || len(lp.Top) != 0 {
			t.Errorf("logprobs without alternatives: %+v", lp)
		}
	}
	if len(c.lps) == 0 || len(c.lps) > res.Usage.CompletionTokens {
		t.Fatalf("%d logprobs for %d tokens", len(c.lps), res.Usage.CompletionTokens)
	}
	for _, lp := range c.lps {
		if lp.Logprob > 0 || math.IsNaN(lp.Logprob) || len(lp.Top) != 3 || lp.Top[0].Logprob < lp.Top[2].Logprob {
			t.Errorf("bad logprob entry %+v", lp)
		}
	}
	if got := e.Loaded(); len(got) != 1 || got[0] != "tiny" {
		t.Errorf("Loaded() = %v", got)
	}
}

func TestSameSeedSameTokens(t *testing.T) {
	e := newEngine(t, Options{})
	req := func(seed int64) *engine.Request {
		return &engine.Request{Model: "tiny", Prompt: "The quick brown fox", MaxTokens: 24,
			Temperature: ptr(1.0), TopP: ptr(0.95), Seed: ptr(seed), Logprobs: true}
	}
	a, _ := run(t, e, req(42))
	b, _ := run(t, e, req(42))
	c, _ := run(t, e, req(43))
	if a.text.String() != b.text.String() {
		t.Errorf("same seed, different text:\n%q\n%q", a.text.String(), b.text.String())
	}
	for i := range a.lps {
		if a.lps[i].Token != b.lps[i].Token || a.lps[i].Logprob != b.lps[i].Logprob {
			t.Errorf("same seed, token %d differs: %+v vs %+v", i, a.lps[i], b.lps[i])
		}
	}
	if a.text.String() == c.text.String() {
		t.Errorf("seeds 42 and 43 gave the same text %q", a.text.String())
	}
}

// TestContinuousBatching runs requests concurrently (so that they share
// forward steps, joining at different times) and checks that each gets the
// text it gets alone.
func TestContinuousBatching(t *testing.T) {
	e := newEngine(t, Options{MaxSequences: 3, PrefillChunk: 4})
	prompts := []string{"Hello there", "A long prompt that takes several prefill steps to feed in", "1 2 3", "Why?", "Zebra"}
	reqs := make([]*engine.Request, len(prompts))
	alone := make([]string, len(prompts))
	for i, p := range prompts {
		reqs[i] = &engine.Request{Model: "tiny", Prompt: p, MaxTokens: 10 + 3*i, Temperature: ptr(0.8), Seed: ptr(int64(i))}
		c, _ := run(t, e, reqs[i])
		alone[i] = c.text.String()
	}
	var wg sync.WaitGroup
	got := make([]string, len(prompts))
	errs := make([]error, len(prompts))
	for i := range prompts {
		wg.Go(func() {
			c := &collected{}
			_, errs[i] = e.Generate(context.Background(), reqs[i], c.emit)
			got[i] = c.text.String()
		})
	}
	wg.Wait()
	for i := range prompts {
		if errs[i] != nil {
			t.Errorf("request %d: %v", i, errs[i])
		} else if got[i] != alone[i] {
			t.Errorf("request %d batched: %q, alone: %q", i, got[i], alone[i])
		}
	}
	m, _ := e.get(context.Background(), "tiny")
	if n := m.maxDecode.Load(); n < 2 || n > 3 {
		t.Errorf("at most %d sequences decoded together, want 2 or 3 (MaxSequences)", n)
	}
}

// TestCancelStopsCompute checks that after emit fails, or ctx is cancelled
// from emit, the loop runs at most one more forward step for the request.
func TestCancelStopsCompute(t *testing.T) {
	for _, mode := range []string{"emit error", "context"} {
		t.Run(mode, func(t *testing.T) {
			e := newEngine(t, Options{})
			m, err := e.get(context.Background(), "tiny")
			if err != nil {
				t.Fatal(err)
			}
			removed := make(chan *job, 1)
			m.onRemove = func(j *job) { removed <- j }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stopErr := errors.New("client went away")
			n := 0
			emit := func(c engine.Chunk) error {
				n++
				if n == 3 {
					if mode == "context" {
						cancel()
						return nil
					}
					return stopErr
				}
				return nil
			}
			req := &engine.Request{Model: "tiny", Prompt: "Count with me: one two three", MaxTokens: 100, Seed: ptr(int64(7))}
			_, err = e.Generate(ctx, req, emit)
			want := stopErr
			if mode == "context" {
				want = context.Canceled
			}
			if !errors.Is(err, want) {
				t.Fatalf("Generate error %v, want %v", err, want)
			}
			j := <-removed
			taken := int(j.received.Load())
			if j.steps > taken+1 {
				t.Errorf("%d forward steps for %d tokens taken: more than one step after the stop", j.steps, taken)
			}
			if j.generated >= 100 {
				t.Errorf("generation ran to the end (%d tokens)", j.generated)
			}
		})
	}
}

func TestEndOfGeneration(t *testing.T) {
	e := newEngine(t, Options{})
	m, err := e.get(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, m.lm.Config.Vocab)
	logits[m.tok.EOS()] = 10
	j := &job{sampler: sample.New(sample.Params{}), maxTokens: 10, out: make(chan event, 2),
		seq: m.lm.NewSequence(llama.CacheF32, 0)}
	if !m.token(j, logits) {
		t.Fatal("EOS did not finish the job")
	}
	if ev := <-j.out; ev.tok != -1 || ev.finish != engine.FinishStop {
		t.Errorf("EOS event %+v, want no token and finish stop", ev)
	}
	logits[m.tok.EOS()] = 0
	logits[100] = 10
	j.maxTokens, j.generated = 2, 0
	if m.token(j, logits) {
		t.Fatal("finished before max tokens")
	}
	if ev := <-j.out; ev.tok != 100 || ev.finish != "" {
		t.Errorf("event %+v, want token 100", ev)
	}
	if !m.token(j, logits) {
		t.Fatal("not finished at max tokens")
	}
	if ev := <-j.out; ev.tok != 100 || ev.finish != engine.FinishLength {
		t.Errorf("event %+v, want token 100 and finish length", ev)
	}
}

func TestStopString(t *testing.T) {
	e := newEngine(t, Options{})
	base := &engine.Request{Model: "tiny", Prompt: "abc", MaxTokens: 30, Seed: ptr(int64(3))}
	full, _ := run(t, e, base)
	text := full.text.String()
	runes := []rune(text)
	if len(runes) < 12 {
		t.Fatalf("generated text %q too short to cut", text)
	}
	stop := string(runes[6:9])
	req := *base
	req.Stop = []string{"never appears \x00", stop}
	cut, res := run(t, e, &req)
	want := text[:strings.Index(text, stop)]
	if cut.text.String() != want || res.FinishReason != engine.FinishStop {
		t.Errorf("with stop %q: %q (%s), want %q (stop)", stop, cut.text.String(), res.FinishReason, want)
	}
}

func TestChatFallback(t *testing.T) {
	e := newEngine(t, Options{})
	req := &engine.Request{Model: "tiny", Messages: []engine.Message{{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"}}, MaxTokens: 5, Seed: ptr(int64(1))}
	_, res := run(t, e, req)
	if res.Usage.PromptTokens < 10 {
		t.Errorf("chat prompt of %d tokens: template not applied?", res.Usage.PromptTokens)
	}
	req.Messages[0].Role = "wizard"
	if _, err := e.Generate(context.Background(), req, func(engine.Chunk) error { return nil }); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("unknown role: err = %v", err)
	}
}

func TestEmbed(t *testing.T) {
	e := newEngine(t, Options{PrefillChunk: 3})
	inputs := []string{"hello world", "a different sentence entirely", "hello world"}
	vecs, usage, err := e.Embed(context.Background(), "tiny", inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 3 || usage.PromptTokens < 6 {
		t.Fatalf("%d vectors, usage %+v", len(vecs), usage)
	}
	for i, v := range vecs {
		ss := 0.0
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.Abs(ss-1) > 1e-4 {
			t.Errorf("vector %d has squared norm %v", i, ss)
		}
	}
	if cos(vecs[0], vecs[2]) < 0.99999 {
		t.Errorf("same input, different vectors (cos %v)", cos(vecs[0], vecs[2]))
	}
	if cos(vecs[0], vecs[1]) > 0.9999 {
		t.Errorf("different inputs, same vector")
	}
	// Check against the mean of the hidden states computed directly.
	m, _ := e.get(context.Background(), "tiny")
	toks := m.tok.AddSpecial(m.tok.Encode(inputs[0], false))
	r := m.lm.NewRunner()
	seq := m.lm.NewSequence(llama.CacheF32, 0)
	var batch []llama.Token
	for _, id := range toks {
		batch = append(batch, llama.Token{Seq: seq, ID: int(id), Hidden: true})
	}
	out, err := r.Forward(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	sum := make([]float64, m.lm.Config.Hidden)
	for _, h := range out.Hidden {
		for k, x := range h {
			sum[k] += float64(x)
		}
	}
	if c := cos(vecs[0], normalize(sum, len(toks))); c < 0.999 {
		t.Errorf("embedding differs from the mean hidden state (cos %v; f16 cache in the engine)", c)
	}
	if _, _, err := e.Embed(context.Background(), "tiny", []string{""}); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("empty input: err = %v", err)
	}
}

func cos(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func TestModelsAndErrors(t *testing.T) {
	e := newEngine(t, Options{})
	ms, err := e.Models(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range ms {
		if m.ID == "tiny" && m.Engine == Name && m.Embeddings {
			found = true
		}
	}
	if !found {
		t.Errorf("Models() = %+v, want tiny", ms)
	}
	ctx := context.Background()
	nop := func(engine.Chunk) error { return nil }
	for _, name := range []string{"nope", "../tiny", "", ".hidden", "a/b"} {
		if _, err := e.Generate(ctx, &engine.Request{Model: name, Prompt: "x"}, nop); !errors.Is(err, engine.ErrModelNotFound) {
			t.Errorf("model %q: err = %v, want ErrModelNotFound", name, err)
		}
	}
	long := strings.Repeat("word ", 200)
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny", Prompt: long}, nop); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("prompt over the context window: err = %v", err)
	}
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny"}, nop); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("no prompt: err = %v", err)
	}
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny", Prompt: "x", Temperature: ptr(-1.0)}, nop); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("negative temperature: err = %v", err)
	}
	// Context window: generation stops with "length" at the window's end.
	c, res := run(t, e, &engine.Request{Model: "tiny", Prompt: strings.Repeat("word ", 100), Temperature: ptr(0.0)})
	if res.FinishReason != engine.FinishLength && res.FinishReason != engine.FinishStop {
		t.Errorf("finish %q", res.FinishReason)
	}
	if res.FinishReason == engine.FinishLength && res.Usage.PromptTokens+res.Usage.CompletionTokens != 128 {
		t.Errorf("stopped at %d+%d tokens, want the window of 128 (%q)", res.Usage.PromptTokens, res.Usage.CompletionTokens, c.text.String())
	}
	// Unload, then use again: the model loads back.
	if err := e.Unload(ctx, "tiny"); err != nil {
		t.Fatal(err)
	}
	if len(e.Loaded()) != 0 {
		t.Errorf("still loaded after Unload: %v", e.Loaded())
	}
	run(t, e, &engine.Request{Model: "tiny", Prompt: "again", MaxTokens: 2})
	if h := e.Health(ctx); len(h) != 1 || !h[0].Healthy {
		t.Errorf("health %+v", h)
	}
	e.Close()
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny", Prompt: "x"}, nop); !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("after Close: err = %v", err)
	}
}

// TestLoadedHook: Options.Loaded runs once per load, before the model
// serves; when it fails, the request fails as unavailable and the model is
// not kept, and the next request loads (and asks) again.
func TestLoadedHook(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Bool{}
	fail.Store(true)
	e := newEngine(t, Options{Loaded: func(name, path string) error {
		calls.Add(1)
		if name != "tiny" || filepath.Base(path) != "tiny"+Extension {
			t.Errorf("Loaded(%q, %q)", name, path)
		}
		if fail.Load() {
			return errors.New("the TPM is away")
		}
		return nil
	}})
	ctx := context.Background()
	nop := func(engine.Chunk) error { return nil }
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny", Prompt: "x", MaxTokens: 1}, nop); !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "TPM is away") {
		t.Fatalf("failing hook: err = %v", err)
	}
	if len(e.Loaded()) != 0 {
		t.Errorf("a model whose hook failed stays loaded: %v", e.Loaded())
	}
	fail.Store(false)
	run(t, e, &engine.Request{Model: "tiny", Prompt: "x", MaxTokens: 1})
	run(t, e, &engine.Request{Model: "tiny", Prompt: "y", MaxTokens: 1})
	if n := calls.Load(); n != 2 {
		t.Errorf("Loaded called %d times, want 2 (the failed load and the good one)", n)
	}
}

func TestUnloadFailsRequests(t *testing.T) {
	e := newEngine(t, Options{})
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := e.Generate(context.Background(), &engine.Request{Model: "tiny", Prompt: "go", Seed: ptr(int64(1))},
			func(engine.Chunk) error { once.Do(func() { close(started) }); return nil })
		done <- err
	}()
	<-started
	if err := e.Unload(context.Background(), "tiny"); err != nil {
		t.Fatal(err)
	}
	err := <-done
	if err != nil && !errors.Is(err, engine.ErrUnavailable) {
		t.Errorf("request during unload: err = %v, want nil (finished) or ErrUnavailable", err)
	}
}

func TestChatTemplate(t *testing.T) {
	o := tinyOpts()
	o.ChatTemplate = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'tool' %}{{ raise_exception('no tools') }}{% endif %}" +
		"[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}"
	testModel(t, "templated", o)
	e := newEngine(t, Options{})
	m, err := e.get(context.Background(), "templated")
	if err != nil {
		t.Fatal(err)
	}
	req := &engine.Request{Model: "templated", Messages: []engine.Message{{Role: "system", Content: "Be brief."},
		{Role: "user", Content: "Hi"}}, MaxTokens: 3, Seed: ptr(int64(1))}
	text, stops, err := m.promptText(req)
	if want := "<s>[system] Be brief.\n[user] Hi\n[assistant]"; err != nil || text != want || len(stops) != 0 {
		t.Fatalf("promptText = %q, %q, %v; want %q", text, stops, err, want)
	}
	_, res := run(t, e, req)
	ids := m.tok.Encode(text, true)
	if ids[0] != m.tok.BOS() || res.Usage.PromptTokens != len(ids) {
		t.Errorf("prompt tokens %d, want %d with a single BOS", res.Usage.PromptTokens, len(ids))
	}
	req.Messages = append(req.Messages, engine.Message{Role: "tool", Content: "{}"})
	if _, err := e.Generate(context.Background(), req, func(engine.Chunk) error { return nil }); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("template rejection: err = %v, want ErrInvalidRequest", err)
	}
}

// TestPromptReuse checks that a request whose prompt extends an earlier
// one reuses its KV cache, and gets the same text as without reuse.
func TestPromptReuse(t *testing.T) {
	first := &engine.Request{Model: "tiny", Prompt: "The story so far: a cat sat", MaxTokens: 8, Seed: ptr(int64(2))}
	next := func(prev string) *engine.Request {
		return &engine.Request{Model: "tiny", Prompt: first.Prompt + prev + " and then", MaxTokens: 8, Seed: ptr(int64(3))}
	}
	fresh := newEngine(t, Options{KeepSequences: -1})
	a, _ := run(t, fresh, first)
	want, _ := run(t, fresh, next(a.text.String()))

	e := newEngine(t, Options{})
	m, err := e.get(context.Background(), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	removed := make(chan *job, 2)
	m.onRemove = func(j *job) { removed <- j }
	b, _ := run(t, e, first)
	<-removed
	got, res := run(t, e, next(b.text.String()))
	j := <-removed
	if j.reused < 5 || j.reused >= res.Usage.PromptTokens {
		t.Errorf("reused %d of %d prompt tokens", j.reused, res.Usage.PromptTokens)
	}
	if got.text.String() != want.text.String() {
		t.Errorf("with reuse %q, without %q", got.text.String(), want.text.String())
	}
}
