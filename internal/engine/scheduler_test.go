package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/engine/upstream"
)

// The scheduler is tested in front of a real upstream pool talking to the
// protocol double, so cancellation is observed where it matters: on the
// upstream's side.

func newScheduler(t *testing.T, cfg engine.SchedulerConfig, models ...string) (*engine.Scheduler, *enginetest.Upstream) {
	t.Helper()
	up := enginetest.NewUpstream(t)
	if len(models) > 0 {
		up.SetModels(models...)
	}
	p, err := upstream.New(upstream.Config{Backends: []upstream.Backend{{Name: "b0", URL: up.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	s := engine.NewScheduler(p, cfg)
	t.Cleanup(func() { s.Close() })
	return s, up
}

func chat(model, content string) *engine.Request {
	return &engine.Request{Model: model, Messages: []engine.Message{{Role: "user", Content: content}}}
}

// call is a Generate running in the background.
type call struct {
	started chan struct{} // closed at the first chunk
	release chan struct{} // close to let the generation go on
	done    chan error

	mu    sync.Mutex
	text  strings.Builder
	rOnce sync.Once
}

// start runs Generate; the generation holds its slot at the first chunk
// until release is closed.
func start(t *testing.T, ctx context.Context, s *engine.Scheduler, req *engine.Request) *call {
	c := &call{started: make(chan struct{}), release: make(chan struct{}), done: make(chan error, 1)}
	t.Cleanup(c.free)
	go func() {
		first := true
		_, err := s.Generate(ctx, req, func(ch engine.Chunk) error {
			c.mu.Lock()
			c.text.WriteString(ch.Text)
			c.mu.Unlock()
			if first {
				first = false
				close(c.started)
				<-c.release
			}
			return nil
		})
		c.done <- err
	}()
	return c
}

func (c *call) free() { c.rOnce.Do(func() { close(c.release) }) }

// waitLoad waits until the scheduler reports want. It polls the public
// Load report, the same one metrics read; the bound only stops a broken
// scheduler from hanging the run.
// recv waits for a value from ch. The bound only stops a broken scheduler
// from hanging the run.
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

func waitLoad(t *testing.T, s *engine.Scheduler, want []engine.ModelLoad) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cmp.Equal(want, s.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("load never became what was wanted (-want +got):\n%s", cmp.Diff(want, s.Load()))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSchedulerQueueFull(t *testing.T) {
	s, up := newScheduler(t, engine.SchedulerConfig{Limits: engine.Limits{MaxConcurrent: 1, MaxQueue: 1}, RetryAfter: 7 * time.Second})
	m := enginetest.DefaultModel

	a := start(t, t.Context(), s, chat(m, "a a"))
	recv(t, a.started)
	b := start(t, t.Context(), s, chat(m, "b b"))
	waitLoad(t, s, []engine.ModelLoad{{Model: m, InFlight: 1, Queued: 1}})

	_, err := s.Generate(t.Context(), chat(m, "c"), func(engine.Chunk) error { return nil })
	if !errors.Is(err, engine.ErrQueueFull) {
		t.Fatalf("err = %v, want ErrQueueFull", err)
	}
	var ra engine.RetryAfter
	if !errors.As(err, &ra) || ra.RetryAfter() != 7*time.Second {
		t.Errorf("err %v carries no RetryAfter of 7s", err)
	}
	if _, _, err := s.Embed(t.Context(), m, []string{"x"}); !errors.Is(err, engine.ErrQueueFull) {
		t.Errorf("Embed: err = %v, want ErrQueueFull", err)
	}
	if n := up.Generations(); n != 1 {
		t.Errorf("upstream saw %d generations, want 1", n)
	}

	a.free()
	b.free()
	for _, c := range []*call{a, b} {
		if err := recv(t, c.done); err != nil {
			t.Error(err)
		}
	}
	waitLoad(t, s, []engine.ModelLoad{})
}

func TestSchedulerQueuedCancelLeavesQueue(t *testing.T) {
	s, up := newScheduler(t, engine.SchedulerConfig{Limits: engine.Limits{MaxConcurrent: 1, MaxQueue: 1}})
	m := enginetest.DefaultModel

	a := start(t, t.Context(), s, chat(m, "a a"))
	recv(t, a.started)
	ctx, cancel := context.WithCancel(t.Context())
	b := start(t, ctx, s, chat(m, "b b"))
	waitLoad(t, s, []engine.ModelLoad{{Model: m, InFlight: 1, Queued: 1}})

	cancel()
	if err := recv(t, b.done); !errors.Is(err, context.Canceled) {
		t.Fatalf("queued request: err = %v, want context.Canceled", err)
	}
	// It left at once: its place is free while a still runs.
	if diff := cmp.Diff([]engine.ModelLoad{{Model: m, InFlight: 1, Queued: 0}}, s.Load()); diff != "" {
		t.Errorf("load after cancel (-want +got):\n%s", diff)
	}
	c := start(t, t.Context(), s, chat(m, "c c"))
	waitLoad(t, s, []engine.ModelLoad{{Model: m, InFlight: 1, Queued: 1}})

	a.free()
	recv(t, c.started)
	c.free()
	for _, x := range []*call{a, c} {
		if err := recv(t, x.done); err != nil {
			t.Error(err)
		}
	}
	if n := up.Generations(); n != 2 {
		t.Errorf("upstream saw %d generations, want 2 (the cancelled one never ran)", n)
	}
	waitLoad(t, s, []engine.ModelLoad{})
}

func TestSchedulerFIFO(t *testing.T) {
	s, _ := newScheduler(t, engine.SchedulerConfig{Limits: engine.Limits{MaxConcurrent: 1, MaxQueue: 8}})
	m := enginetest.DefaultModel

	first := start(t, t.Context(), s, chat(m, "first"))
	recv(t, first.started)
	var order []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, word := range []string{"one", "two", "three"} {
		wg.Go(func() {
			_, err := s.Generate(t.Context(), chat(m, word), func(c engine.Chunk) error {
				mu.Lock()
				order = append(order, c.Text)
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
		waitLoad(t, s, []engine.ModelLoad{{Model: m, InFlight: 1, Queued: i + 1}})
	}
	first.free()
	wg.Wait()
	if diff := cmp.Diff([]string{"one", "two", "three"}, order); diff != "" {
		t.Errorf("service order (-want +got):\n%s", diff)
	}
}

func TestSchedulerPerModelLimits(t *testing.T) {
	s, _ := newScheduler(t, engine.SchedulerConfig{
		Limits: engine.Limits{MaxConcurrent: 1, MaxQueue: -1},
		Models: map[string]engine.Limits{"wide": {MaxConcurrent: 2}},
	}, "narrow", "wide")

	n := start(t, t.Context(), s, chat("narrow", "x y"))
	recv(t, n.started)
	// narrow is full and has no queue; wide is not affected.
	if _, err := s.Generate(t.Context(), chat("narrow", "z"), func(engine.Chunk) error { return nil }); !errors.Is(err, engine.ErrQueueFull) {
		t.Errorf("narrow: err = %v, want ErrQueueFull", err)
	}
	w1 := start(t, t.Context(), s, chat("wide", "x y"))
	w2 := start(t, t.Context(), s, chat("wide", "x y"))
	recv(t, w1.started)
	recv(t, w2.started)
	want := []engine.ModelLoad{{Model: "narrow", InFlight: 1}, {Model: "wide", InFlight: 2}}
	if diff := cmp.Diff(want, s.Load()); diff != "" {
		t.Errorf("load (-want +got):\n%s", diff)
	}
	for _, c := range []*call{n, w1, w2} {
		c.free()
		if err := recv(t, c.done); err != nil {
			t.Error(err)
		}
	}
}

func TestSchedulerCancelReachesUpstream(t *testing.T) {
	s, up := newScheduler(t, engine.SchedulerConfig{})
	up.SetFault(1, enginetest.FaultStall)
	ctx, cancel := context.WithCancel(t.Context())
	c := start(t, ctx, s, chat(enginetest.DefaultModel, "a b c"))
	recv(t, c.started)
	c.free()
	cancel()
	recv(t, up.Canceled())
	if err := recv(t, c.done); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	waitLoad(t, s, []engine.ModelLoad{})
}

func TestSchedulerPassesThrough(t *testing.T) {
	s, _ := newScheduler(t, engine.SchedulerConfig{})
	models, err := s.Models(t.Context())
	if err != nil || len(models) != 1 || models[0].ID != enginetest.DefaultModel {
		t.Errorf("Models = %v, %v", models, err)
	}
	vecs, _, err := s.Embed(t.Context(), enginetest.DefaultModel, []string{"q"})
	if err != nil || !cmp.Equal(vecs, [][]float32{enginetest.Embedding("q")}) {
		t.Errorf("Embed = %v, %v", vecs, err)
	}
	if h := s.Health(t.Context()); len(h) != 1 || !h[0].Healthy {
		t.Errorf("Health = %+v", h)
	}
	if _, err := s.Generate(t.Context(), nil, nil); !errors.Is(err, engine.ErrInvalidRequest) {
		t.Errorf("nil request: err = %v", err)
	}
}

func TestMetrics(t *testing.T) {
	s, _ := newScheduler(t, engine.SchedulerConfig{Limits: engine.Limits{MaxConcurrent: 1}})
	reg := prometheus.NewRegistry()
	if err := engine.RegisterMetrics(reg, s); err != nil {
		t.Fatal(err)
	}
	m := enginetest.DefaultModel
	a := start(t, t.Context(), s, chat(m, "a b"))
	recv(t, a.started)
	b := start(t, t.Context(), s, chat(m, "a b"))
	waitLoad(t, s, []engine.ModelLoad{{Model: m, InFlight: 1, Queued: 1}})
	// Health is known once the pool's first check is done.
	if _, err := s.Models(t.Context()); err != nil {
		t.Fatal(err)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			key := f.GetName()
			for _, l := range mt.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = mt.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"silo_engine_queue_depth{model=echo}":     1,
		"silo_engine_in_flight{model=echo}":       1,
		"silo_engine_backend_healthy{backend=b0}": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	a.free()
	b.free()
	recv(t, a.done)
	recv(t, b.done)
}
