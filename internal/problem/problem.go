// Package problem is the one place where silo's errors become HTTP answers:
// RFC 9457 problem+json on /api/v1 and OpenAI error objects on /v1, with the
// status, a stable problem type, and Retry-After where the error carries one.
//
// Only the text of an *Error (made for the client) and the fixed titles of
// known sentinels reach a client; any other error is logged by the caller
// and answered as a bare internal error, so internal causes never leak.
package problem

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/store"
)

// TypePrefix starts every problem type URI; the slug after it is stable.
const TypePrefix = "urn:silo:problem:"

// Error is an error meant for the client: its Detail and Errors are shown.
type Error struct {
	Status int
	Slug   string // stable, e.g. "invalid-request"
	Title  string
	Detail string
	Errors []string
	Err    error // optional cause, not shown
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Title + ": " + e.Detail
	}
	return e.Title
}

func (e *Error) Unwrap() error { return e.Err }

// Invalid returns a 400 problem with a detail for the client.
func Invalid(detail string, errs ...string) *Error {
	return &Error{Status: http.StatusBadRequest, Slug: "invalid-request", Title: "Invalid request", Detail: detail, Errors: errs}
}

// Forbidden returns a 403 problem.
func Forbidden(detail string) *Error {
	return &Error{Status: http.StatusForbidden, Slug: "forbidden", Title: "Forbidden", Detail: detail}
}

// Conflict returns a 409 problem.
func Conflict(detail string) *Error {
	return &Error{Status: http.StatusConflict, Slug: "conflict", Title: "Conflict", Detail: detail}
}

// NotFound returns a 404 problem.
func NotFound(detail string) *Error {
	return &Error{Status: http.StatusNotFound, Slug: "not-found", Title: "Not found", Detail: detail}
}

// Info is how an error is answered.
type Info struct {
	Status     int
	Slug       string
	Title      string
	Detail     string
	Errors     []string
	RetryAfter time.Duration
	// OpenAI error object fields.
	OpenAIType string
	OpenAICode string
	// Internal is true when the error is not one we know: log it.
	Internal bool
}

// Classify maps an error to its answer.
func Classify(err error) Info {
	var in Info
	var pe *Error
	switch {
	case errors.As(err, &pe):
		in = Info{Status: pe.Status, Slug: pe.Slug, Title: pe.Title, Detail: pe.Detail, Errors: pe.Errors}
	case errors.Is(err, identity.ErrUnauthenticated):
		in = Info{Status: 401, Slug: "unauthenticated", Title: "Authentication required", OpenAICode: "invalid_api_key",
			Detail: "missing or invalid API key"}
	case errors.Is(err, metering.ErrQuotaExceeded):
		in = Info{Status: 429, Slug: "quota-exceeded", Title: "Daily token quota exceeded", OpenAIType: "insufficient_quota", OpenAICode: "insufficient_quota"}
	case errors.Is(err, metering.ErrRateLimited):
		in = Info{Status: 429, Slug: "rate-limited", Title: "Rate limit exceeded", OpenAIType: "requests", OpenAICode: "rate_limit_exceeded"}
	case errors.Is(err, engine.ErrQueueFull):
		in = Info{Status: 429, Slug: "queue-full", Title: "The model is busy; retry later", OpenAIType: "server_error", OpenAICode: "queue_full"}
	case errors.Is(err, engine.ErrModelNotFound):
		in = Info{Status: 404, Slug: "model-not-found", Title: "Model not found", OpenAICode: "model_not_found"}
	case errors.Is(err, engine.ErrInvalidRequest):
		in = Info{Status: 400, Slug: "invalid-request", Title: "Invalid request", Detail: err.Error()}
	case errors.Is(err, engine.ErrUnavailable):
		in = Info{Status: 503, Slug: "engine-unavailable", Title: "No engine can serve this model now", OpenAIType: "server_error", RetryAfter: 5 * time.Second}
	case errors.Is(err, store.ErrNotFound):
		in = Info{Status: 404, Slug: "not-found", Title: "Not found"}
	case errors.Is(err, store.ErrConflict):
		in = Info{Status: 409, Slug: "conflict", Title: "Already exists"}
	default:
		in = Info{Status: 500, Slug: "internal", Title: "Internal error", OpenAIType: "server_error", Internal: true}
	}
	var ra engine.RetryAfter
	if errors.As(err, &ra) {
		in.RetryAfter = ra.RetryAfter()
	}
	if in.OpenAIType == "" {
		in.OpenAIType = "invalid_request_error"
	}
	return in
}

func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	if d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}

// Body is the problem+json document.
type Body struct {
	Type     string   `json:"type"`
	Title    string   `json:"title"`
	Status   int      `json:"status"`
	Detail   string   `json:"detail,omitempty"`
	Instance string   `json:"instance,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Write answers err as problem+json.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	in := Classify(err)
	setRetryAfter(w, in.RetryAfter)
	if in.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="silo"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(in.Status)
	json.NewEncoder(w).Encode(Body{
		Type: TypePrefix + in.Slug, Title: in.Title, Status: in.Status,
		Detail: truncate(in.Detail, 2000), Instance: truncate(r.URL.Path, 500), Errors: truncateAll(in.Errors),
	})
}

// OpenAIError is the error object of the OpenAI API.
type OpenAIError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// OpenAIObject returns the OpenAI error object for err.
func OpenAIObject(err error) (Info, OpenAIError) {
	in := Classify(err)
	msg := in.Title
	if in.Detail != "" {
		msg = in.Detail
	}
	o := OpenAIError{Message: msg, Type: in.OpenAIType}
	if in.OpenAICode != "" {
		o.Code = &in.OpenAICode
	}
	return in, o
}

// WriteOpenAI answers err as an OpenAI error object.
func WriteOpenAI(w http.ResponseWriter, err error) {
	in, o := OpenAIObject(err)
	setRetryAfter(w, in.RetryAfter)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(in.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": o})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func truncateAll(ss []string) []string {
	if len(ss) > 20 {
		ss = ss[:20]
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = truncate(s, 1000)
	}
	return out
}
