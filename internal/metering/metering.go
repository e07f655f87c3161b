// Package metering records token usage per user, API key and model, and
// enforces each user's limits: a token quota per UTC day (checked against
// the store, so it holds across replicas) and a request rate per minute
// (a token bucket per user, held in this process).
//
// Limits are exact: with a rate of N per minute the (N+1)th request inside
// the minute is refused; with a quota of Q tokens a request is admitted only
// while fewer than Q tokens were used today, and its completion is capped at
// what remains, so usage never passes Q by more than one request's prompt.
package metering

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/silo-ai/silo/internal/store"
)

// Errors returned by Admit. Both implement RetryAfter.
var (
	ErrQuotaExceeded = errors.New("daily token quota exceeded")
	ErrRateLimited   = errors.New("request rate limit exceeded")
)

type limitError struct {
	err   error
	after time.Duration
}

func (e *limitError) Error() string             { return e.err.Error() }
func (e *limitError) Unwrap() error             { return e.err }
func (e *limitError) RetryAfter() time.Duration { return e.after }

// Meter admits requests and records their usage.
type Meter struct {
	st  store.Store
	now func() time.Time

	mu       sync.Mutex
	limiters map[uuid.UUID]*userLimiter
}

type userLimiter struct {
	rpm int64
	lim *rate.Limiter
}

// New returns a Meter over st.
func New(st store.Store) *Meter {
	return &Meter{st: st, now: time.Now, limiters: make(map[uuid.UUID]*userLimiter)}
}

// Admission is an admitted request's budget.
type Admission struct {
	// MaxTokens caps the completion so the quota holds; 0 means no cap.
	MaxTokens int
}

// startOfDay is the start of the UTC day containing t.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// Admit checks a user's rate limit and daily quota before a generation.
func (m *Meter) Admit(ctx context.Context, userID uuid.UUID) (Admission, error) {
	lim, err := m.st.GetLimits(ctx, userID)
	if err != nil {
		return Admission{}, fmt.Errorf("metering: admit: %w", err)
	}
	now := m.now()
	if lim.RequestsPerMinute > 0 {
		if !m.limiter(userID, lim.RequestsPerMinute).AllowN(now, 1) {
			return Admission{}, &limitError{ErrRateLimited, time.Minute / time.Duration(lim.RequestsPerMinute)}
		}
	}
	if lim.TokensPerDay <= 0 {
		return Admission{}, nil
	}
	used, err := m.st.TokensUsed(ctx, userID, startOfDay(now))
	if err != nil {
		return Admission{}, fmt.Errorf("metering: admit: %w", err)
	}
	if used >= lim.TokensPerDay {
		return Admission{}, &limitError{ErrQuotaExceeded, startOfDay(now).Add(24 * time.Hour).Sub(now)}
	}
	return Admission{MaxTokens: int(min(lim.TokensPerDay-used, 1<<30))}, nil
}

func (m *Meter) limiter(userID uuid.UUID, rpm int64) *rate.Limiter {
	m.mu.Lock()
	defer m.mu.Unlock()
	ul := m.limiters[userID]
	if ul == nil || ul.rpm != rpm {
		ul = &userLimiter{rpm: rpm, lim: rate.NewLimiter(rate.Limit(float64(rpm)/60), int(rpm))}
		m.limiters[userID] = ul
	}
	return ul.lim
}

// Record stores one request's usage.
func (m *Meter) Record(ctx context.Context, userID uuid.UUID, keyID *uuid.UUID, model string, prompt, completion int) error {
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("metering: record: %w", err)
	}
	err = m.st.RecordUsage(ctx, &store.Usage{
		ID:               id,
		UserID:           userID,
		KeyID:            keyID,
		Model:            model,
		PromptTokens:     int64(prompt),
		CompletionTokens: int64(completion),
		CreatedAt:        m.now().UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		return fmt.Errorf("metering: record: %w", err)
	}
	return nil
}

// TokenCounter is told how many tokens went in and out (for /metrics).
type TokenCounter interface {
	AddTokens(model string, prompt, completion int)
}

// Cap admits a generation of userID (Admit) and returns maxTokens capped to
// what today's quota leaves; 0 (the engine's default) is capped too when
// the quota needs it.
func (m *Meter) Cap(ctx context.Context, userID uuid.UUID, maxTokens int) (int, error) {
	adm, err := m.Admit(ctx, userID)
	if err != nil {
		return 0, err
	}
	if adm.MaxTokens > 0 && (maxTokens == 0 || maxTokens > adm.MaxTokens) {
		maxTokens = adm.MaxTokens
	}
	return maxTokens, nil
}

// RecordDetached records a finished (or abandoned) generation on a context
// detached from ctx's cancellation, so a client that left is still charged
// for what was computed. A failure is logged, not returned (the answer is
// already sent); tokens, if set, is told the counts. Nothing is recorded
// for a generation that used no tokens.
func (m *Meter) RecordDetached(ctx context.Context, log *slog.Logger, tokens TokenCounter, userID uuid.UUID, keyID *uuid.UUID, model string, prompt, completion int) {
	if prompt == 0 && completion == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.Record(ctx, userID, keyID, model, prompt, completion); err != nil {
		log.ErrorContext(ctx, "recording usage failed", "err", err)
	}
	if tokens != nil {
		tokens.AddTokens(model, prompt, completion)
	}
}
