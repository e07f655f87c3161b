// Package openai serves silo's OpenAI-compatible API under /v1: models,
// chat completions (plain and SSE-streamed, with stream_options.include_usage),
// text completions and embeddings, with OpenAI's error objects and status
// codes, so the official SDKs work unchanged.
//
// The handlers expect an authenticated principal in the request context
// (identity.WithPrincipal); every generation is admitted by the meter first
// and its usage recorded after, streamed or not, also when the client leaves.
package openai

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/problem"
)

// Limits on what a request may ask for.
const (
	maxMessages   = 1024
	maxStops      = 4
	maxStopLen    = 256
	maxInputs     = 2048
	maxModelIDLen = 256
)

// systemFingerprint identifies silo's serving stack in responses.
const systemFingerprint = "silo"

// TokenCounter is told how many tokens went in and out (for /metrics).
type TokenCounter = metering.TokenCounter

// Handler serves /v1.
type Handler struct {
	Engine engine.Engine
	Meter  *metering.Meter
	Tokens TokenCounter // optional
	Log    *slog.Logger
	// Conversations stores chats that name a conversation (optional).
	Conversations Conversations
	// Transit opens chat requests sealed in transit (optional).
	Transit Transit
}

// Register adds the /v1 routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/models", h.models)
	mux.HandleFunc("GET /v1/models/{model...}", h.model)
	mux.HandleFunc("POST /v1/chat/completions", h.chat)
	mux.HandleFunc("POST /v1/completions", h.completions)
	mux.HandleFunc("POST /v1/embeddings", h.embeddings)
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		problem.WriteOpenAI(w, &problem.Error{Status: 404, Slug: "not-found", Title: "Not found",
			Detail: fmt.Sprintf("unknown endpoint %s %s", r.Method, r.URL.Path)})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if problem.Classify(err).Internal {
		h.Log.ErrorContext(r.Context(), "v1 request failed", "path", r.URL.Path, "err", err)
	}
	problem.WriteOpenAI(w, err)
}

func (h *Handler) models(w http.ResponseWriter, r *http.Request) {
	ms, err := h.Engine.Models(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ModelList{Object: "list", Data: make([]Model, 0, len(ms))}
	for _, m := range ms {
		out.Data = append(out.Data, toModel(m))
	}
	writeJSON(w, http.StatusOK, out)
}

func toModel(m engine.ModelInfo) Model {
	owner := m.OwnedBy
	if owner == "" {
		owner = "silo"
	}
	return Model{ID: m.ID, Object: "model", Created: m.Created.Unix(), OwnedBy: owner}
}

func (h *Handler) model(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("model")
	ms, err := h.Engine.Models(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, m := range ms {
		if m.ID == id {
			writeJSON(w, http.StatusOK, toModel(m))
			return
		}
	}
	h.fail(w, r, fmt.Errorf("%w: %q", engine.ErrModelNotFound, id))
}

// decode reads a JSON body into v, answering bad JSON as OpenAI does.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &problem.Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Title: "Request body too large",
				Detail: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		return problem.Invalid("could not parse the JSON body of your request: " + err.Error())
	}
	if dec.More() {
		return problem.Invalid("the request body holds more than one JSON value")
	}
	return nil
}

func (p *samplingParams) toRequest(req *engine.Request) error {
	if p.Model == "" || len(p.Model) > maxModelIDLen {
		return problem.Invalid("you must provide a model parameter")
	}
	if p.N != nil && *p.N != 1 {
		return problem.Invalid("n must be 1: silo returns one choice per request")
	}
	if len(p.Stop) > maxStops {
		return problem.Invalid(fmt.Sprintf("at most %d stop sequences", maxStops))
	}
	for _, s := range p.Stop {
		if s == "" || len(s) > maxStopLen {
			return problem.Invalid(fmt.Sprintf("stop sequences must be 1 to %d bytes", maxStopLen))
		}
	}
	if p.MaxTokens != nil && *p.MaxTokens < 1 {
		return problem.Invalid("max_tokens must be at least 1")
	}
	if p.Temperature != nil && (*p.Temperature < 0 || *p.Temperature > 2) {
		return problem.Invalid("temperature must be between 0 and 2")
	}
	if p.TopP != nil && (*p.TopP <= 0 || *p.TopP > 1) {
		return problem.Invalid("top_p must be in (0, 1]")
	}
	for name, v := range map[string]*float64{"presence_penalty": p.PresencePenalty, "frequency_penalty": p.FrequencyPenalty} {
		if v != nil && (*v < -2 || *v > 2) {
			return problem.Invalid(name + " must be between -2 and 2")
		}
	}
	if p.MinP != nil && (*p.MinP < 0 || *p.MinP > 1) {
		return problem.Invalid("min_p must be between 0 and 1")
	}
	if p.TopK != nil && *p.TopK < 0 {
		return problem.Invalid("top_k must not be negative")
	}
	if p.RepetitionPenalty != nil && (*p.RepetitionPenalty <= 0 || *p.RepetitionPenalty > 10) {
		return problem.Invalid("repetition_penalty must be in (0, 10]")
	}
	req.Model = p.Model
	if p.MaxTokens != nil {
		req.MaxTokens = *p.MaxTokens
	}
	req.Temperature, req.TopP, req.Seed = p.Temperature, p.TopP, p.Seed
	req.Stop = p.Stop
	req.User = p.User
	if p.PresencePenalty != nil {
		req.PresencePenalty = *p.PresencePenalty
	}
	if p.FrequencyPenalty != nil {
		req.FrequencyPenalty = *p.FrequencyPenalty
	}
	if p.TopK != nil {
		req.TopK = *p.TopK
	}
	if p.MinP != nil {
		req.MinP = *p.MinP
	}
	if p.RepetitionPenalty != nil {
		req.RepetitionPenalty = *p.RepetitionPenalty
	}
	return nil
}

// admit checks limits and caps the completion to the remaining quota.
func (h *Handler) admit(ctx context.Context, req *engine.Request) (*identity.Principal, error) {
	p := identity.FromContext(ctx)
	if p == nil {
		return nil, identity.ErrUnauthenticated
	}
	n, err := h.Meter.Cap(ctx, p.User.ID, req.MaxTokens)
	if err != nil {
		return nil, err
	}
	req.MaxTokens = n
	return p, nil
}

// record meters a finished (or abandoned) generation (see
// metering.Meter.RecordDetached).
func (h *Handler) record(ctx context.Context, p *identity.Principal, model string, u engine.Usage) {
	h.Meter.RecordDetached(ctx, h.Log, h.Tokens, p.User.ID, p.KeyID, model, u.PromptTokens, u.CompletionTokens)
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func toUsage(u engine.Usage) *Usage {
	return &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.PromptTokens + u.CompletionTokens}
}

func bytesOf(b []byte) []int {
	out := make([]int, len(b))
	for i, c := range b {
		out[i] = int(c)
	}
	return out
}

func toLogprobs(lps []engine.TokenLogprob) []LogprobContent {
	out := make([]LogprobContent, 0, len(lps))
	for _, lp := range lps {
		c := LogprobContent{Token: lp.Token, Logprob: lp.Logprob, Bytes: bytesOf(lp.Bytes), TopLogprobs: []TopLogprob{}}
		for _, t := range lp.Top {
			c.TopLogprobs = append(c.TopLogprobs, TopLogprob{Token: t.Token, Logprob: t.Logprob, Bytes: bytesOf(t.Bytes)})
		}
		out = append(out, c)
	}
	return out
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request) {
	var body EmbeddingRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Model == "" || len(body.Model) > maxModelIDLen {
		h.fail(w, r, problem.Invalid("you must provide a model parameter"))
		return
	}
	var inputs StringOrList
	if err := json.Unmarshal(body.Input, &inputs); err != nil || len(inputs) == 0 {
		h.fail(w, r, problem.Invalid("input must be a non-empty string or array of strings (token arrays are not supported)"))
		return
	}
	if len(inputs) > maxInputs {
		h.fail(w, r, problem.Invalid(fmt.Sprintf("at most %d inputs per request", maxInputs)))
		return
	}
	for _, in := range inputs {
		if in == "" {
			h.fail(w, r, problem.Invalid("input strings must not be empty"))
			return
		}
	}
	if body.EncodingFormat != "" && body.EncodingFormat != "float" && body.EncodingFormat != "base64" {
		h.fail(w, r, problem.Invalid("encoding_format must be float or base64"))
		return
	}
	if body.Dimensions != nil {
		h.fail(w, r, problem.Invalid("dimensions is not supported"))
		return
	}
	p, err := h.admit(r.Context(), &engine.Request{Model: body.Model})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vecs, usage, err := h.Engine.Embed(r.Context(), body.Model, inputs)
	h.record(r.Context(), p, body.Model, usage)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := EmbeddingResponse{Object: "list", Model: body.Model, Data: make([]Embedding, len(vecs)),
		Usage: EmbeddingUsage{PromptTokens: usage.PromptTokens, TotalTokens: usage.PromptTokens}}
	for i, v := range vecs {
		var emb any = v
		if body.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		out.Data[i] = Embedding{Object: "embedding", Index: i, Embedding: emb}
	}
	writeJSON(w, http.StatusOK, out)
}

// drain discards the rest of a body so the connection can be reused.
func drain(r *http.Request) { io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16)) }

var validRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true, "developer": true}

func toMessages(in []ChatMessage) ([]engine.Message, error) {
	if len(in) == 0 {
		return nil, problem.Invalid("messages must not be empty")
	}
	if len(in) > maxMessages {
		return nil, problem.Invalid(fmt.Sprintf("at most %d messages", maxMessages))
	}
	out := make([]engine.Message, len(in))
	for i, m := range in {
		if !validRoles[m.Role] {
			return nil, problem.Invalid(fmt.Sprintf("messages[%d].role %q is not one of system, developer, user, assistant, tool", i, truncRole(m.Role)))
		}
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		out[i] = engine.Message{Role: role, Content: string(m.Content), Name: m.Name}
	}
	return out, nil
}

func truncRole(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
