package ollama

import (
	"fmt"
	"net/http"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/problem"
)

// embedAll admits, embeds and meters inputs for model (as the client named
// it).
func (h *Handler) embedAll(r *http.Request, name string, options []byte, in []string) ([][]float32, engine.Usage, error) {
	if err := checkModel(name); err != nil {
		return nil, engine.Usage{}, err
	}
	if _, err := parseOptions(options); err != nil { // checked; none applies to embeddings
		return nil, engine.Usage{}, err
	}
	if len(in) == 0 {
		return nil, engine.Usage{}, problem.Invalid("input must not be empty")
	}
	if len(in) > maxInputs {
		return nil, engine.Usage{}, problem.Invalid(fmt.Sprintf("at most %d inputs per request", maxInputs))
	}
	for i, s := range in {
		if s == "" {
			return nil, engine.Usage{}, problem.Invalid(fmt.Sprintf("input[%d] is empty", i))
		}
	}
	model, err := h.resolve(r.Context(), name)
	if err != nil {
		return nil, engine.Usage{}, err
	}
	p, err := h.admit(r.Context(), &engine.Request{Model: model})
	if err != nil {
		return nil, engine.Usage{}, err
	}
	vecs, usage, err := h.Engine.Embed(r.Context(), model, in)
	h.record(r.Context(), p, model, usage)
	if err != nil {
		return nil, usage, modelErr(name, err)
	}
	if len(vecs) != len(in) {
		return nil, usage, fmt.Errorf("ollama: embed: engine returned %d vectors for %d inputs", len(vecs), len(in))
	}
	return vecs, usage, nil
}

func (h *Handler) embed(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	start := time.Now()
	var body EmbedRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Dimensions != nil {
		h.fail(w, r, problem.Invalid("dimensions is not supported by silo"))
		return
	}
	if !set(body.Input) {
		h.fail(w, r, problem.Invalid("input is required: a string or an array of strings"))
		return
	}
	in, err := inputs(body.Input)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	vecs, usage, err := h.embedAll(r, body.Model, body.Options, in)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, EmbedResponse{Model: body.Model, Embeddings: vecs,
		TotalDuration: time.Since(start).Nanoseconds(), PromptEvalCount: usage.PromptTokens})
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request) {
	defer drain(r)
	var body EmbeddingsRequest
	if err := decode(r, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if body.Prompt == "" {
		h.fail(w, r, problem.Invalid("prompt is required"))
		return
	}
	vecs, _, err := h.embedAll(r, body.Model, body.Options, []string{body.Prompt})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, EmbeddingsResponse{Embedding: vecs[0]})
}
