package ollama

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/problem"
)

// Limits on what a request may ask for.
const (
	maxMessages   = 1024
	maxStops      = 16
	maxStopLen    = 256
	maxInputs     = 2048
	maxModelIDLen = 256
)

// Message is one turn of a chat, in a request or a response.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Images and ToolCalls are read only to refuse them.
	Images    []json.RawMessage `json:"images,omitempty"`
	ToolCalls []json.RawMessage `json:"tool_calls,omitempty"`
}

// ChatRequest is the body of POST /api/chat. Stream is a pointer because
// Ollama streams unless told "stream": false.
type ChatRequest struct {
	Model     string          `json:"model"`
	Messages  []Message       `json:"messages"`
	Stream    *bool           `json:"stream"`
	Options   json.RawMessage `json:"options"`
	Format    json.RawMessage `json:"format"`
	KeepAlive json.RawMessage `json:"keep_alive"`
	Tools     json.RawMessage `json:"tools"`
	Think     json.RawMessage `json:"think"`
}

// GenerateRequest is the body of POST /api/generate.
type GenerateRequest struct {
	Model     string            `json:"model"`
	Prompt    string            `json:"prompt"`
	System    string            `json:"system"`
	Suffix    string            `json:"suffix"`
	Template  string            `json:"template"`
	Raw       bool              `json:"raw"`
	Stream    *bool             `json:"stream"`
	Options   json.RawMessage   `json:"options"`
	Format    json.RawMessage   `json:"format"`
	KeepAlive json.RawMessage   `json:"keep_alive"`
	Context   []int             `json:"context"`
	Images    []json.RawMessage `json:"images"`
	Think     json.RawMessage   `json:"think"`
}

// EmbedRequest is the body of POST /api/embed.
type EmbedRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Truncate   *bool           `json:"truncate"`
	Dimensions *int            `json:"dimensions"`
	Options    json.RawMessage `json:"options"`
	KeepAlive  json.RawMessage `json:"keep_alive"`
}

// EmbeddingsRequest is the body of the legacy POST /api/embeddings.
type EmbeddingsRequest struct {
	Model     string          `json:"model"`
	Prompt    string          `json:"prompt"`
	Options   json.RawMessage `json:"options"`
	KeepAlive json.RawMessage `json:"keep_alive"`
}

// ShowRequest is the body of POST /api/show; Name is the legacy spelling
// of Model.
type ShowRequest struct {
	Model   string `json:"model"`
	Name    string `json:"name"`
	Verbose bool   `json:"verbose"`
}

// Metrics are the counters of a finished generation. Durations are in
// nanoseconds; the ones silo does not measure are left out.
type Metrics struct {
	TotalDuration   int64 `json:"total_duration,omitempty"`
	PromptEvalCount int   `json:"prompt_eval_count,omitempty"`
	EvalCount       int   `json:"eval_count,omitempty"`
	EvalDuration    int64 `json:"eval_duration,omitempty"`
}

// ChatResponse is one NDJSON line of a streamed chat, or the whole
// answer of a non-streamed one.
type ChatResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Message    Message   `json:"message"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	Metrics
}

// GenerateResponse is one NDJSON line of a streamed generation, or the
// whole answer of a non-streamed one.
type GenerateResponse struct {
	Model      string    `json:"model"`
	CreatedAt  time.Time `json:"created_at"`
	Response   string    `json:"response"`
	Done       bool      `json:"done"`
	DoneReason string    `json:"done_reason,omitempty"`
	Metrics
}

// EmbedResponse is the answer of POST /api/embed.
type EmbedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration,omitempty"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

// EmbeddingsResponse is the answer of the legacy POST /api/embeddings.
type EmbeddingsResponse struct {
	Embedding []float32 `json:"embedding"`
}

// ModelDetails describes a model; fields silo does not know are empty.
type ModelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

// ListModel is one entry of GET /api/tags. Size and Digest are zero when
// silo does not know them (models served by an upstream).
type ListModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt time.Time    `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    ModelDetails `json:"details"`
}

// ListResponse is the answer of GET /api/tags.
type ListResponse struct {
	Models []ListModel `json:"models"`
}

// ShowResponse is the answer of POST /api/show.
type ShowResponse struct {
	Modelfile    string         `json:"modelfile"`
	Parameters   string         `json:"parameters"`
	Template     string         `json:"template"`
	Details      ModelDetails   `json:"details"`
	ModelInfo    map[string]any `json:"model_info"`
	Capabilities []string       `json:"capabilities"`
	ModifiedAt   time.Time      `json:"modified_at"`
}

// VersionResponse is the answer of GET /api/version.
type VersionResponse struct {
	Version string `json:"version"`
}

// Options are the runtime options silo honours. Each maps to a field of
// engine.Request; nil means "the model's default".
type Options struct {
	Temperature      *float64 `json:"temperature"`
	TopK             *int     `json:"top_k"`
	TopP             *float64 `json:"top_p"`
	MinP             *float64 `json:"min_p"`
	Seed             *int64   `json:"seed"`
	NumPredict       *int     `json:"num_predict"`
	Stop             []string `json:"stop"`
	RepeatPenalty    *float64 `json:"repeat_penalty"`
	PresencePenalty  *float64 `json:"presence_penalty"`
	FrequencyPenalty *float64 `json:"frequency_penalty"`
}

// honoured are the option names Options decodes.
var honoured = map[string]bool{
	"temperature": true, "top_k": true, "top_p": true, "min_p": true, "seed": true, "num_predict": true,
	"stop": true, "repeat_penalty": true, "presence_penalty": true, "frequency_penalty": true,
}

// ignored are Ollama options that tune how a model is loaded or run, not
// what it answers; silo accepts them and decides these itself.
var ignored = map[string]bool{
	"num_ctx": true, "num_batch": true, "num_gpu": true, "main_gpu": true, "num_thread": true, "numa": true,
	"low_vram": true, "vocab_only": true, "use_mmap": true, "use_mlock": true, "num_keep": true,
}

// parseOptions decodes an options object. Options that would change the
// answer but that silo does not implement (mirostat, typical_p, ...) are
// refused, not dropped.
func parseOptions(raw json.RawMessage) (Options, error) {
	var o Options
	if len(raw) == 0 || string(raw) == "null" {
		return o, nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return o, problem.Invalid("options must be an object")
	}
	var unknown []string
	for k := range fields {
		if !honoured[k] && !ignored[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		name := unknown[0]
		if len(name) > 64 {
			name = name[:64] + "..."
		}
		return o, problem.Invalid(fmt.Sprintf("option %q is not supported by silo (supported: temperature, top_k, top_p, min_p, seed, num_predict, stop, repeat_penalty, presence_penalty, frequency_penalty)", strings.ToValidUTF8(name, "?")))
	}
	for k, v := range fields {
		if !honoured[k] {
			continue
		}
		one, _ := json.Marshal(map[string]json.RawMessage{k: v})
		if err := json.Unmarshal(one, &o); err != nil {
			if k == "stop" {
				var s string
				if json.Unmarshal(v, &s) == nil {
					o.Stop = []string{s}
					continue
				}
			}
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return o, problem.Invalid(fmt.Sprintf("options.%s must be %s, not %s", k, kindOf(k), te.Value))
			}
			return o, problem.Invalid(fmt.Sprintf("options.%s must be %s", k, kindOf(k)))
		}
	}
	return o, nil
}

func kindOf(option string) string {
	switch option {
	case "top_k", "num_predict", "seed":
		return "an integer"
	case "stop":
		return "an array of strings"
	default:
		return "a number"
	}
}

// apply checks the options and sets them on req.
func (o Options) apply(req *engine.Request) error {
	if len(o.Stop) > maxStops {
		return problem.Invalid(fmt.Sprintf("at most %d stop sequences", maxStops))
	}
	for _, s := range o.Stop {
		if s == "" || len(s) > maxStopLen {
			return problem.Invalid(fmt.Sprintf("stop sequences must be 1 to %d bytes", maxStopLen))
		}
	}
	if o.NumPredict != nil && (*o.NumPredict == 0 || *o.NumPredict < -2) {
		return problem.Invalid("num_predict must be positive, -1 (no limit) or -2 (fill the context)")
	}
	if o.Temperature != nil && (*o.Temperature < 0 || *o.Temperature > 2) {
		return problem.Invalid("temperature must be between 0 and 2")
	}
	if o.TopP != nil && (*o.TopP <= 0 || *o.TopP > 1) {
		return problem.Invalid("top_p must be in (0, 1]")
	}
	if o.MinP != nil && (*o.MinP < 0 || *o.MinP > 1) {
		return problem.Invalid("min_p must be between 0 and 1")
	}
	if o.TopK != nil && *o.TopK < 0 {
		return problem.Invalid("top_k must not be negative")
	}
	if o.RepeatPenalty != nil && (*o.RepeatPenalty <= 0 || *o.RepeatPenalty > 10) {
		return problem.Invalid("repeat_penalty must be in (0, 10]")
	}
	for name, v := range map[string]*float64{"presence_penalty": o.PresencePenalty, "frequency_penalty": o.FrequencyPenalty} {
		if v != nil && (*v < -2 || *v > 2) {
			return problem.Invalid(name + " must be between -2 and 2")
		}
	}
	if o.NumPredict != nil && *o.NumPredict > 0 {
		req.MaxTokens = *o.NumPredict
	}
	req.Temperature, req.TopP = o.Temperature, o.TopP
	if o.Seed != nil && *o.Seed >= 0 { // Ollama's -1: a random seed
		req.Seed = o.Seed
	}
	req.Stop = o.Stop
	if o.TopK != nil {
		req.TopK = *o.TopK
	}
	if o.MinP != nil {
		req.MinP = *o.MinP
	}
	if o.RepeatPenalty != nil {
		req.RepetitionPenalty = *o.RepeatPenalty
	}
	if o.PresencePenalty != nil {
		req.PresencePenalty = *o.PresencePenalty
	}
	if o.FrequencyPenalty != nil {
		req.FrequencyPenalty = *o.FrequencyPenalty
	}
	return nil
}

// set reports whether a raw optional field holds a value other than null.
func set(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// checkFormat refuses structured outputs, which silo does not implement.
func checkFormat(raw json.RawMessage) error {
	if !set(raw) || string(raw) == `""` {
		return nil
	}
	return problem.Invalid(`format is not supported by silo: structured outputs ("json" or a JSON schema) cannot be guaranteed; leave format out and ask for JSON in the prompt`)
}

// checkThink refuses "think": true (or a level); false is accepted.
func checkThink(raw json.RawMessage) error {
	if !set(raw) || string(raw) == "false" {
		return nil
	}
	return problem.Invalid("think is not supported by silo")
}

// inputs decodes the input of /api/embed: a string or an array of strings.
func inputs(raw json.RawMessage) ([]string, error) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, problem.Invalid("input must be a string or an array of strings")
	}
	return many, nil
}
