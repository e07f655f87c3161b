// Package engine defines the contract between silo's HTTP front ends and
// the things that run models: the built-in GGUF engine and the upstream pool
// of OpenAI-compatible servers. It also provides the Scheduler that sits in
// front of every engine (per-model bounded queues, backpressure, cancellation).
//
// Generation streams through a callback: the engine calls emit once per
// decoded piece of text, in order, from a single goroutine. Returning an error
// from emit stops generation; so does cancelling ctx. An engine must stop
// computing within one token of either.
package engine

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. They map to HTTP statuses in one place (internal/server).
var (
	// ErrModelNotFound: no engine serves the requested model.
	ErrModelNotFound = errors.New("model not found")
	// ErrQueueFull: the model's queue is full; the caller should retry later.
	ErrQueueFull = errors.New("model queue is full")
	// ErrUnavailable: the engine cannot serve now (all backends down, circuit open).
	ErrUnavailable = errors.New("engine unavailable")
	// ErrInvalidRequest: the request cannot be served as asked (bad parameters,
	// prompt longer than the context window, unsupported feature).
	ErrInvalidRequest = errors.New("invalid request")
)

// RetryAfter is implemented by errors that carry a back-off hint.
type RetryAfter interface {
	RetryAfter() time.Duration
}

// Message is one turn of a chat.
type Message struct {
	Role    string // system, user, assistant, tool
	Content string
	Name    string
}

// Request is one generation request. Exactly one of Messages (chat) or Prompt
// (raw completion) is set.
type Request struct {
	Model    string
	Messages []Message
	Prompt   string

	MaxTokens         int      // 0: engine default (up to the context window)
	Temperature       *float64 // nil: engine default (1.0 as OpenAI)
	TopP              *float64
	TopK              int
	MinP              float64
	PresencePenalty   float64
	FrequencyPenalty  float64
	RepetitionPenalty float64 // 0 or 1: off
	Seed              *int64
	Stop              []string
	Logprobs          bool
	TopLogprobs       int

	// User is an opaque end-user id passed to upstreams that accept one.
	User string
}

// TokenLogprob is the log probability of one sampled token.
type TokenLogprob struct {
	Token   string
	Logprob float64
	Bytes   []byte
	Top     []TopLogprob
}

// TopLogprob is one alternative at a sampled position.
type TopLogprob struct {
	Token   string
	Logprob float64
	Bytes   []byte
}

// Chunk is one streamed piece of a generation.
type Chunk struct {
	Text     string
	Logprobs []TokenLogprob // present when Request.Logprobs was set
}

// Usage counts tokens.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// Result is what a finished generation reports.
type Result struct {
	FinishReason string
	Usage        Usage
}

// EmitFunc receives streamed chunks. Returning an error stops generation and
// Generate returns that error.
type EmitFunc func(Chunk) error

// ModelInfo describes a model an engine can serve.
type ModelInfo struct {
	ID      string
	OwnedBy string
	Created time.Time
	Engine  string // "builtin", "upstream"
	// Embeddings reports whether the model can produce embeddings.
	Embeddings bool
}

// Health describes an engine's backends for /readyz and /metrics.
type Health struct {
	Name    string
	Healthy bool
	Detail  string
}

// Engine runs models. Implementations are safe for concurrent use.
type Engine interface {
	// Models lists the models this engine serves now.
	Models(ctx context.Context) ([]ModelInfo, error)
	// Generate runs one request, calling emit for each piece of text. It
	// returns when generation finishes, emit fails, or ctx is done.
	Generate(ctx context.Context, req *Request, emit EmitFunc) (Result, error)
	// Embed returns one vector per input.
	Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error)
	// Health reports on the engine's backends.
	Health(ctx context.Context) []Health
	// Close releases the engine's resources.
	Close() error
}

// Loader is implemented by engines that hold models in memory and can load
// and unload them on demand (the built-in engine).
type Loader interface {
	Load(ctx context.Context, model string) error
	Unload(ctx context.Context, model string) error
}
