package upstream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/silo-ai/silo/internal/engine"
)

// maxEventLine bounds one line of an SSE stream; logprobs make lines long,
// but never this long.
const maxEventLine = 1 << 20

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 64 << 10

// Stream errors. They describe an upstream that broke the protocol.
var (
	errNoDone     = errors.New("stream ended without [DONE]")
	errMalformed  = errors.New("malformed stream event")
	errStreamBody = errors.New("upstream reported an error in the stream")
)

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Name    string `json:"name,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// generateBody is the JSON body of /v1/chat/completions and /v1/completions.
type generateBody struct {
	Model             string         `json:"model"`
	Messages          []chatMessage  `json:"messages,omitempty"`
	Prompt            *string        `json:"prompt,omitempty"`
	Stream            bool           `json:"stream"`
	StreamOptions     *streamOptions `json:"stream_options,omitempty"`
	MaxTokens         int            `json:"max_tokens,omitempty"`
	Temperature       *float64       `json:"temperature,omitempty"`
	TopP              *float64       `json:"top_p,omitempty"`
	TopK              int            `json:"top_k,omitempty"`
	MinP              float64        `json:"min_p,omitempty"`
	PresencePenalty   float64        `json:"presence_penalty,omitempty"`
	FrequencyPenalty  float64        `json:"frequency_penalty,omitempty"`
	RepetitionPenalty float64        `json:"repetition_penalty,omitempty"`
	Seed              *int64         `json:"seed,omitempty"`
	Stop              []string       `json:"stop,omitempty"`
	// Logprobs is true for chat and the number of alternatives for legacy
	// completions; nil leaves it out.
	Logprobs    any    `json:"logprobs,omitempty"`
	TopLogprobs int    `json:"top_logprobs,omitempty"`
	User        string `json:"user,omitempty"`
}

// newGenerateBody translates req into the upstream's request, naming the
// model as the upstream knows it. It reports whether the request is a chat.
func newGenerateBody(req *engine.Request, model string) (*generateBody, bool, error) {
	chat := len(req.Messages) > 0
	if chat && req.Prompt != "" {
		return nil, false, fmt.Errorf("%w: request has both messages and a prompt", engine.ErrInvalidRequest)
	}
	if req.MaxTokens < 0 || req.TopK < 0 || req.TopLogprobs < 0 {
		return nil, false, fmt.Errorf("%w: negative max_tokens, top_k or top_logprobs", engine.ErrInvalidRequest)
	}
	b := &generateBody{
		Model:            model,
		Stream:           true,
		StreamOptions:    &streamOptions{IncludeUsage: true},
		MaxTokens:        req.MaxTokens,
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		TopK:             req.TopK,
		MinP:             req.MinP,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
		Seed:             req.Seed,
		Stop:             req.Stop,
		User:             req.User,
	}
	if req.RepetitionPenalty != 0 && req.RepetitionPenalty != 1 {
		b.RepetitionPenalty = req.RepetitionPenalty
	}
	if chat {
		b.Messages = make([]chatMessage, len(req.Messages))
		for i, m := range req.Messages {
			b.Messages[i] = chatMessage{Role: m.Role, Content: m.Content, Name: m.Name}
		}
		if req.Logprobs {
			b.Logprobs = true
			b.TopLogprobs = req.TopLogprobs
		}
	} else {
		prompt := req.Prompt
		b.Prompt = &prompt
		if req.Logprobs {
			b.Logprobs = req.TopLogprobs
		}
	}
	return b, chat, nil
}

// byteList decodes the OpenAI "bytes" field: an array of integers 0..255.
type byteList []byte

func (l *byteList) UnmarshalJSON(b []byte) error {
	var ints []int
	if err := json.Unmarshal(b, &ints); err != nil {
		return err
	}
	out := make([]byte, len(ints))
	for i, v := range ints {
		if v < 0 || v > 255 {
			return fmt.Errorf("byte value %d out of range", v)
		}
		out[i] = byte(v)
	}
	*l = out
	return nil
}

type wireTopLogprob struct {
	Token   string   `json:"token"`
	Logprob float64  `json:"logprob"`
	Bytes   byteList `json:"bytes"`
}

type wireTokenLogprob struct {
	wireTopLogprob
	TopLogprobs []wireTopLogprob `json:"top_logprobs"`
}

// wireLogprobs holds both shapes: chat's content list and the legacy
// completions arrays.
type wireLogprobs struct {
	Content       []wireTokenLogprob   `json:"content"`
	Tokens        []string             `json:"tokens"`
	TokenLogprobs []*float64           `json:"token_logprobs"`
	TopLogprobs   []map[string]float64 `json:"top_logprobs"`
}

func (w *wireLogprobs) toEngine() []engine.TokenLogprob {
	if w == nil {
		return nil
	}
	var out []engine.TokenLogprob
	for _, c := range w.Content {
		t := engine.TokenLogprob{Token: c.Token, Logprob: c.Logprob, Bytes: c.Bytes}
		for _, a := range c.TopLogprobs {
			t.Top = append(t.Top, engine.TopLogprob{Token: a.Token, Logprob: a.Logprob, Bytes: a.Bytes})
		}
		out = append(out, t)
	}
	for i, tok := range w.Tokens {
		t := engine.TokenLogprob{Token: tok, Bytes: []byte(tok)}
		if i < len(w.TokenLogprobs) && w.TokenLogprobs[i] != nil {
			t.Logprob = *w.TokenLogprobs[i]
		}
		if i < len(w.TopLogprobs) {
			for alt, lp := range w.TopLogprobs[i] {
				t.Top = append(t.Top, engine.TopLogprob{Token: alt, Logprob: lp, Bytes: []byte(alt)})
			}
			sort.Slice(t.Top, func(a, b int) bool {
				if t.Top[a].Logprob != t.Top[b].Logprob {
					return t.Top[a].Logprob > t.Top[b].Logprob
				}
				return t.Top[a].Token < t.Top[b].Token
			})
		}
		out = append(out, t)
	}
	return out
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

// streamChunk is one event of a chat or completions stream.
type streamChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		Text         string        `json:"text"`
		FinishReason *string       `json:"finish_reason"`
		Logprobs     *wireLogprobs `json:"logprobs"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// sseReader returns the data of each server-sent event in turn.
type sseReader struct {
	sc *bufio.Scanner
}

func newSSEReader(r io.Reader) *sseReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 16<<10), maxEventLine)
	return &sseReader{sc: sc}
}

// next returns the data of the next event that has any. It returns io.EOF
// when the stream ends at an event boundary and io.ErrUnexpectedEOF when it
// ends inside an event.
func (r *sseReader) next() ([]byte, error) {
	var data []byte
	have := false
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if have {
				return data, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		if string(field) != "data" {
			continue // event, id, retry: not used by OpenAI streams
		}
		if have {
			data = append(data, '\n')
		}
		data = append(data, value...)
		have = true
	}
	if err := r.sc.Err(); err != nil {
		return nil, err
	}
	if have {
		return nil, io.ErrUnexpectedEOF
	}
	return nil, io.EOF
}

// decodeStream reads an OpenAI SSE stream from r, calling emit for each
// piece of text of choice 0 and onEvent after each event. It returns the
// finish reason and usage of a stream that ended with "data: [DONE]", and an
// error for anything else: a stream cut short, a malformed event, an error
// object from the upstream, or the error of emit (returned as is).
func decodeStream(r io.Reader, emit engine.EmitFunc, onEvent func()) (engine.Result, error) {
	var res engine.Result
	sse := newSSEReader(r)
	chunks := 0
	sawUsage := false
	for {
		data, err := sse.next()
		if errors.Is(err, io.EOF) {
			return res, errNoDone
		}
		if err != nil {
			return res, fmt.Errorf("read stream: %w", err)
		}
		if onEvent != nil {
			onEvent()
		}
		if string(bytes.TrimSpace(data)) == "[DONE]" {
			if res.FinishReason == "" {
				res.FinishReason = engine.FinishStop
			}
			if !sawUsage {
				// The upstream ignored include_usage: count chunks, which
				// is one token each on every server we know.
				res.Usage.CompletionTokens = chunks
			}
			return res, nil
		}
		var c streamChunk
		if err := json.Unmarshal(data, &c); err != nil {
			return res, fmt.Errorf("%w: %v", errMalformed, err)
		}
		if len(c.Error) > 0 && string(c.Error) != "null" {
			return res, fmt.Errorf("%w: %s", errStreamBody, errorMessage(c.Error))
		}
		if c.Usage != nil {
			res.Usage = engine.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}
			sawUsage = true
		}
		for _, ch := range c.Choices {
			if ch.Index != 0 {
				continue
			}
			text := ch.Text
			if ch.Delta.Content != nil {
				text = *ch.Delta.Content
			}
			lps := ch.Logprobs.toEngine()
			if text != "" || len(lps) > 0 {
				chunks++
				if err := emit(engine.Chunk{Text: text, Logprobs: lps}); err != nil {
					return res, err
				}
			}
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				res.FinishReason = *ch.FinishReason
			}
		}
	}
}

// errorMessage extracts a human-readable message from an error body or
// an "error" field: {"error":{"message":...}}, {"error":"..."},
// {"message":...} (vLLM), {"detail":...} (FastAPI), or the text itself.
func errorMessage(body []byte) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	trimmed := bytes.TrimSpace(body)
	if err := json.Unmarshal(trimmed, &v); err == nil {
		if len(v.Error) > 0 && string(v.Error) != "null" {
			var s string
			if json.Unmarshal(v.Error, &s) == nil && s != "" {
				return clip(s)
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v.Error, &o) == nil && o.Message != "" {
				return clip(o.Message)
			}
		}
		if v.Message != "" {
			return clip(v.Message)
		}
		if len(v.Detail) > 0 {
			var s string
			if json.Unmarshal(v.Detail, &s) == nil && s != "" {
				return clip(s)
			}
			return clip(string(v.Detail))
		}
	}
	var s string
	if json.Unmarshal(trimmed, &s) == nil && s != "" {
		return clip(s)
	}
	return clip(string(trimmed))
}

// clip bounds a message from an upstream to one short line of valid UTF-8.
func clip(s string) string {
	s = strings.ToValidUTF8(strings.Join(strings.Fields(s), " "), "?")
	const max = 500
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "..."
	}
	return s
}

type embeddingsBody struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
}

type embeddingsResponse struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage wireUsage `json:"usage"`
}

// decodeEmbeddings reads an embeddings response for n inputs, ordered by
// index.
func decodeEmbeddings(r io.Reader, n int) ([][]float32, engine.Usage, error) {
	var resp embeddingsResponse
	if err := json.NewDecoder(r).Decode(&resp); err != nil {
		return nil, engine.Usage{}, fmt.Errorf("%w: decode embeddings: %v", errMalformed, err)
	}
	if len(resp.Data) != n {
		return nil, engine.Usage{}, fmt.Errorf("%w: %d embeddings for %d inputs", errMalformed, len(resp.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range resp.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, engine.Usage{}, fmt.Errorf("%w: embedding index %d out of range or repeated", errMalformed, d.Index)
		}
		if d.Embedding == nil {
			d.Embedding = []float32{}
		}
		out[d.Index] = d.Embedding
	}
	return out, engine.Usage{PromptTokens: resp.Usage.PromptTokens}, nil
}
