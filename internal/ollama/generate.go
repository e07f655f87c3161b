package ollama

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/problem"
)

// ndjson writes newline-delimited JSON. Headers go out with the first
// line, so an error before any output is still answered with its status.
type ndjson struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	return &ndjson{w: w, rc: http.NewResponseController(w)}
}

func (s *ndjson) line(v any) error {
	if !s.started {
		s.started = true
		s.w.Header().Set("Content-Type", "application/x-ndjson")
		s.w.Header().Set("Cache-Control", "no-cache")
		s.w.Header().Set("X-Accel-Buffering", "no")
		s.w.WriteHeader(http.StatusOK)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return s.rc.Flush()
}

// streamError ends a started stream with an error line, as Ollama does;
// before the stream started it answers with the error's own status.
func (h *Handler) streamError(s *ndjson, w http.ResponseWriter, r *http.Request, err error) {
	if !s.started {
		h.fail(w, r, err)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client left; nobody to tell
	}
	in, body := errorBody(err)
	if in.Internal {
		h.Log.ErrorContext(r.Context(), "ollama stream failed", "path", r.URL.Path, "err", err)
	}
	s.line(body)
}

// lineFunc builds one response object: a piece of text, or (done) the
// final object with its reason and counters.
type lineFunc func(text string, done bool, reason string, m Metrics) any

// run admits req, generates and answers, streamed or in one object; name
// is the model as the client named it, echoed in every object.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, req *engine.Request, name string, stream bool, line lineFunc) {
	start := time.Now()
	p, err := h.admit(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var first time.Time
	metrics := func(res engine.Result) Metrics {
		m := Metrics{TotalDuration: time.Since(start).Nanoseconds(), PromptEvalCount: res.Usage.PromptTokens, EvalCount: res.Usage.CompletionTokens}
		if !first.IsZero() {
			m.EvalDuration = time.Since(first).Nanoseconds()
		}
		return m
	}
	if !stream {
		var text strings.Builder
		res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
			if first.IsZero() {
				first = time.Now()
			}
			text.WriteString(c.Text)
			return nil
		})
		h.record(r.Context(), p, req.Model, res.Usage)
		if err != nil {
			h.fail(w, r, modelErr(name, err))
			return
		}
		writeJSON(w, http.StatusOK, line(text.String(), true, res.FinishReason, metrics(res)))
		return
	}
	s := newNDJSON(w)
	res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
		if first.IsZero() {
			first = time.Now()
		}
		if c.Text == "" {
			return nil
		}
		return s.line(line(c.Text, false, "", Metrics{}))
	})
	h.record(r.Context(), p, req.Model, res.Usage)
	if err != nil {
		h.streamError(s, w, r, modelErr(name, err))
		return
	}
	s.line(line("", true, res.FinishReason, metrics(res)))
}

// loaded answers a request without input as Ollama does: the model is
// ready (done_reason "load"), nothing is generated or metered.
func (h *Handler) loaded(w http.ResponseWriter, r *http.Request, name string, line lineFunc) {
	if _, err := h.lookup(r.Context(), name); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, line("", true, "load", Metrics{}))
}

var validRoles = map[string]bool{"system": true, "user": true, "assistant": true, "tool": true}

func toMessages(in []Message) ([]engine.Message, error) {
	if len(in) > maxMessages {
		return nil, problem.Invalid(fmt.Sprintf("at most %d messages", maxMessages))
	}
	out := make([]engine.Message, len(in))
	for i, m := range in {
		if !validRoles[m.Role] {
			return nil, problem.Invalid(fmt.Sprintf("messages[%d].role %q is not one of system, user, assistant, tool", i, truncate(m.Role, 32)))
		}
		if len(m.Images) > 0 {
			return nil, problem.Invalid(fmt.Sprintf("messages[%d].images: images are not supported by silo", i))
		}
		if len(m.ToolCalls) > 0 {
			return nil, problem.Invalid(fmt.Sprintf("messages[%d].tool_calls: tools are not supported by silo", i))
		}
		out[i] = engine.Message{Role: m.Role, Content: m.Content}
	}
	return out, nil
}

// stream reads Ollama's "stream" flag, which defaults to true.
func stream(b *bool) bool { return b == nil || *b }

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	var body ChatRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkModel(body.Model); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkFormat(body.Format); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkThink(body.Think); err != nil {
		h.fail(w, r, err)
		return
	}
	if set(body.Tools) && string(body.Tools) != "[]" {
		h.fail(w, r, problem.Invalid("tools are not supported by silo"))
		return
	}
	opts, err := parseOptions(body.Options)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req := &engine.Request{}
	if err := opts.apply(req); err != nil {
		h.fail(w, r, err)
		return
	}
	if req.Messages, err = toMessages(body.Messages); err != nil {
		h.fail(w, r, err)
		return
	}
	created := time.Now().UTC()
	line := func(text string, done bool, reason string, m Metrics) any {
		return ChatResponse{Model: body.Model, CreatedAt: created, Message: Message{Role: "assistant", Content: text},
			Done: done, DoneReason: reason, Metrics: m}
	}
	if len(req.Messages) == 0 {
		h.loaded(w, r, body.Model, line)
		return
	}
	if req.Model, err = h.resolve(r.Context(), body.Model); err != nil {
		h.fail(w, r, err)
		return
	}
	h.run(w, r, req, body.Model, stream(body.Stream), line)
}

func (h *Handler) generate(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	var body GenerateRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkModel(body.Model); err != nil {
		h.fail(w, r, err)
		return
	}
	var refused string
	switch {
	case body.Suffix != "":
		refused = "suffix is not supported by silo"
	case body.Template != "":
		refused = "template is not supported by silo: the model's own chat template is used (or none, with raw)"
	case len(body.Context) > 0:
		refused = "context is not supported by silo: send the conversation to /api/chat instead"
	case len(body.Images) > 0:
		refused = "images are not supported by silo"
	case body.Raw && body.System != "":
		refused = "system cannot be combined with raw: put it in the raw prompt"
	}
	if refused != "" {
		h.fail(w, r, problem.Invalid(refused))
		return
	}
	if err := checkFormat(body.Format); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkThink(body.Think); err != nil {
		h.fail(w, r, err)
		return
	}
	opts, err := parseOptions(body.Options)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req := &engine.Request{}
	if err := opts.apply(req); err != nil {
		h.fail(w, r, err)
		return
	}
	created := time.Now().UTC()
	line := func(text string, done bool, reason string, m Metrics) any {
		return GenerateResponse{Model: body.Model, CreatedAt: created, Response: text, Done: done, DoneReason: reason, Metrics: m}
	}
	if body.Prompt == "" {
		h.loaded(w, r, body.Model, line)
		return
	}
	if body.Raw {
		req.Prompt = body.Prompt // no template: the engine's plain completion
	} else {
		if body.System != "" {
			req.Messages = append(req.Messages, engine.Message{Role: "system", Content: body.System})
		}
		req.Messages = append(req.Messages, engine.Message{Role: "user", Content: body.Prompt})
	}
	if req.Model, err = h.resolve(r.Context(), body.Model); err != nil {
		h.fail(w, r, err)
		return
	}
	h.run(w, r, req, body.Model, stream(body.Stream), line)
}
