package upstream

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-ai/silo/internal/engine"
)

// outcome is what one request taught a backend's circuit.
type outcome int

const (
	// neutral: says nothing about the backend (the client cancelled, emit
	// failed, the upstream asked to back off).
	neutral outcome = iota
	success
	failure
)

// backend is one server and its state: health from checks, the circuit
// from traffic, and the load.
type backend struct {
	cfg      Backend
	base     string // URL ending in /v1
	inFlight atomic.Int64

	mu        sync.Mutex
	checked   bool
	healthy   bool
	detail    string            // why the last check failed, or notes
	models    map[string]string // silo name -> upstream name
	failures  int               // consecutive
	open      bool
	openUntil time.Time
	probing   bool // a half-open probe is in flight
}

// serves reports whether b serves model and under which upstream name.
func (b *backend) serves(model string) (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	um, ok := b.models[model]
	return um, ok
}

func (b *backend) modelIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, 0, len(b.models))
	for id := range b.models {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// available reports whether a request could be admitted now, and if not,
// roughly when to look again.
func (b *backend) available(now time.Time, healthInterval time.Duration) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.healthy {
		return false, healthInterval
	}
	if b.open {
		if now.Before(b.openUntil) {
			return false, b.openUntil.Sub(now)
		}
		if b.probing {
			return false, time.Second
		}
	}
	return true, 0
}

// admit takes a request slot; for a half-open circuit, the single probe.
func (b *backend) admit(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.healthy {
		return false
	}
	if b.open {
		if now.Before(b.openUntil) || b.probing {
			return false
		}
		b.probing = true
	}
	b.inFlight.Add(1)
	return true
}

// release returns a request slot and updates the circuit. It reports
// whether the circuit opened.
func (b *backend) release(now time.Time, o outcome, threshold int, coolDown time.Duration) bool {
	b.inFlight.Add(-1)
	b.mu.Lock()
	defer b.mu.Unlock()
	wasProbe := b.probing && b.open
	switch o {
	case success:
		b.failures = 0
		b.open = false
		b.probing = false
	case failure:
		b.failures++
		if wasProbe || (!b.open && b.failures >= threshold) {
			b.open = true
			b.openUntil = now.Add(coolDown)
			b.probing = false
			return true
		}
	case neutral:
		if wasProbe {
			b.probing = false
		}
	}
	return false
}

// setHealth records a health check: the models listed, or the error.
func (b *backend) setHealth(ids []string, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.checked = true
	if err != nil {
		b.healthy = false
		b.detail = err.Error()
		return
	}
	b.healthy = true
	b.detail = ""
	if len(b.cfg.Models) == 0 {
		b.models = make(map[string]string, len(ids))
		for _, id := range ids {
			b.models[id] = id
		}
		return
	}
	var missing []string
	for silo, um := range b.cfg.Models {
		if !slices.Contains(ids, um) {
			missing = append(missing, fmt.Sprintf("%s (%s)", silo, um))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		b.detail = "upstream does not list " + strings.Join(missing, ", ")
	}
}

func (b *backend) health(now time.Time) engine.Health {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := engine.Health{Name: b.cfg.Name, Healthy: b.healthy}
	var notes []string
	switch {
	case !b.checked:
		notes = append(notes, "not checked yet")
	case !b.healthy:
		notes = append(notes, "health check failed: "+b.detail)
	case b.detail != "":
		notes = append(notes, b.detail)
	}
	if b.open && now.Before(b.openUntil) {
		h.Healthy = false
		notes = append(notes, fmt.Sprintf("circuit open for %s after %d failures", b.openUntil.Sub(now).Round(time.Second), b.failures))
	} else if b.open {
		notes = append(notes, "circuit half-open")
	}
	notes = append(notes, fmt.Sprintf("%d in flight, %d models", b.inFlight.Load(), len(b.models)))
	h.Detail = strings.Join(notes, "; ")
	return h
}

// newRequest builds a request to path under the backend's /v1 base.
func (b *backend) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("upstream: backend %q: build request: %w", b.cfg.Name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	if b.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+b.cfg.APIKey)
	}
	return req, nil
}

// listModels asks a backend for its models: the health check.
func (p *Pool) listModels(ctx context.Context, b *backend) ([]string, error) {
	req, err := b.newRequest(ctx, http.MethodGet, "/models", nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", redact(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("list models: status %d: %s", resp.StatusCode, errorMessage(body))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&list); err != nil {
		return nil, fmt.Errorf("list models: decode: %w", err)
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID != "" {
			ids = append(ids, m.ID)
		}
	}
	return ids, nil
}
