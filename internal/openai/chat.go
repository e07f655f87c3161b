package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/problem"
)

// sse writes server-sent events. Headers go out with the first event, so an
// error before any output is still answered with its own status.
type sse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newSSE(w http.ResponseWriter) *sse { return &sse{w: w, rc: http.NewResponseController(w)} }

func (s *sse) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

func (s *sse) event(v any) error {
	s.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := s.w.Write(append(append([]byte("data: "), b...), '\n', '\n')); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sse) done() {
	s.w.Write([]byte("data: [DONE]\n\n"))
	s.rc.Flush()
}

// streamError ends a started stream with an OpenAI error event; before the
// stream started it answers with the error's own status.
func (h *Handler) streamError(s *sse, w http.ResponseWriter, r *http.Request, err error) {
	if !s.started {
		h.fail(w, r, err)
		return
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		return // the client left; nobody to tell
	}
	in, o := problem.OpenAIObject(err)
	if in.Internal {
		h.Log.ErrorContext(r.Context(), "stream failed", "path", r.URL.Path, "err", err)
	}
	s.event(map[string]any{"error": o})
}

// Conversations stores chats that name a conversation, with the header
// X-Silo-Conversation or metadata.conversation_id (issue 4). Without it, a
// chat that names one is refused.
type Conversations interface {
	// Check runs before generation and refuses a conversation the caller
	// may not append to.
	Check(ctx context.Context, p *identity.Principal, id string) error
	// Record stores the last user message (prompt, "" if none) and the
	// answer; an error fails the request.
	Record(ctx context.Context, p *identity.Principal, id, model, prompt, answer string) error
}

// SealedContentType marks a request body sealed in transit with HPKE
// (internal/seal), and the sealed response to it.
const SealedContentType = "application/silo-sealed+hpke"

// Transit opens chat request bodies sealed in transit and seals the
// responses to them (optional; without it a sealed body is refused).
type Transit interface {
	// Unseal returns the request with its opened JSON body and a writer
	// that seals what is written to it; done ends the sealed response.
	Unseal(w http.ResponseWriter, r *http.Request) (sw http.ResponseWriter, sr *http.Request, done func(), err error)
}

// ConversationHeader names the conversation a chat belongs to.
const ConversationHeader = "X-Silo-Conversation"

// recordFunc stores a finished exchange (a no-op without a conversation).
type recordFunc func(ctx context.Context, model string, msgs []ChatMessage, answer string) error

// conversation reads the conversation a chat names and checks it.
func (h *Handler) conversation(r *http.Request, p *identity.Principal, metadata json.RawMessage) (recordFunc, error) {
	id := r.Header.Get(ConversationHeader)
	if len(metadata) > 0 && string(metadata) != "null" {
		var md struct {
			ConversationID string `json:"conversation_id"`
		}
		if json.Unmarshal(metadata, &md) != nil {
			return nil, problem.Invalid("metadata must be an object of strings")
		}
		if id != "" && md.ConversationID != "" && md.ConversationID != id {
			return nil, problem.Invalid("the " + ConversationHeader + " header and metadata.conversation_id differ")
		}
		if id == "" {
			id = md.ConversationID
		}
	}
	if id == "" {
		return func(context.Context, string, []ChatMessage, string) error { return nil }, nil
	}
	if h.Conversations == nil {
		return nil, problem.Invalid("this server does not store conversations")
	}
	if err := h.Conversations.Check(r.Context(), p, id); err != nil {
		return nil, err
	}
	return func(ctx context.Context, model string, msgs []ChatMessage, answer string) error {
		prompt := ""
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Role == "user" {
				prompt = string(msgs[i].Content)
				break
			}
		}
		return h.Conversations.Record(ctx, p, id, model, prompt, answer)
	}, nil
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(mt) == SealedContentType {
		if h.Transit == nil {
			h.fail(w, r, problem.Invalid("this server does not accept sealed request bodies"))
			return
		}
		sw, sr, done, err := h.Transit.Unseal(w, r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		defer done()
		w, r = sw, sr
	}
	defer drain(r)
	var body ChatRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	req := &engine.Request{}
	if err := body.toRequest(req); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.MaxCompletionTokens != nil {
		if *body.MaxCompletionTokens < 1 {
			h.fail(w, r, problem.Invalid("max_completion_tokens must be at least 1"))
			return
		}
		req.MaxTokens = *body.MaxCompletionTokens
	}
	if len(body.Tools) > 0 && string(body.Tools) != "null" && string(body.Tools) != "[]" {
		h.fail(w, r, problem.Invalid("tools are not supported by silo yet"))
		return
	}
	if body.ResponseFormat != nil && body.ResponseFormat.Type != "" && body.ResponseFormat.Type != "text" {
		h.fail(w, r, problem.Invalid("response_format "+body.ResponseFormat.Type+" is not supported"))
		return
	}
	if body.TopLogprobs != nil && (*body.TopLogprobs < 0 || *body.TopLogprobs > 20) {
		h.fail(w, r, problem.Invalid("top_logprobs must be between 0 and 20"))
		return
	}
	var err error
	if req.Messages, err = toMessages(body.Messages); err != nil {
		h.fail(w, r, err)
		return
	}
	req.Logprobs = body.Logprobs
	if body.TopLogprobs != nil {
		req.TopLogprobs = *body.TopLogprobs
	}
	p, err := h.admit(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	conv, err := h.conversation(r, p, body.Metadata)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, created := newID("chatcmpl-"), time.Now().Unix()

	if !body.Stream {
		var text strings.Builder
		var lps []engine.TokenLogprob
		res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
			text.WriteString(c.Text)
			lps = append(lps, c.Logprobs...)
			return nil
		})
		h.record(r.Context(), p, req.Model, res.Usage)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		content := text.String()
		if err := conv(r.Context(), req.Model, body.Messages, content); err != nil {
			h.fail(w, r, err)
			return
		}
		choice := ChatChoice{Message: ResponseMessage{Role: "assistant", Content: &content}, FinishReason: res.FinishReason}
		if req.Logprobs {
			choice.Logprobs = &Logprobs{Content: toLogprobs(lps)}
		}
		writeJSON(w, http.StatusOK, ChatResponse{ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			SystemFingerprint: systemFingerprint, Choices: []ChatChoice{choice}, Usage: toUsage(res.Usage)})
		return
	}

	s := newSSE(w)
	chunk := func(d ChunkDelta, lps []engine.TokenLogprob, finish *string) ChatChunk {
		c := ChatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: systemFingerprint, Choices: []ChunkChoice{{Delta: d, FinishReason: finish}}}
		if req.Logprobs && lps != nil {
			c.Choices[0].Logprobs = &Logprobs{Content: toLogprobs(lps)}
		}
		return c
	}
	first := true
	var answer strings.Builder
	res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
		answer.WriteString(c.Text)
		d := ChunkDelta{Content: &c.Text}
		if first {
			first = false
			empty := ""
			if err := s.event(chunk(ChunkDelta{Role: "assistant", Content: &empty}, nil, nil)); err != nil {
				return err
			}
		}
		return s.event(chunk(d, c.Logprobs, nil))
	})
	h.record(r.Context(), p, req.Model, res.Usage)
	if err != nil {
		h.streamError(s, w, r, err)
		return
	}
	if first {
		empty := ""
		s.event(chunk(ChunkDelta{Role: "assistant", Content: &empty}, nil, nil))
	}
	if err := conv(r.Context(), req.Model, body.Messages, answer.String()); err != nil {
		h.streamError(s, w, r, err)
		return
	}
	finish := res.FinishReason
	s.event(chunk(ChunkDelta{}, nil, &finish))
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		s.event(ChatChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			SystemFingerprint: systemFingerprint, Choices: []ChunkChoice{}, Usage: toUsage(res.Usage)})
	}
	s.done()
}

func (h *Handler) completions(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	var body CompletionRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	req := &engine.Request{}
	if err := body.toRequest(req); err != nil {
		h.fail(w, r, err)
		return
	}
	switch {
	case len(body.Prompt) != 1:
		h.fail(w, r, problem.Invalid("prompt must be one string (batched prompts are not supported)"))
		return
	case body.Echo:
		h.fail(w, r, problem.Invalid("echo is not supported"))
		return
	case body.Suffix != "":
		h.fail(w, r, problem.Invalid("suffix is not supported"))
		return
	case body.Logprobs != nil:
		h.fail(w, r, problem.Invalid("logprobs is not supported on /v1/completions; use /v1/chat/completions"))
		return
	}
	req.Prompt = body.Prompt[0]
	p, err := h.admit(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	id, created := newID("cmpl-"), time.Now().Unix()
	resp := func(text string, finish *string, u *Usage) CompletionResponse {
		return CompletionResponse{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			SystemFingerprint: systemFingerprint, Choices: []CompletionChoice{{Text: text, FinishReason: finish}}, Usage: u}
	}
	if !body.Stream {
		var text strings.Builder
		res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
			text.WriteString(c.Text)
			return nil
		})
		h.record(r.Context(), p, req.Model, res.Usage)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, resp(text.String(), &res.FinishReason, toUsage(res.Usage)))
		return
	}
	s := newSSE(w)
	res, err := h.Engine.Generate(r.Context(), req, func(c engine.Chunk) error {
		return s.event(resp(c.Text, nil, nil))
	})
	h.record(r.Context(), p, req.Model, res.Usage)
	if err != nil {
		h.streamError(s, w, r, err)
		return
	}
	s.event(resp("", &res.FinishReason, nil))
	if body.StreamOptions != nil && body.StreamOptions.IncludeUsage {
		u := resp("", nil, toUsage(res.Usage))
		u.Choices = []CompletionChoice{}
		s.event(u)
	}
	s.done()
}
