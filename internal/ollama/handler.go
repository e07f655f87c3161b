// Package ollama serves the subset of Ollama's API that chat clients use,
// on the same engines as silo's OpenAI-compatible /v1, so Ollama clients
// (ollama-js, ollama-python, Open WebUI, editors) work unchanged:
//
//	GET  /api/version     {"version"}
//	GET  /api/tags        the models the engines serve now
//	POST /api/show        one model's details
//	POST /api/chat        chat, streamed as NDJSON unless "stream": false
//	POST /api/generate    prompt completion (raw prompts too), streamed likewise
//	POST /api/embed       embeddings of a string or a list of strings
//	POST /api/embeddings  the legacy single-prompt embedding
//
// Errors are Ollama's {"error": "message"} with the status Ollama uses (400
// bad input, 401 unauthenticated, 404 unknown model or path, 429 quota, rate
// limit or busy model, 500 internal); WriteError writes that shape and
// Handles tells which paths speak it (everything under /api/ but silo's own
// /api/v1). A stream that fails after it started ends with an error line.
//
// Promises: the handlers expect an authenticated principal in the request
// context (identity.WithPrincipal); every generation and embedding is
// admitted by the meter first and its usage recorded after, streamed or not,
// also when the client leaves, and a client that leaves cancels generation.
// Options silo honours map to engine.Request; options that change the answer
// but that silo does not implement (mirostat, typical_p, ...), structured
// outputs ("format"), images, tools, thinking, suffix, template and token
// context are refused with a 400 naming them, never silently dropped. Model
// details silo does not know (size, digest, family) are left empty or zero,
// never made up.
package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/problem"
)

// DefaultVersion is what /api/version reports when the server has no
// version of its own.
const DefaultVersion = "0.0.0"

// TokenCounter is told how many tokens went in and out (for /metrics).
type TokenCounter = metering.TokenCounter

// Handler serves the Ollama API subset.
type Handler struct {
	Engine  engine.Engine
	Meter   *metering.Meter
	Tokens  TokenCounter // optional
	Log     *slog.Logger
	Version string // reported by /api/version; "": DefaultVersion
	// Describe, if not nil, tells what silo knows of the file behind a
	// model of the built-in engine (size, digest, GGUF metadata); with
	// full set, also the metadata for /api/show.
	Describe func(name string, full bool) (ModelFacts, bool)
}

// ModelFacts describes a model file: the fields of /api/tags and
// /api/show that silo knows beyond the model's name.
type ModelFacts struct {
	Size         int64
	Digest       string // hex SHA-256; "" until silo has hashed the file
	Family       string // general.architecture
	Params       uint64
	Quantization string         // the type of most of the weights' bytes
	Metadata     map[string]any // GGUF metadata, arrays summarised (full only)
}

// Register adds the routes to mux, and a catch-all that answers unknown
// Ollama paths with a 404 in Ollama's shape (paths under /api/v1 are left
// to notFound, silo's own answer).
func (h *Handler) Register(mux *http.ServeMux, notFound http.HandlerFunc) {
	mux.HandleFunc("GET /api/version", h.version)
	mux.HandleFunc("GET /api/tags", h.tags)
	mux.HandleFunc("POST /api/show", h.show)
	mux.HandleFunc("POST /api/chat", h.chat)
	mux.HandleFunc("POST /api/generate", h.generate)
	mux.HandleFunc("POST /api/embed", h.embed)
	mux.HandleFunc("POST /api/embeddings", h.embeddings)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if !Handles(r.URL.Path) {
			notFound(w, r)
			return
		}
		WriteError(w, problem.NotFound(fmt.Sprintf("unknown endpoint %s %s", r.Method, truncate(r.URL.Path, 200))))
	})
}

// Handles reports whether path belongs to the Ollama API: under /api/ but
// not silo's own /api/v1.
func Handles(path string) bool {
	return strings.HasPrefix(path, "/api/") && path != "/api/v1" && !strings.HasPrefix(path, "/api/v1/")
}

// ErrorBody is Ollama's error object.
type ErrorBody struct {
	Error string `json:"error"`
}

// errorBody classifies err as internal/problem does and returns the status
// and the message a client may see.
func errorBody(err error) (problem.Info, ErrorBody) {
	in := problem.Classify(err)
	msg := in.Title
	if in.Detail != "" {
		msg = in.Detail
	}
	return in, ErrorBody{Error: truncate(msg, 2000)}
}

// WriteError answers err in Ollama's shape, {"error": "message"}, with its
// status and Retry-After when the error carries one.
func WriteError(w http.ResponseWriter, err error) {
	in, body := errorBody(err)
	if in.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(in.RetryAfter.Seconds()))))
	}
	if in.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="silo"`)
	}
	writeJSON(w, in.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if problem.Classify(err).Internal {
		h.Log.ErrorContext(r.Context(), "ollama request failed", "path", r.URL.Path, "err", err)
	}
	WriteError(w, err)
}

func truncate(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

// decode reads one JSON value from the body into v.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &problem.Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large", Title: "Request body too large",
				Detail: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
		}
		if errors.Is(err, io.EOF) {
			return problem.Invalid("missing request body")
		}
		return problem.Invalid("could not parse the JSON body: " + err.Error())
	}
	if dec.More() {
		return problem.Invalid("the request body holds more than one JSON value")
	}
	return nil
}

// drain discards the rest of a body so the connection can be reused.
func drain(r *http.Request) { io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16)) }

func checkModel(name string) error {
	if name == "" {
		return problem.Invalid("model is required")
	}
	if len(name) > maxModelIDLen {
		return problem.Invalid(fmt.Sprintf("model names are at most %d bytes", maxModelIDLen))
	}
	return nil
}

// modelErr gives engine.ErrModelNotFound Ollama's message, naming the model.
func modelErr(name string, err error) error {
	if errors.Is(err, engine.ErrModelNotFound) {
		return &problem.Error{Status: http.StatusNotFound, Slug: "model-not-found", Title: "Model not found",
			Detail: fmt.Sprintf("model %q not found", truncate(name, maxModelIDLen)), Err: err}
	}
	return err
}

// lookup finds a model by name. Ollama clients often add the default tag
// ":latest"; a name with it also finds the model without it.
func (h *Handler) lookup(ctx context.Context, name string) (engine.ModelInfo, error) {
	ms, err := h.Engine.Models(ctx)
	if err != nil {
		return engine.ModelInfo{}, err
	}
	base, tagged := strings.CutSuffix(name, ":latest")
	for _, try := range []string{name, base} {
		for _, m := range ms {
			if m.ID == try {
				return m, nil
			}
		}
		if !tagged {
			break
		}
	}
	return engine.ModelInfo{}, modelErr(name, engine.ErrModelNotFound)
}

// resolve returns the engine's name for a requested model: the name
// itself, unless only its form without ":latest" is served.
func (h *Handler) resolve(ctx context.Context, name string) (string, error) {
	if !strings.HasSuffix(name, ":latest") {
		return name, nil
	}
	m, err := h.lookup(ctx, name)
	if err != nil {
		return "", err
	}
	return m.ID, nil
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

func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	v := h.Version
	if v == "" {
		v = DefaultVersion
	}
	writeJSON(w, http.StatusOK, VersionResponse{Version: v})
}

// details returns what silo knows of a model: the built-in engine serves
// GGUF files; of an upstream's models nothing is known.
// describe returns what is known of m: Ollama's details, and the file's
// facts for models of the built-in engine.
func (h *Handler) describe(m engine.ModelInfo, full bool) (ModelDetails, ModelFacts) {
	d := ModelDetails{}
	if m.Engine != "builtin" {
		return d, ModelFacts{}
	}
	d.Format = "gguf"
	if h.Describe == nil {
		return d, ModelFacts{}
	}
	f, ok := h.Describe(m.ID, full)
	if !ok {
		return d, ModelFacts{}
	}
	d.Family, d.QuantizationLevel, d.ParameterSize = f.Family, f.Quantization, parameterSize(f.Params)
	if f.Family != "" {
		d.Families = []string{f.Family}
	}
	return d, f
}

// parameterSize formats a parameter count as Ollama does: "1.1B", "494M".
func parameterSize(n uint64) string {
	switch {
	case n == 0:
		return ""
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	default:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request) {
	ms, err := h.Engine.Models(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := ListResponse{Models: make([]ListModel, 0, len(ms))}
	for _, m := range ms {
		d, f := h.describe(m, false)
		out.Models = append(out.Models, ListModel{Name: m.ID, Model: m.ID, ModifiedAt: m.Created.UTC(),
			Size: f.Size, Digest: f.Digest, Details: d})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	var body ShowRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	name := body.Model
	if name == "" {
		name = body.Name
	}
	if err := checkModel(name); err != nil {
		h.fail(w, r, err)
		return
	}
	m, err := h.lookup(r.Context(), name)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	caps := []string{"completion"}
	if m.Embeddings {
		caps = append(caps, "embedding")
	}
	d, f := h.describe(m, true)
	info := f.Metadata
	if info == nil {
		info = map[string]any{}
	}
	writeJSON(w, http.StatusOK, ShowResponse{Details: d, ModelInfo: info, Capabilities: caps, ModifiedAt: m.Created.UTC()})
}
