// Package enginetest provides Upstream, an OpenAI-compatible protocol double
// that stands in for vLLM, llama-server or Ollama in tests. It is the one
// double silo's tests use for inference servers: a real HTTP server on
// loopback that speaks the wire protocol (JSON bodies, SSE streams ending in
// "data: [DONE]", OpenAI error objects), so everything between a client and
// the engine pool runs for real.
//
// Outputs are deterministic functions of the input:
//
//   - chat completions echo the words (strings.Fields) of the last message;
//     completions echo the words of the prompt. Each word is one token and,
//     when streamed, one chunk: the first word as-is, later words with a
//     leading space ("hello world" streams as "hello", " world"). An input
//     with no words answers the single word "ok".
//   - prompt_tokens counts the words of every message (or of the prompt);
//     completion_tokens counts the words sent.
//   - max_tokens (or max_completion_tokens) cuts the reply to that many words
//     with finish_reason "length"; a word equal to a stop string ends the
//     reply before it with finish_reason "stop".
//   - logprobs, when asked for, give each word the log probability
//     -len(word)/10 and top_logprobs alternatives named "alt1", "alt2", ...
//   - embeddings have Dimensions floats derived from SHA-256 of the input and
//     scaled to unit length; encoding_format "base64" is honoured.
//
// Knobs change the double's behaviour for the requests that follow: a delay
// between chunks, faults after k chunks (connection cut, malformed SSE, no
// [DONE], stall), failing the next N requests with a status, and requiring an
// API key. Counters and the Canceled channel let a test observe what reached
// the double, including a client that went away before its response was
// complete. All methods are safe for concurrent use.
package enginetest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultModel is the model a new Upstream serves.
const DefaultModel = "echo"

// Dimensions is the length of the embedding vectors the double returns.
const Dimensions = 8

// Created is the "created" timestamp of every object the double returns.
const Created = 1700000000

// Fault is a way for a streamed response to go wrong.
type Fault int

const (
	// FaultNone streams normally.
	FaultNone Fault = iota
	// FaultCut closes the connection without ending the HTTP response.
	FaultCut
	// FaultMalformed sends an event whose data is not JSON, then ends the
	// response.
	FaultMalformed
	// FaultNoDone ends the response cleanly without a finish chunk, usage
	// or "data: [DONE]".
	FaultNoDone
	// FaultStall stops sending and holds the connection open until the
	// client goes away or the double is closed.
	FaultStall
)

// Request is what the double recorded of one request.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Upstream is an OpenAI-compatible server on loopback. Create it with
// NewUpstream; it is closed when the test ends.
type Upstream struct {
	// URL is the server's base URL, without the /v1 suffix
	// (for example http://127.0.0.1:41234).
	URL string

	srv      *httptest.Server
	quit     chan struct{}
	canceled chan struct{}

	mu          sync.Mutex
	models      []string
	apiKey      string
	chunkDelay  time.Duration
	fault       Fault
	faultAfter  int
	failN       int
	failStatus  int
	modelsFail  int // status for /v1/models; 0: serve normally
	counts      map[string]int
	ncanceled   int
	last        Request
	quitOnce    sync.Once
	inFlight    int
	maxInFlight int
}

// NewUpstream starts a double on loopback serving DefaultModel and closes it
// when the test ends.
func NewUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{
		quit:     make(chan struct{}),
		canceled: make(chan struct{}, 1024),
		models:   []string{DefaultModel},
		counts:   make(map[string]int),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", u.handleModels)
	mux.HandleFunc("POST /v1/chat/completions", u.handleGenerate)
	mux.HandleFunc("POST /v1/completions", u.handleGenerate)
	mux.HandleFunc("POST /v1/embeddings", u.handleEmbeddings)
	u.srv = httptest.NewServer(u.wrap(mux))
	u.URL = u.srv.URL
	t.Cleanup(u.Close)
	return u
}

// Close stops the server, releasing stalled streams first. Requests made
// afterwards fail to connect. Close is idempotent.
func (u *Upstream) Close() {
	u.quitOnce.Do(func() {
		close(u.quit)
		u.srv.CloseClientConnections()
		u.srv.Close()
	})
}

// SetModels sets the models the double serves. Requests for other models
// answer 404 model_not_found.
func (u *Upstream) SetModels(ids ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.models = slices.Clone(ids)
}

// SetAPIKey makes every endpoint require "Authorization: Bearer key"; the
// empty key turns the check off.
func (u *Upstream) SetAPIKey(key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.apiKey = key
}

// SetChunkDelay sets a pause before each streamed chunk after the first.
func (u *Upstream) SetChunkDelay(d time.Duration) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.chunkDelay = d
}

// SetFault makes every following streamed response go wrong with f after
// it has sent afterChunks content chunks (0: right after the headers and
// the role chunk). FaultNone restores normal streaming.
func (u *Upstream) SetFault(afterChunks int, f Fault) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fault, u.faultAfter = f, afterChunks
}

// FailNext makes the next n requests to the completion and embedding
// endpoints answer status with an OpenAI error object.
func (u *Upstream) FailNext(n, status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.failN, u.failStatus = n, status
}

// SetModelsStatus makes GET /v1/models answer status with an error object,
// which health checks see as the server being down; 0 or 200 serves the
// list again.
func (u *Upstream) SetModelsStatus(status int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if status == http.StatusOK {
		status = 0
	}
	u.modelsFail = status
}

// Requests reports how many requests reached path (for example
// "/v1/chat/completions"), counting failed ones.
func (u *Upstream) Requests(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts[path]
}

// Generations reports how many requests reached /v1/chat/completions and
// /v1/completions together.
func (u *Upstream) Generations() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.counts["/v1/chat/completions"] + u.counts["/v1/completions"]
}

// InFlight reports how many requests the double is serving now, and the
// most it has served at once.
func (u *Upstream) InFlight() (now, max int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.inFlight, u.maxInFlight
}

// Last returns the last request to a completion or embedding endpoint.
func (u *Upstream) Last() Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	r := u.last
	r.Header = r.Header.Clone()
	r.Body = slices.Clone(r.Body)
	return r
}

// Canceled receives one value for each request whose client went away
// (its context was cancelled) before the double finished its response.
// The channel buffers 1024 values; later ones are counted but not sent.
func (u *Upstream) Canceled() <-chan struct{} { return u.canceled }

// CanceledCount reports how many requests were cancelled by their client.
func (u *Upstream) CanceledCount() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ncanceled
}

func (u *Upstream) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.counts[r.URL.Path]++
		key := u.apiKey
		u.mu.Unlock()
		if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (u *Upstream) handleModels(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	fail, ids := u.modelsFail, slices.Clone(u.models)
	u.mu.Unlock()
	if fail != 0 {
		writeError(w, fail, "server_error", "", "models unavailable")
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, id := range ids {
		list.Data = append(list.Data, model{ID: id, Object: "model", Created: Created, OwnedBy: "enginetest"})
	}
	writeJSON(w, http.StatusOK, list)
}

// begin records a request and applies FailNext. It returns the body, or
// false when the response has already been written.
func (u *Upstream) begin(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	u.mu.Lock()
	u.last = Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	fail := 0
	if u.failN > 0 {
		u.failN--
		fail = u.failStatus
	}
	u.mu.Unlock()
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "cannot read body")
		return nil, false
	}
	if fail != 0 {
		writeError(w, fail, "server_error", "", fmt.Sprintf("injected failure %d", fail))
		return nil, false
	}
	return body, true
}

func (u *Upstream) serves(model string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Contains(u.models, model)
}

// track counts a request in flight and, when it ends, reports whether its
// client went away before the response was complete.
func (u *Upstream) track(r *http.Request) (done func(complete bool)) {
	u.mu.Lock()
	u.inFlight++
	u.maxInFlight = max(u.maxInFlight, u.inFlight)
	u.mu.Unlock()
	return func(complete bool) {
		u.mu.Lock()
		u.inFlight--
		gone := !complete && r.Context().Err() != nil
		if gone {
			u.ncanceled++
		}
		u.mu.Unlock()
		if gone {
			select {
			case u.canceled <- struct{}{}:
			default:
			}
		}
	}
}

type genRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           int             `json:"max_tokens"`
	MaxCompletionTokens int             `json:"max_completion_tokens"`
	Stop                json.RawMessage `json:"stop"`
	Logprobs            json.RawMessage `json:"logprobs"`
	TopLogprobs         int             `json:"top_logprobs"`
}

// text returns the plain text of a content field: a string or an array of
// {"type":"text","text":...} parts.
func text(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

func stopList(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("stop must be a string or an array of strings")
	}
	return l, nil
}

// plan is the reply the double will give to a generation request.
type plan struct {
	chat         bool
	model        string
	words        []string
	finish       string
	promptTokens int
	logprobs     bool
	top          int
	stream       bool
	includeUsage bool
}

func parseGen(chat bool, body []byte) (*plan, error) {
	var req genRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("invalid JSON body: %v", err)
	}
	if req.Model == "" {
		return nil, fmt.Errorf("model is required")
	}
	p := &plan{chat: chat, model: req.Model, stream: req.Stream, top: req.TopLogprobs}
	p.includeUsage = req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	var input []string
	if chat {
		if len(req.Messages) == 0 {
			return nil, fmt.Errorf("messages must not be empty")
		}
		for _, m := range req.Messages {
			s, err := text(m.Content)
			if err != nil {
				return nil, err
			}
			input = strings.Fields(s)
			p.promptTokens += len(input)
		}
		if len(req.Logprobs) > 0 && string(req.Logprobs) != "null" {
			if err := json.Unmarshal(req.Logprobs, &p.logprobs); err != nil {
				return nil, fmt.Errorf("logprobs must be a boolean")
			}
		}
	} else {
		var prompt string
		if err := json.Unmarshal(req.Prompt, &prompt); err != nil {
			return nil, fmt.Errorf("prompt must be a string")
		}
		input = strings.Fields(prompt)
		p.promptTokens = len(input)
		if len(req.Logprobs) > 0 && string(req.Logprobs) != "null" {
			if err := json.Unmarshal(req.Logprobs, &p.top); err != nil {
				return nil, fmt.Errorf("logprobs must be an integer")
			}
			p.logprobs = true
		}
	}
	if p.top < 0 || p.top > 20 {
		return nil, fmt.Errorf("top_logprobs must be between 0 and 20")
	}
	stops, err := stopList(req.Stop)
	if err != nil {
		return nil, err
	}
	if len(input) == 0 {
		input = []string{"ok"}
	}
	limit := req.MaxTokens
	if req.MaxCompletionTokens > 0 {
		limit = req.MaxCompletionTokens
	}
	if limit < 0 {
		return nil, fmt.Errorf("max_tokens must not be negative")
	}
	p.finish = "stop"
	for _, w := range input {
		if slices.Contains(stops, w) {
			break
		}
		if limit > 0 && len(p.words) == limit {
			p.finish = "length"
			break
		}
		p.words = append(p.words, w)
	}
	return p, nil
}

// piece is the text of word i as the double sends it.
func (p *plan) piece(i int) string {
	if i == 0 {
		return p.words[0]
	}
	return " " + p.words[i]
}

func (p *plan) usage() map[string]int {
	return map[string]int{
		"prompt_tokens":     p.promptTokens,
		"completion_tokens": len(p.words),
		"total_tokens":      p.promptTokens + len(p.words),
	}
}

type tokenLogprob struct {
	Token       string         `json:"token"`
	Logprob     float64        `json:"logprob"`
	Bytes       []int          `json:"bytes"`
	TopLogprobs []tokenLogprob `json:"top_logprobs,omitempty"`
}

func bytesOf(s string) []int {
	b := make([]int, len(s))
	for i := range len(s) {
		b[i] = int(s[i])
	}
	return b
}

// logprobsFor returns the logprobs object of the pieces from..to in the
// chat or the legacy completions shape.
func (p *plan) logprobsFor(from, to int) any {
	if !p.logprobs {
		return nil
	}
	if p.chat {
		content := []tokenLogprob{}
		for i := from; i < to; i++ {
			tok := p.piece(i)
			lp := tokenLogprob{Token: tok, Logprob: -float64(len(p.words[i])) / 10, Bytes: bytesOf(tok), TopLogprobs: []tokenLogprob{}}
			for k := range p.top {
				if k == 0 {
					lp.TopLogprobs = append(lp.TopLogprobs, tokenLogprob{Token: tok, Logprob: lp.Logprob, Bytes: bytesOf(tok)})
					continue
				}
				alt := fmt.Sprintf("alt%d", k)
				lp.TopLogprobs = append(lp.TopLogprobs, tokenLogprob{Token: alt, Logprob: lp.Logprob - float64(k), Bytes: bytesOf(alt)})
			}
			content = append(content, lp)
		}
		return map[string]any{"content": content}
	}
	out := struct {
		Tokens        []string             `json:"tokens"`
		TokenLogprobs []float64            `json:"token_logprobs"`
		TopLogprobs   []map[string]float64 `json:"top_logprobs"`
		TextOffset    []int                `json:"text_offset"`
	}{Tokens: []string{}, TokenLogprobs: []float64{}, TopLogprobs: []map[string]float64{}, TextOffset: []int{}}
	offset := 0
	for i := range from {
		offset += len(p.piece(i))
	}
	for i := from; i < to; i++ {
		tok := p.piece(i)
		lp := -float64(len(p.words[i])) / 10
		out.Tokens = append(out.Tokens, tok)
		out.TokenLogprobs = append(out.TokenLogprobs, lp)
		top := map[string]float64{}
		for k := range p.top {
			if k == 0 {
				top[tok] = lp
			} else {
				top[fmt.Sprintf("alt%d", k)] = lp - float64(k)
			}
		}
		out.TopLogprobs = append(out.TopLogprobs, top)
		out.TextOffset = append(out.TextOffset, offset)
		offset += len(tok)
	}
	return out
}

func (u *Upstream) handleGenerate(w http.ResponseWriter, r *http.Request) {
	chat := r.URL.Path == "/v1/chat/completions"
	done := u.track(r)
	complete := false
	defer func() { done(complete) }()

	body, ok := u.begin(w, r)
	if !ok {
		complete = true
		return
	}
	p, err := parseGen(chat, body)
	if err != nil {
		complete = true
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", err.Error())
		return
	}
	if !u.serves(p.model) {
		complete = true
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist.", p.model))
		return
	}
	if !p.stream {
		complete = true
		u.writeWhole(w, p)
		return
	}
	complete = u.stream(w, r, p)
}

func (u *Upstream) writeWhole(w http.ResponseWriter, p *plan) {
	all := strings.Join(p.words, " ")
	var choice map[string]any
	if p.chat {
		choice = map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": all, "refusal": nil},
			"logprobs":      p.logprobsFor(0, len(p.words)),
			"finish_reason": p.finish,
		}
	} else {
		choice = map[string]any{"index": 0, "text": all, "logprobs": p.logprobsFor(0, len(p.words)), "finish_reason": p.finish}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id":      p.id(),
		"object":  p.object(false),
		"created": Created,
		"model":   p.model,
		"choices": []any{choice},
		"usage":   p.usage(),
	})
}

func (p *plan) id() string {
	if p.chat {
		return "chatcmpl-enginetest"
	}
	return "cmpl-enginetest"
}

func (p *plan) object(chunk bool) string {
	switch {
	case p.chat && chunk:
		return "chat.completion.chunk"
	case p.chat:
		return "chat.completion"
	}
	return "text_completion"
}

// stream sends p as SSE. It reports whether the response was completed.
func (u *Upstream) stream(w http.ResponseWriter, r *http.Request, p *plan) bool {
	u.mu.Lock()
	delay, fault, after := u.chunkDelay, u.fault, u.faultAfter
	u.mu.Unlock()

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	send := func(choices []any, usage any) bool {
		m := map[string]any{"id": p.id(), "object": p.object(true), "created": Created, "model": p.model, "choices": choices}
		if p.includeUsage {
			m["usage"] = usage
		}
		b, _ := json.Marshal(m)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	choice := func(content string, withRole bool, logprobs any, finish any) any {
		if p.chat {
			delta := map[string]any{}
			if withRole {
				delta["role"] = "assistant"
			}
			if content != "" || withRole {
				delta["content"] = content
			}
			return map[string]any{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
		}
		return map[string]any{"index": 0, "text": content, "logprobs": logprobs, "finish_reason": finish}
	}
	faultNow := func() bool {
		switch fault {
		case FaultCut:
			_ = rc.Flush()
			panic(http.ErrAbortHandler)
		case FaultMalformed:
			fmt.Fprint(w, "data: {\"choices\": [\n\n")
			_ = rc.Flush()
			return true
		case FaultNoDone:
			return true
		case FaultStall:
			select {
			case <-r.Context().Done():
			case <-u.quit:
			}
			return false
		}
		return true
	}

	if p.chat && !send([]any{choice("", true, nil, nil)}, nil) {
		return false
	}
	for i := range p.words {
		if fault != FaultNone && i == after {
			return faultNow()
		}
		if i > 0 && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return false
			case <-u.quit:
				t.Stop()
				return false
			}
		}
		if !send([]any{choice(p.piece(i), false, p.logprobsFor(i, i+1), nil)}, nil) {
			return false
		}
	}
	if fault != FaultNone && after >= len(p.words) {
		return faultNow()
	}
	if !send([]any{choice("", false, nil, p.finish)}, nil) {
		return false
	}
	if p.includeUsage && !send([]any{}, p.usage()) {
		return false
	}
	if _, err := fmt.Fprint(w, "data: [DONE]\n\n"); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// Embedding returns the vector the double gives for input.
func Embedding(input string) []float32 {
	sum := sha256.Sum256([]byte(input))
	v := make([]float32, Dimensions)
	var norm float64
	for i := range v {
		x := float64(int8(sum[i])) / 128
		if x == 0 {
			x = 1.0 / 256
		}
		v[i] = float32(x)
		norm += x * x
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] = float32(float64(v[i]) / norm)
	}
	return v
}

func (u *Upstream) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	done := u.track(r)
	defer done(true)
	body, ok := u.begin(w, r)
	if !ok {
		return
	}
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "invalid JSON body: "+err.Error())
		return
	}
	if req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "model is required")
		return
	}
	if !u.serves(req.Model) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model_not_found",
			fmt.Sprintf("The model `%s` does not exist.", req.Model))
		return
	}
	var inputs []string
	var one string
	if err := json.Unmarshal(req.Input, &one); err == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil || len(inputs) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "input must be a string or a non-empty array of strings")
		return
	}
	if req.EncodingFormat != "" && req.EncodingFormat != "float" && req.EncodingFormat != "base64" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "", "encoding_format must be float or base64")
		return
	}
	data := []map[string]any{}
	tokens := 0
	for i, in := range inputs {
		tokens += len(strings.Fields(in))
		v := Embedding(in)
		var emb any = v
		if req.EncodingFormat == "base64" {
			b := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(f))
			}
			emb = base64.StdEncoding.EncodeToString(b)
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": emb})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": c,
	}})
}
