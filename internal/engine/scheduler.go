package engine

import (
	"container/list"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Limits bound the load on one model.
type Limits struct {
	// MaxConcurrent is how many requests run at once (default 4).
	MaxConcurrent int
	// MaxQueue is how many more requests may wait for a slot (default 64);
	// negative: none wait, a request beyond MaxConcurrent is refused.
	MaxQueue int
}

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	// Limits apply to every model not named in Models.
	Limits Limits
	// Models overrides Limits per model; zero fields take Limits' values.
	Models map[string]Limits
	// RetryAfter is the back-off hint carried by ErrQueueFull (default 1s).
	RetryAfter time.Duration
}

// Scheduler is an Engine in front of another: it gives each model a
// bounded FIFO queue and a bound on concurrent requests.
//
// A request that finds its model's queue full fails at once with an error
// that wraps ErrQueueFull and implements RetryAfter. A waiting request whose
// context ends leaves the queue at once and returns the context's error.
// The context given to Generate and Embed is the one the engine sees, so
// cancelling it (a client disconnecting) cancels the generation.
type Scheduler struct {
	e   Engine
	cfg SchedulerConfig

	mu     sync.Mutex
	queues map[string]*modelQueue // models with requests running or waiting
}

var _ Engine = (*Scheduler)(nil)

type modelQueue struct {
	limits  Limits
	running int
	waiting list.List // of *waiter, oldest first
}

type waiter struct {
	ready   chan struct{} // closed when the waiter is handed a slot
	granted bool          // guarded by Scheduler.mu
}

// NewScheduler returns a Scheduler in front of e.
func NewScheduler(e Engine, cfg SchedulerConfig) *Scheduler {
	cfg.Limits = cfg.Limits.withDefaults(Limits{MaxConcurrent: 4, MaxQueue: 64})
	models := make(map[string]Limits, len(cfg.Models))
	for m, l := range cfg.Models {
		models[m] = l.withDefaults(cfg.Limits)
	}
	cfg.Models = models
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = time.Second
	}
	return &Scheduler{e: e, cfg: cfg, queues: make(map[string]*modelQueue)}
}

func (l Limits) withDefaults(def Limits) Limits {
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = def.MaxConcurrent
	}
	if l.MaxQueue == 0 {
		l.MaxQueue = def.MaxQueue
	}
	if l.MaxQueue < 0 {
		l.MaxQueue = 0
	}
	return l
}

// queueFullError is ErrQueueFull with the model and a back-off hint.
type queueFullError struct {
	model string
	after time.Duration
}

func (e *queueFullError) Error() string {
	return fmt.Sprintf("engine: model %q: %v", e.model, ErrQueueFull)
}
func (e *queueFullError) Unwrap() error             { return ErrQueueFull }
func (e *queueFullError) RetryAfter() time.Duration { return e.after }

// acquire takes a slot for model, waiting in its queue if need be. The
// returned release must be called once the request is done.
func (s *Scheduler) acquire(ctx context.Context, model string) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	q := s.queues[model]
	if q == nil {
		l, ok := s.cfg.Models[model]
		if !ok {
			l = s.cfg.Limits
		}
		q = &modelQueue{limits: l}
		s.queues[model] = q
	}
	if q.running < q.limits.MaxConcurrent && q.waiting.Len() == 0 {
		q.running++
		s.mu.Unlock()
		return s.releaser(model, q), nil
	}
	if q.waiting.Len() >= q.limits.MaxQueue {
		s.mu.Unlock()
		return nil, &queueFullError{model: model, after: s.cfg.RetryAfter}
	}
	w := &waiter{ready: make(chan struct{})}
	el := q.waiting.PushBack(w)
	s.mu.Unlock()

	select {
	case <-w.ready:
		return s.releaser(model, q), nil
	case <-ctx.Done():
		s.mu.Lock()
		if w.granted {
			// Handed a slot as ctx ended: pass it on.
			s.mu.Unlock()
			s.releaser(model, q)()
		} else {
			q.waiting.Remove(el)
			s.forgetIfIdle(model, q)
			s.mu.Unlock()
		}
		return nil, fmt.Errorf("engine: model %q: wait in queue: %w", model, ctx.Err())
	}
}

// releaser returns the function that gives back one slot of q: to the
// oldest waiter if there is one.
func (s *Scheduler) releaser(model string, q *modelQueue) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if front := q.waiting.Front(); front != nil {
				w := q.waiting.Remove(front).(*waiter)
				w.granted = true
				close(w.ready)
				return
			}
			q.running--
			s.forgetIfIdle(model, q)
		})
	}
}

// forgetIfIdle drops an idle model's queue, so that request for any number
// of model names cost nothing once they are done. Called with s.mu held.
func (s *Scheduler) forgetIfIdle(model string, q *modelQueue) {
	if q.running == 0 && q.waiting.Len() == 0 {
		delete(s.queues, model)
	}
}

// Generate runs req when its model has a free slot.
func (s *Scheduler) Generate(ctx context.Context, req *Request, emit EmitFunc) (Result, error) {
	if req == nil {
		return Result{}, fmt.Errorf("engine: generate: %w: no request", ErrInvalidRequest)
	}
	release, err := s.acquire(ctx, req.Model)
	if err != nil {
		return Result{}, err
	}
	defer release()
	return s.e.Generate(ctx, req, emit)
}

// Embed runs an embeddings request when its model has a free slot.
func (s *Scheduler) Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error) {
	release, err := s.acquire(ctx, model)
	if err != nil {
		return nil, Usage{}, err
	}
	defer release()
	return s.e.Embed(ctx, model, inputs)
}

// Models lists the engine's models.
func (s *Scheduler) Models(ctx context.Context) ([]ModelInfo, error) { return s.e.Models(ctx) }

// Health reports on the engine's backends.
func (s *Scheduler) Health(ctx context.Context) []Health { return s.e.Health(ctx) }

// Close closes the engine.
func (s *Scheduler) Close() error { return s.e.Close() }

// ModelLoad is the load on one model at one moment.
type ModelLoad struct {
	Model    string
	InFlight int // requests running
	Queued   int // requests waiting for a slot
}

// Load reports the models that have requests running or waiting, sorted by
// name.
func (s *Scheduler) Load() []ModelLoad {
	s.mu.Lock()
	out := make([]ModelLoad, 0, len(s.queues))
	for m, q := range s.queues {
		out = append(out, ModelLoad{Model: m, InFlight: q.running, Queued: q.waiting.Len()})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ModelLoad) int { return strings.Compare(a.Model, b.Model) })
	return out
}
