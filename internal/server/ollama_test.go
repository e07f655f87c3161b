package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// ollamaLine is the union of the fields of Ollama's chat and generate
// objects (and of its error object).
type ollamaLine struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Message   *struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"message"`
	Response        *string `json:"response"`
	Done            bool    `json:"done"`
	DoneReason      string  `json:"done_reason"`
	TotalDuration   int64   `json:"total_duration"`
	PromptEvalCount int     `json:"prompt_eval_count"`
	EvalCount       int     `json:"eval_count"`
	Error           string  `json:"error"`
}

func (l ollamaLine) text() string {
	if l.Message != nil {
		return l.Message.Content
	}
	if l.Response != nil {
		return *l.Response
	}
	return ""
}

func ollamaChat(content string, extra ...any) map[string]any {
	b := map[string]any{"model": enginetest.DefaultModel,
		"messages": []map[string]string{{"role": "user", "content": content}}}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

// ollamaStream posts body to path and returns the status, the content type
// and the NDJSON lines of the answer.
func (h *harness) ollamaStream(ctx context.Context, path string, body any) (int, string, []ollamaLine) {
	h.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+path, bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+h.userKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []ollamaLine
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var l ollamaLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			h.t.Fatalf("%s: line %q is not JSON: %v", path, sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), lines
}

// wantOllamaError checks an answer is Ollama's error object with status want.
func wantOllamaError(t *testing.T, name string, code int, body []byte, want int, contains string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	var all map[string]any
	if code != want || json.Unmarshal(body, &e) != nil || e.Error == "" || json.Unmarshal(body, &all) != nil || len(all) != 1 {
		t.Errorf("%s: %d %s, want %d {\"error\": ...}", name, code, body, want)
		return
	}
	if !strings.Contains(e.Error, contains) {
		t.Errorf("%s: error %q does not mention %q", name, e.Error, contains)
	}
}

func TestOllamaAuth(t *testing.T) {
	h := newHarness(t)
	for _, rt := range []struct{ method, path string }{
		{"GET", "/api/version"}, {"GET", "/api/tags"}, {"POST", "/api/show"}, {"POST", "/api/chat"},
		{"POST", "/api/generate"}, {"POST", "/api/embed"}, {"POST", "/api/embeddings"}, {"GET", "/api/ps"},
	} {
		for _, key := range []string{"", "sk-silo-not-a-real-key"} {
			req, _ := http.NewRequest(rt.method, h.ts.URL+rt.path, strings.NewReader(`{"model":"echo","prompt":"hi","messages":[{"role":"user","content":"hi"}]}`))
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := h.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
			wantOllamaError(t, rt.method+" "+rt.path+" key "+key, resp.StatusCode, buf.Bytes(), 401, "API key")
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s %s: Content-Type %q", rt.method, rt.path, ct)
			}
		}
	}
	if n := h.up.Generations(); n != 0 {
		t.Errorf("%d unauthenticated requests reached the engine", n)
	}
	// silo's own API keeps problem+json, with or without a key.
	if c, b := h.do("GET", "/api/v1/me", "", nil); c != 401 || !strings.Contains(string(b), "urn:silo:problem:") {
		t.Errorf("/api/v1/me without a key: %d %s", c, b)
	}
	if c, b := h.do("GET", "/api/v1/nope", h.userKey, nil); c != 404 || !strings.Contains(string(b), "urn:silo:problem:") {
		t.Errorf("/api/v1/nope: %d %s", c, b)
	}
	// Unknown Ollama paths and methods answer 404 in Ollama's shape.
	for _, p := range []struct{ method, path string }{{"GET", "/api/ps"}, {"POST", "/api/pull"}, {"GET", "/api/chat"}, {"DELETE", "/api/delete"}} {
		c, b := h.do(p.method, p.path, h.userKey, nil)
		wantOllamaError(t, p.method+" "+p.path, c, b, 404, "unknown endpoint")
	}
}

func TestOllamaVersionTagsShow(t *testing.T) {
	h := newHarness(t)
	var v struct{ Version string }
	h.mustJSON("GET", "/api/version", h.userKey, nil, 200, &v)
	if v.Version == "" {
		t.Error("empty version")
	}
	var tags struct {
		Models []struct {
			Name       string    `json:"name"`
			Model      string    `json:"model"`
			ModifiedAt time.Time `json:"modified_at"`
			Size       int64     `json:"size"`
			Digest     string    `json:"digest"`
			Details    struct {
				Format string `json:"format"`
				Family string `json:"family"`
			} `json:"details"`
		} `json:"models"`
	}
	h.mustJSON("GET", "/api/tags", h.userKey, nil, 200, &tags)
	if len(tags.Models) != 1 {
		t.Fatalf("tags %+v, want the double's model", tags)
	}
	m := tags.Models[0]
	// An upstream's model: nothing known beyond its name; nothing made up.
	if m.Name != enginetest.DefaultModel || m.Model != enginetest.DefaultModel || m.Size != 0 || m.Digest != "" || m.Details.Format != "" || m.Details.Family != "" {
		t.Errorf("model %+v", m)
	}
	var show struct {
		Details      map[string]any `json:"details"`
		Capabilities []string       `json:"capabilities"`
	}
	h.mustJSON("POST", "/api/show", h.userKey, map[string]string{"model": enginetest.DefaultModel}, 200, &show)
	if len(show.Capabilities) == 0 || show.Capabilities[0] != "completion" || show.Details == nil {
		t.Errorf("show %+v", show)
	}
	// The legacy "name" and the default tag find it too.
	h.mustJSON("POST", "/api/show", h.userKey, map[string]string{"name": enginetest.DefaultModel + ":latest"}, 200, &show)
	c, b := h.do("POST", "/api/show", h.userKey, map[string]string{"model": "nope"})
	wantOllamaError(t, "show unknown", c, b, 404, `model "nope" not found`)
}

func TestOllamaChatStreamed(t *testing.T) {
	h := newHarness(t)
	status, ct, lines := h.ollamaStream(context.Background(), "/api/chat", ollamaChat("one two three")) // stream defaults to true
	if status != 200 || ct != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", status, ct)
	}
	if len(lines) != 4 {
		t.Fatalf("lines %+v: want one per word and a final one", lines)
	}
	var text strings.Builder
	for i, l := range lines[:3] {
		if l.Done || l.Message == nil || l.Message.Role != "assistant" || l.Model != enginetest.DefaultModel || l.CreatedAt == "" {
			t.Errorf("line %d: %+v", i, l)
		}
		text.WriteString(l.text())
	}
	if text.String() != "one two three" {
		t.Errorf("streamed text %q", text.String())
	}
	last := lines[3]
	if !last.Done || last.DoneReason != "stop" || last.PromptEvalCount != 3 || last.EvalCount != 3 || last.TotalDuration <= 0 ||
		last.Message == nil || last.Message.Content != "" {
		t.Errorf("final line %+v", last)
	}
	// The usage was metered for alice.
	var u struct {
		Usage []struct {
			Model            string `json:"model"`
			PromptTokens     int    `json:"prompt_tokens"`
			CompletionTokens int    `json:"completion_tokens"`
		} `json:"usage"`
	}
	h.mustJSON("GET", "/api/v1/usage", h.userKey, nil, 200, &u)
	if len(u.Usage) != 1 || u.Usage[0].Model != enginetest.DefaultModel || u.Usage[0].PromptTokens != 3 || u.Usage[0].CompletionTokens != 3 {
		t.Errorf("metered usage %+v", u.Usage)
	}
}

func TestOllamaChatNonStreamed(t *testing.T) {
	h := newHarness(t)
	var l ollamaLine
	h.mustJSON("POST", "/api/chat", h.userKey, ollamaChat("alpha beta gamma delta", "stream", false,
		"options", map[string]any{"num_predict": 2, "temperature": 0.5, "top_k": 7, "seed": 42, "repeat_penalty": 1.1, "num_ctx": 4096}), 200, &l)
	if !l.Done || l.DoneReason != "length" || l.text() != "alpha beta" || l.Message.Role != "assistant" || l.EvalCount != 2 || l.PromptEvalCount != 4 {
		t.Errorf("answer %+v", l)
	}
	// The options reached the engine.
	var sent map[string]any
	if err := json.Unmarshal(h.up.Last().Body, &sent); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]float64{"temperature": 0.5, "top_k": 7, "seed": 42, "repetition_penalty": 1.1} {
		if got, _ := sent[k].(float64); got != want {
			t.Errorf("upstream got %s=%v, want %v (body %s)", k, sent[k], want, h.up.Last().Body)
		}
	}
	// No messages: the model is ready, nothing generated.
	before := h.up.Generations()
	h.mustJSON("POST", "/api/chat", h.userKey, map[string]any{"model": enginetest.DefaultModel, "messages": []any{}}, 200, &l)
	if !l.Done || l.DoneReason != "load" || h.up.Generations() != before {
		t.Errorf("load answer %+v", l)
	}
	// A stop option ends the answer.
	h.mustJSON("POST", "/api/chat", h.userKey, ollamaChat("a b c d", "stream", false, "options", map[string]any{"stop": []string{"c"}}), 200, &l)
	if l.text() != "a b" || l.DoneReason != "stop" {
		t.Errorf("stopped answer %+v", l)
	}
}

func TestOllamaGenerate(t *testing.T) {
	h := newHarness(t)
	status, ct, lines := h.ollamaStream(context.Background(), "/api/generate",
		map[string]any{"model": enginetest.DefaultModel, "prompt": "why is the sky blue", "system": "be brief", "keep_alive": "5m"})
	if status != 200 || ct != "application/x-ndjson" || len(lines) != 6 {
		t.Fatalf("status %d, content type %q, lines %+v", status, ct, lines)
	}
	var text strings.Builder
	for _, l := range lines {
		if l.Response == nil || l.Message != nil {
			t.Errorf("line %+v: want response, not message", l)
		}
		text.WriteString(l.text())
	}
	last := lines[len(lines)-1]
	// The double answers the last message and counts the words of all.
	if text.String() != "why is the sky blue" || !last.Done || last.DoneReason != "stop" || last.PromptEvalCount != 7 || last.EvalCount != 5 {
		t.Errorf("text %q, final %+v", text.String(), last)
	}
	var l ollamaLine
	h.mustJSON("POST", "/api/generate", h.userKey, map[string]any{"model": enginetest.DefaultModel, "prompt": "x y z", "raw": true, "stream": false}, 200, &l)
	if l.text() != "x y z" || !l.Done || l.EvalCount != 3 {
		t.Errorf("raw answer %+v", l)
	}
	if last := h.up.Last(); last.Path != "/v1/completions" {
		t.Errorf("raw prompt went to %s, want the plain completion", last.Path)
	}
	h.mustJSON("POST", "/api/generate", h.userKey, map[string]any{"model": enginetest.DefaultModel + ":latest"}, 200, &l)
	if !l.Done || l.DoneReason != "load" || l.Model != enginetest.DefaultModel+":latest" {
		t.Errorf("load answer %+v", l)
	}
}

func TestOllamaEmbed(t *testing.T) {
	h := newHarness(t)
	var e struct {
		Model           string      `json:"model"`
		Embeddings      [][]float32 `json:"embeddings"`
		PromptEvalCount int         `json:"prompt_eval_count"`
	}
	h.mustJSON("POST", "/api/embed", h.userKey, map[string]any{"model": enginetest.DefaultModel, "input": []string{"a b", "c"}}, 200, &e)
	if e.Model != enginetest.DefaultModel || len(e.Embeddings) != 2 || len(e.Embeddings[0]) != enginetest.Dimensions || e.PromptEvalCount == 0 {
		t.Errorf("embed %+v", e)
	}
	first := e.Embeddings[0]
	h.mustJSON("POST", "/api/embed", h.userKey, map[string]any{"model": enginetest.DefaultModel, "input": "a b"}, 200, &e)
	if len(e.Embeddings) != 1 || !equal(e.Embeddings[0], first) {
		t.Errorf("embed one string %+v, want the vector of the same input", e)
	}
	var legacy struct {
		Embedding []float32 `json:"embedding"`
	}
	h.mustJSON("POST", "/api/embeddings", h.userKey, map[string]any{"model": enginetest.DefaultModel, "prompt": "a b"}, 200, &legacy)
	if !equal(legacy.Embedding, first) {
		t.Errorf("legacy embedding %v, want %v", legacy.Embedding, first)
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOllamaBadRequests(t *testing.T) {
	h := newHarness(t)
	many := make([]map[string]string, 1025)
	for i := range many {
		many[i] = map[string]string{"role": "user", "content": "x"}
	}
	for _, tc := range []struct {
		name, path string
		body       any
		want       string
	}{
		{"malformed json", "/api/chat", `{"model": `, "could not parse"},
		{"empty body", "/api/chat", ``, "missing request body"},
		{"no model", "/api/chat", map[string]any{"messages": []map[string]string{{"role": "user", "content": "x"}}}, "model is required"},
		{"too many messages", "/api/chat", ollamaChat("x", "messages", many), "at most 1024 messages"},
		{"bad role", "/api/chat", ollamaChat("x", "messages", []map[string]string{{"role": "wizard", "content": "x"}}), "wizard"},
		{"content not a string", "/api/chat", ollamaChat("x", "messages", []map[string]any{{"role": "user", "content": 5}}), "could not parse"},
		{"temperature a string", "/api/chat", ollamaChat("x", "options", map[string]any{"temperature": "hot"}), "options.temperature must be a number"},
		{"num_predict a float", "/api/chat", ollamaChat("x", "options", map[string]any{"num_predict": 1.5}), "options.num_predict must be an integer"},
		{"stop a number", "/api/chat", ollamaChat("x", "options", map[string]any{"stop": 3}), "options.stop must be an array of strings"},
		{"options not an object", "/api/chat", ollamaChat("x", "options", []int{1}), "options must be an object"},
		{"unsupported option", "/api/chat", ollamaChat("x", "options", map[string]any{"mirostat": 2}), `"mirostat"`},
		{"temperature 3", "/api/chat", ollamaChat("x", "options", map[string]any{"temperature": 3}), "temperature must be between 0 and 2"},
		{"num_predict 0", "/api/chat", ollamaChat("x", "options", map[string]any{"num_predict": 0}), "num_predict"},
		{"format json", "/api/chat", ollamaChat("x", "format", "json"), "format is not supported"},
		{"format schema", "/api/chat", ollamaChat("x", "format", map[string]any{"type": "object"}), "format is not supported"},
		{"tools", "/api/chat", ollamaChat("x", "tools", []any{map[string]any{"type": "function"}}), "tools"},
		{"images", "/api/chat", ollamaChat("x", "messages", []map[string]any{{"role": "user", "content": "x", "images": []string{"AAAA"}}}), "images"},
		{"think", "/api/chat", ollamaChat("x", "think", true), "think"},
		{"generate raw with system", "/api/generate", map[string]any{"model": "echo", "prompt": "x", "raw": true, "system": "s"}, "raw"},
		{"generate suffix", "/api/generate", map[string]any{"model": "echo", "prompt": "x", "suffix": "y"}, "suffix"},
		{"generate context", "/api/generate", map[string]any{"model": "echo", "prompt": "x", "context": []int{1, 2}}, "context"},
		{"generate format", "/api/generate", map[string]any{"model": "echo", "prompt": "x", "format": "json"}, "format"},
		{"embed no input", "/api/embed", map[string]any{"model": "echo"}, "input is required"},
		{"embed empty list", "/api/embed", map[string]any{"model": "echo", "input": []string{}}, "input must not be empty"},
		{"embed numbers", "/api/embed", map[string]any{"model": "echo", "input": []int{1, 2}}, "input must be a string or an array of strings"},
		{"embed dimensions", "/api/embed", map[string]any{"model": "echo", "input": "x", "dimensions": 4}, "dimensions"},
		{"embeddings no prompt", "/api/embeddings", map[string]any{"model": "echo"}, "prompt is required"},
	} {
		c, b := h.do("POST", tc.path, h.userKey, tc.body)
		wantOllamaError(t, tc.name, c, b, 400, tc.want)
	}
	for _, path := range []string{"/api/chat", "/api/generate", "/api/embed", "/api/embeddings"} {
		for _, stream := range []bool{false, true} {
			c, b := h.do("POST", path, h.userKey, map[string]any{"model": "nope", "stream": stream, "prompt": "x", "input": "x",
				"messages": []map[string]string{{"role": "user", "content": "x"}}})
			wantOllamaError(t, "unknown model at "+path, c, b, 404, `model "nope" not found`)
		}
	}
	if n := h.up.Generations(); n != 0 {
		t.Errorf("%d bad requests reached the engine", n)
	}
}

// TestOllamaQuota: past the daily quota, Ollama clients get 429 in
// Ollama's shape; the last admitted answer is capped to what was left.
func TestOllamaQuota(t *testing.T) {
	h := newHarness(t)
	h.mustJSON("PUT", "/api/v1/users/"+h.userID.String()+"/limits", h.adminKey,
		map[string]int{"tokens_per_day": 13, "requests_per_minute": 0}, 200, nil)
	for i := 0; i < 2; i++ { // 3 prompt + 3 completion tokens each
		if c, b := h.do("POST", "/api/chat", h.userKey, ollamaChat("a b c", "stream", false)); c != 200 {
			t.Fatalf("request %d under quota: %d %s", i+1, c, b)
		}
	}
	var l ollamaLine
	h.mustJSON("POST", "/api/generate", h.userKey, map[string]any{"model": enginetest.DefaultModel, "prompt": "a b c", "stream": false}, 200, &l)
	if l.text() != "a" || l.DoneReason != "length" {
		t.Errorf("capped answer %+v", l)
	}
	for _, path := range []string{"/api/chat", "/api/generate", "/api/embed"} {
		c, b := h.do("POST", path, h.userKey, map[string]any{"model": enginetest.DefaultModel, "prompt": "a", "input": "a",
			"messages": []map[string]string{{"role": "user", "content": "a"}}})
		wantOllamaError(t, "over quota at "+path, c, b, 429, "quota")
	}
	// The admin is not limited by alice's quota.
	if c, b := h.do("POST", "/api/chat", h.adminKey, ollamaChat("a b c", "stream", false)); c != 200 {
		t.Errorf("admin: %d %s", c, b)
	}
}

// TestOllamaClientDisconnectCancelsUpstream: a streamed chat whose client
// leaves cancels generation at the engine.
func TestOllamaClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	h.up.SetFault(1, enginetest.FaultStall)
	ctx, cancel := context.WithCancel(context.Background())
	raw, _ := json.Marshal(ollamaChat("a b c"))
	req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+"/api/chat", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+h.userKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.Contains(line, `"done":false`) {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	resp.Body.Close()
	select {
	case <-h.up.Canceled():
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
}

// TestOllamaStreamFailsMidway: an engine that fails after the stream
// started ends it with an error line and no done line.
func TestOllamaStreamFailsMidway(t *testing.T) {
	h := newHarness(t)
	h.up.SetFault(2, enginetest.FaultCut)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, lines := h.ollamaStream(ctx, "/api/chat", ollamaChat("a b c d e"))
	if ctx.Err() != nil {
		t.Fatal("stream hung")
	}
	if len(lines) == 0 || lines[len(lines)-1].Error == "" {
		t.Fatalf("lines %+v: want an error line last", lines)
	}
	for _, l := range lines {
		if l.Done {
			t.Errorf("done line in a failed stream: %+v", l)
		}
	}
}
