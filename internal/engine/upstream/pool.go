// Package upstream provides Pool, an engine.Engine over a pool of
// OpenAI-compatible inference servers (vLLM, llama.cpp's llama-server,
// Ollama's /v1).
//
// What a Pool promises:
//
//   - Health: every backend is checked with GET /v1/models at start and then
//     every Config.HealthInterval. A backend configured without a model map
//     serves the models its last successful check listed, under the same
//     names. Requests wait for the first round of checks (bounded by their
//     context) so that a new pool does not answer "model not found" for a
//     model it has not yet learnt.
//   - Routing: a request goes to the healthy backend serving its model with
//     the fewest requests in flight; ties rotate.
//   - Retry only before the first byte: a connection error, a timeout
//     awaiting headers, a 5xx, 401, 403, 408 or 429, or a stream that breaks
//     before any text was emitted is retried on another backend (each backend
//     at most once per request). Once emit has been called, a failure is
//     returned, never retried, so a client never sees text twice.
//   - Circuit breaking: Config.FailureThreshold consecutive failures open a
//     backend's circuit for Config.CoolDown; then one request probes it
//     (half-open) and closes the circuit on success or reopens it on failure.
//   - Streaming: Generate always streams from the upstream (stream:true,
//     stream_options.include_usage) and passes sampling parameters, stop,
//     seed and logprobs through. Usage comes from the upstream's usage chunk.
//     A stream that is cut, malformed, or ends without "data: [DONE]" returns
//     an error wrapping engine.ErrUnavailable, and a stream with no event for
//     Config.IdleTimeout is abandoned: Generate never hangs on a dead
//     upstream. Cancelling ctx cancels the upstream HTTP request.
//   - Errors: a model no backend serves is engine.ErrModelNotFound; no
//     usable backend is engine.ErrUnavailable (with a RetryAfter hint); an
//     upstream 429 is engine.ErrQueueFull (with the upstream's Retry-After);
//     other upstream 4xx are engine.ErrInvalidRequest carrying the upstream's
//     message. Errors name backends and never carry their keys or URL
//     credentials.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-ai/silo/internal/engine"
)

// Backend is one OpenAI-compatible server.
type Backend struct {
	// Name identifies the backend in health reports, metrics and errors.
	Name string
	// URL is the server's base URL, with or without the trailing /v1
	// (http://gpu1:8000, http://localhost:11434/v1).
	URL string
	// APIKey, if set, is sent as "Authorization: Bearer APIKey".
	APIKey string
	// Models maps silo model names to the names the upstream knows them by.
	// Empty: serve whatever the upstream lists, under the same names.
	Models map[string]string
}

// Config configures a Pool. Zero durations and thresholds take the
// defaults named on each field.
type Config struct {
	Backends []Backend
	// HealthInterval is the time between health checks (default 10s).
	HealthInterval time.Duration
	// HealthTimeout bounds one health check (default 5s).
	HealthTimeout time.Duration
	// ConnectTimeout bounds dialing a backend (default 5s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for response headers, and an
	// embeddings call as a whole (default 60s).
	ResponseTimeout time.Duration
	// IdleTimeout bounds the gap between two events of a stream, the first
	// included (default 60s).
	IdleTimeout time.Duration
	// FailureThreshold is the number of consecutive failures that opens a
	// backend's circuit (default 3).
	FailureThreshold int
	// CoolDown is how long an open circuit stays open before a probe
	// (default 30s).
	CoolDown time.Duration
	// Logger receives retries and circuit changes (default: discarded).
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	durations := []struct {
		d   *time.Duration
		def time.Duration
		n   string
	}{
		{&c.HealthInterval, 10 * time.Second, "health interval"},
		{&c.HealthTimeout, 5 * time.Second, "health timeout"},
		{&c.ConnectTimeout, 5 * time.Second, "connect timeout"},
		{&c.ResponseTimeout, 60 * time.Second, "response timeout"},
		{&c.IdleTimeout, 60 * time.Second, "idle timeout"},
		{&c.CoolDown, 30 * time.Second, "cool-down"},
	}
	for _, d := range durations {
		if *d.d < 0 {
			return fmt.Errorf("upstream: negative %s", d.n)
		}
		if *d.d == 0 {
			*d.d = d.def
		}
	}
	if c.FailureThreshold < 0 {
		return errors.New("upstream: negative failure threshold")
	}
	if c.FailureThreshold == 0 {
		c.FailureThreshold = 3
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Pool is an engine.Engine over OpenAI-compatible servers. It is safe for
// concurrent use.
type Pool struct {
	cfg      Config
	backends []*backend
	client   *http.Client
	now      func() time.Time
	started  time.Time
	rr       atomic.Uint64

	ctx        context.Context // ends at Close
	stop       context.CancelFunc
	firstRound chan struct{}
	loopDone   chan struct{}
	closeOnce  sync.Once
}

var _ engine.Engine = (*Pool)(nil)

// New validates cfg and starts a pool: its first round of health checks
// runs in the background. Close stops it.
func New(cfg Config) (*Pool, error) {
	return newPool(cfg, time.Now)
}

func newPool(cfg Config, now func() time.Time) (*Pool, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if len(cfg.Backends) == 0 {
		return nil, errors.New("upstream: no backends configured")
	}
	p := &Pool{cfg: cfg, now: now, started: now(), firstRound: make(chan struct{}), loopDone: make(chan struct{})}
	names := map[string]bool{}
	for i, bc := range cfg.Backends {
		b, err := newBackend(bc)
		if err != nil {
			return nil, fmt.Errorf("upstream: backend %d: %w", i, err)
		}
		if names[b.cfg.Name] {
			return nil, fmt.Errorf("upstream: backend name %q used twice", b.cfg.Name)
		}
		names[b.cfg.Name] = true
		p.backends = append(p.backends, b)
	}
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
	p.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // backends are addressed directly
			DialContext:           dialer.DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   cfg.ConnectTimeout,
			ResponseHeaderTimeout: cfg.ResponseTimeout,
		},
		// Redirects are not part of the protocol; following one could send
		// the API key elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.ctx, p.stop = context.WithCancel(context.Background())
	go p.loop()
	return p, nil
}

func newBackend(bc Backend) (*backend, error) {
	u, err := url.Parse(strings.TrimRight(bc.URL, "/"))
	if err != nil {
		return nil, errors.New("invalid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("URL must be http(s)://host[:port][/path]")
	}
	if !strings.HasSuffix(u.Path, "/v1") {
		u.Path += "/v1"
	}
	if bc.Name == "" {
		bc.Name = u.Host
	}
	models := map[string]string{}
	for k, v := range bc.Models {
		if k == "" || v == "" {
			return nil, fmt.Errorf("backend %q: empty model name in map", bc.Name)
		}
		models[k] = v
	}
	bc.Models = models
	return &backend{cfg: bc, base: u.String(), models: models}, nil
}

func (p *Pool) loop() {
	defer close(p.loopDone)
	p.Check(p.ctx)
	close(p.firstRound)
	t := time.NewTicker(p.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.Check(p.ctx)
		}
	}
}

// Check runs one round of health checks now, on every backend at once, and
// returns when all have finished.
func (p *Pool) Check(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range p.backends {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, p.cfg.HealthTimeout)
			defer cancel()
			ids, err := p.listModels(ctx, b)
			b.setHealth(ids, err)
			if err != nil {
				p.cfg.Logger.Debug("upstream: health check failed", "backend", b.cfg.Name, "err", err)
			}
		})
	}
	wg.Wait()
}

// ready waits for the first round of health checks.
func (p *Pool) ready(ctx context.Context) error {
	select {
	case <-p.firstRound:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ctx.Done():
		return fmt.Errorf("upstream: %w: pool closed", engine.ErrUnavailable)
	}
}

// Close stops health checks and closes idle connections. Requests in
// flight are not interrupted; cancel their contexts for that.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.stop()
		<-p.loopDone
		p.client.CloseIdleConnections()
	})
	return nil
}

// Models lists the union of the models the backends serve, sorted by ID.
func (p *Pool) Models(ctx context.Context) ([]engine.ModelInfo, error) {
	if err := p.ready(ctx); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []engine.ModelInfo
	for _, b := range p.backends {
		for _, id := range b.modelIDs() {
			if seen[id] {
				continue
			}
			seen[id] = true
			// Embeddings: an upstream does not say which models embed; it
			// answers the request or refuses it.
			out = append(out, engine.ModelInfo{ID: id, OwnedBy: "silo", Created: p.started, Engine: "upstream", Embeddings: true})
		}
	}
	slices.SortFunc(out, func(a, b engine.ModelInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Health reports each backend: healthy when its last check succeeded and
// its circuit lets requests through.
func (p *Pool) Health(ctx context.Context) []engine.Health {
	now := p.now()
	out := make([]engine.Health, 0, len(p.backends))
	for _, b := range p.backends {
		out = append(out, b.health(now))
	}
	return out
}

// errNoBackend is returned when no backend can take a request now.
type unavailableError struct {
	model string
	after time.Duration
}

func (e *unavailableError) Error() string {
	return fmt.Sprintf("upstream: model %q: %v: no healthy backend", e.model, engine.ErrUnavailable)
}
func (e *unavailableError) Unwrap() error             { return engine.ErrUnavailable }
func (e *unavailableError) RetryAfter() time.Duration { return e.after }

// queueFullError is an upstream's 429.
type queueFullError struct {
	backend string
	msg     string
	after   time.Duration
}

func (e *queueFullError) Error() string {
	return fmt.Sprintf("upstream: backend %q: %v: %s", e.backend, engine.ErrQueueFull, e.msg)
}
func (e *queueFullError) Unwrap() error             { return engine.ErrQueueFull }
func (e *queueFullError) RetryAfter() time.Duration { return e.after }

// attempt is what one try on one backend came to.
type attempt struct {
	err     error
	retry   bool    // another backend may be tried
	outcome outcome // what the circuit learns
}

// route runs try on backends serving model, least loaded first, until one
// succeeds or fails in a way that must not be retried.
func (p *Pool) route(ctx context.Context, model string, try func(b *backend, upstreamModel string) attempt) error {
	if err := p.ready(ctx); err != nil {
		return err
	}
	tried := map[*backend]bool{}
	var last error
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, um, err := p.pick(model, tried)
		if err != nil {
			if last != nil {
				return last
			}
			return err
		}
		tried[b] = true
		a := try(b, um)
		p.release(b, a.outcome)
		if a.err == nil || !a.retry {
			return a.err
		}
		p.cfg.Logger.Debug("upstream: retrying on another backend", "backend", b.cfg.Name, "model", model, "err", a.err)
		last = a.err
	}
}

// pick chooses the least-loaded admissible backend serving model that has
// not been tried, and admits a request to it.
func (p *Pool) pick(model string, tried map[*backend]bool) (*backend, string, error) {
	for {
		now := p.now()
		known := false
		var best *backend
		var bestModel string
		var bestLoad int64
		var wait time.Duration = -1
		start := int(p.rr.Add(1) % uint64(len(p.backends)))
		for i := range p.backends {
			b := p.backends[(start+i)%len(p.backends)]
			um, ok := b.serves(model)
			if !ok {
				continue
			}
			known = true
			if tried[b] {
				continue
			}
			if ok, after := b.available(now, p.cfg.HealthInterval); !ok {
				if wait < 0 || after < wait {
					wait = after
				}
				continue
			}
			if load := b.inFlight.Load(); best == nil || load < bestLoad {
				best, bestModel, bestLoad = b, um, load
			}
		}
		if !known {
			return nil, "", fmt.Errorf("upstream: %w: %q", engine.ErrModelNotFound, model)
		}
		if best == nil {
			if wait < time.Second {
				wait = time.Second
			}
			return nil, "", &unavailableError{model: model, after: wait.Round(time.Second)}
		}
		if best.admit(now) {
			return best, bestModel, nil
		}
		// Lost a race for a half-open probe: look again.
	}
}

func (p *Pool) release(b *backend, o outcome) {
	opened := b.release(p.now(), o, p.cfg.FailureThreshold, p.cfg.CoolDown)
	if opened {
		p.cfg.Logger.Warn("upstream: circuit opened", "backend", b.cfg.Name, "cool_down", p.cfg.CoolDown)
	}
}

// classifyStatus turns a non-200 answer into an attempt.
func classifyStatus(b *backend, resp *http.Response, body []byte) attempt {
	msg := errorMessage(body)
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	base := fmt.Errorf("upstream: backend %q answered %d: %s", b.cfg.Name, resp.StatusCode, msg)
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests:
		after := time.Second
		if s, err := time.ParseDuration(strings.TrimSpace(resp.Header.Get("Retry-After")) + "s"); err == nil && s > 0 && s < time.Hour {
			after = s
		}
		return attempt{err: &queueFullError{backend: b.cfg.Name, msg: msg, after: after}, retry: true, outcome: neutral}
	case code >= 500, code == http.StatusUnauthorized, code == http.StatusForbidden, code == http.StatusRequestTimeout:
		// The backend is broken or misconfigured (a 401 is our key, not
		// the client's fault).
		return attempt{err: fmt.Errorf("%w: %w", engine.ErrUnavailable, base), retry: true, outcome: failure}
	case code == http.StatusNotFound:
		return attempt{err: fmt.Errorf("upstream: backend %q: %w: %s", b.cfg.Name, engine.ErrModelNotFound, msg), outcome: success}
	case code >= 400:
		return attempt{err: fmt.Errorf("upstream: %w: %s", engine.ErrInvalidRequest, msg), outcome: success}
	}
	return attempt{err: fmt.Errorf("%w: %w", engine.ErrUnavailable, base), retry: true, outcome: failure}
}
