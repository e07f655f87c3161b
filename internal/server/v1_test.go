package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/enginetest"
)

func chatBody(content string, stream bool, extra ...any) map[string]any {
	b := map[string]any{"model": enginetest.DefaultModel, "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": content}}}
	for i := 0; i+1 < len(extra); i += 2 {
		b[extra[i].(string)] = extra[i+1]
	}
	return b
}

type openAIErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func code(b []byte) string {
	var e openAIErr
	json.Unmarshal(b, &e)
	if e.Error.Code == nil {
		return ""
	}
	return *e.Error.Code
}

// streamEvents posts a streamed request and returns the data lines.
func (h *harness) streamEvents(ctx context.Context, key string, body any) (int, http.Header, []string) {
	h.t.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, d)
		}
	}
	return resp.StatusCode, resp.Header, events
}

func TestChatStreamShape(t *testing.T) {
	h := newHarness(t)
	status, hdr, ev := h.streamEvents(context.Background(), h.userKey,
		chatBody("one two three", true, "stream_options", map[string]bool{"include_usage": true}))
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("status %d, content type %q", status, hdr.Get("Content-Type"))
	}
	if len(ev) < 4 || ev[len(ev)-1] != "[DONE]" {
		t.Fatalf("events %q: want chunks then [DONE]", ev)
	}
	var text strings.Builder
	var finish string
	var usage map[string]int
	for i, e := range ev[:len(ev)-1] {
		var c struct {
			Object  string `json:"object"`
			Choices []struct {
				Delta struct {
					Role    string  `json:"role"`
					Content *string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage map[string]int `json:"usage"`
		}
		if err := json.Unmarshal([]byte(e), &c); err != nil || c.Object != "chat.completion.chunk" {
			t.Fatalf("event %d %q: %v", i, e, err)
		}
		if i == 0 && (len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant") {
			t.Errorf("first chunk %s: want the assistant role", e)
		}
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text.WriteString(*ch.Delta.Content)
			}
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 {
				t.Errorf("usage chunk has choices: %s", e)
			}
			usage = c.Usage
		}
	}
	if text.String() != "one two three" || finish != "stop" {
		t.Errorf("text %q finish %q", text.String(), finish)
	}
	if usage["prompt_tokens"] != 3 || usage["completion_tokens"] != 3 || usage["total_tokens"] != 6 {
		t.Errorf("usage %v", usage)
	}
	// Usage was metered for alice.
	var u struct {
		Usage []struct {
			Model            string `json:"model"`
			PromptTokens     int    `json:"prompt_tokens"`
			CompletionTokens int    `json:"completion_tokens"`
		} `json:"usage"`
	}
	h.mustJSON("GET", "/api/v1/usage", h.userKey, nil, 200, &u)
	if len(u.Usage) != 1 || u.Usage[0].PromptTokens != 3 || u.Usage[0].CompletionTokens != 3 {
		t.Errorf("metered usage %+v", u.Usage)
	}
}

func TestChatNonStreamed(t *testing.T) {
	h := newHarness(t)
	var resp struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage map[string]int `json:"usage"`
	}
	h.mustJSON("POST", "/v1/chat/completions", h.userKey, chatBody("alpha beta gamma delta", false, "max_tokens", 2), 200, &resp)
	if resp.Object != "chat.completion" || len(resp.Choices) != 1 || resp.Choices[0].Message.Content != "alpha beta" ||
		resp.Choices[0].FinishReason != "length" || resp.Usage["completion_tokens"] != 2 {
		t.Errorf("response %+v", resp)
	}
}

func TestV1BadRequests(t *testing.T) {
	h := newHarness(t)
	for name, body := range map[string]any{
		"no model":        map[string]any{"messages": []map[string]string{{"role": "user", "content": "x"}}},
		"no messages":     map[string]any{"model": enginetest.DefaultModel, "messages": []any{}},
		"bad role":        chatBody("x", false, "messages", []map[string]string{{"role": "wizard", "content": "x"}}),
		"n=2":             chatBody("x", false, "n", 2),
		"temperature 3":   chatBody("x", false, "temperature", 3),
		"too many stops":  chatBody("x", false, "stop", []string{"a", "b", "c", "d", "e"}),
		"max_tokens 0":    chatBody("x", false, "max_tokens", 0),
		"malformed json":  `{"model": `,
		"tools":           chatBody("x", false, "tools", []any{map[string]any{"type": "function"}}),
		"image part":      chatBody("x", false, "messages", []any{map[string]any{"role": "user", "content": []any{map[string]any{"type": "image_url"}}}}),
		"content numeric": chatBody("x", false, "messages", []any{map[string]any{"role": "user", "content": 5}}),
	} {
		c, b := h.do("POST", "/v1/chat/completions", h.userKey, body)
		var e openAIErr
		if c != 400 || json.Unmarshal(b, &e) != nil || e.Error.Type != "invalid_request_error" || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want 400 invalid_request_error", name, c, b)
		}
	}
	c, b := h.do("POST", "/v1/chat/completions", h.userKey, map[string]any{"model": "nope", "messages": []map[string]string{{"role": "user", "content": "x"}}})
	if c != 404 || code(b) != "model_not_found" {
		t.Errorf("unknown model: %d %s", c, b)
	}
}

// TestQuotaExact: with a daily quota of Q tokens, requests pass while
// fewer than Q tokens were used and the first one after gets 429.
func TestQuotaExact(t *testing.T) {
	h := newHarness(t)
	// Each request: 3 prompt + 3 completion tokens at the double.
	h.mustJSON("PUT", "/api/v1/users/"+h.userID.String()+"/limits", h.adminKey,
		map[string]int{"tokens_per_day": 13, "requests_per_minute": 0}, 200, nil)
	for i := 0; i < 2; i++ {
		if c, b := h.do("POST", "/v1/chat/completions", h.userKey, chatBody("a b c", false)); c != 200 {
			t.Fatalf("request %d under quota: %d %s", i+1, c, b)
		}
	}
	// 12 used < 13: admitted, but the completion is capped to the 1 token left.
	var resp struct {
		Choices []struct {
			Message      struct{ Content string } `json:"message"`
			FinishReason string                   `json:"finish_reason"`
		} `json:"choices"`
	}
	h.mustJSON("POST", "/v1/chat/completions", h.userKey, chatBody("a b c", false), 200, &resp)
	if resp.Choices[0].Message.Content != "a" || resp.Choices[0].FinishReason != "length" {
		t.Errorf("capped answer %+v", resp)
	}
	c, b := h.do("POST", "/v1/chat/completions", h.userKey, chatBody("a b c", false))
	if c != 429 || code(b) != "insufficient_quota" {
		t.Fatalf("over quota: %d %s, want 429 insufficient_quota", c, b)
	}
	var lim struct {
		TokensUsedToday int `json:"tokens_used_today"`
	}
	h.mustJSON("GET", "/api/v1/users/"+h.userID.String()+"/limits", h.userKey, nil, 200, &lim)
	if lim.TokensUsedToday != 16 {
		t.Errorf("tokens used today %d, want 16", lim.TokensUsedToday)
	}
	// The admin is not limited by alice's quota.
	if c, _ := h.do("POST", "/v1/chat/completions", h.adminKey, chatBody("a b c", false)); c != 200 {
		t.Errorf("admin: %d", c)
	}
}

func TestRateLimitExact(t *testing.T) {
	h := newHarness(t)
	h.mustJSON("PUT", "/api/v1/users/"+h.userID.String()+"/limits", h.adminKey,
		map[string]int{"tokens_per_day": 0, "requests_per_minute": 3}, 200, nil)
	for i := 0; i < 3; i++ {
		if c, b := h.do("POST", "/v1/chat/completions", h.userKey, chatBody("hi", false)); c != 200 {
			t.Fatalf("request %d: %d %s", i+1, c, b)
		}
	}
	req, _ := http.NewRequest("POST", h.ts.URL+"/v1/chat/completions", strings.NewReader(`{"model":"echo","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer "+h.userKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e openAIErr
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != 429 || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("4th request: %d %+v Retry-After %q", resp.StatusCode, e, resp.Header.Get("Retry-After"))
	}
}

func TestQueueFull(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: engine.Limits{MaxConcurrent: 1, MaxQueue: -1}})
	h.up.SetFault(1, enginetest.FaultStall)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	go func() {
		raw, _ := json.Marshal(chatBody("x y z", true))
		req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+h.userKey)
		resp, err := h.ts.Client().Do(req)
		if err != nil {
			t.Errorf("first request: %v", err)
			close(started)
			return
		}
		defer resp.Body.Close()
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		t.Logf("first request: %d %q", resp.StatusCode, line)
		close(started)
		<-ctx.Done()
	}()
	<-started // headers arrived: the first request holds the only slot
	c, b := h.do("POST", "/v1/chat/completions", h.userKey, chatBody("x", false))
	if c != 429 || code(b) != "queue_full" {
		t.Errorf("second request: %d %s, want 429 queue_full", c, b)
	}
	cancel()
}

// TestUpstreamDiesMidStream: the client gets an error event and the
// stream ends; no [DONE], no hang.
func TestUpstreamDiesMidStream(t *testing.T) {
	for _, f := range []enginetest.Fault{enginetest.FaultCut, enginetest.FaultMalformed, enginetest.FaultNoDone} {
		t.Run(fmt.Sprint(f), func(t *testing.T) {
			h := newHarness(t)
			h.up.SetFault(2, f)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _, ev := h.streamEvents(ctx, h.userKey, chatBody("a b c d e", true))
			if ctx.Err() != nil {
				t.Fatal("stream hung")
			}
			if len(ev) == 0 || !strings.Contains(ev[len(ev)-1], `"error"`) {
				t.Fatalf("events %q: want an error event last", ev)
			}
			for _, e := range ev {
				if e == "[DONE]" {
					t.Errorf("[DONE] after a failed stream")
				}
			}
		})
	}
}

// TestClientDisconnectCancelsUpstream: the double observes the cancel.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	h := newHarness(t)
	h.up.SetFault(1, enginetest.FaultStall)
	ctx, cancel := context.WithCancel(context.Background())
	raw, _ := json.Marshal(chatBody("a b c", true))
	req, _ := http.NewRequestWithContext(ctx, "POST", h.ts.URL+"/v1/chat/completions", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+h.userKey)
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	bufio.NewReader(resp.Body).ReadString('\n') // the stream is flowing
	cancel()
	resp.Body.Close()
	select {
	case <-h.up.Canceled():
	case <-time.After(20 * time.Second):
		t.Fatal("the upstream never saw the cancellation")
	}
}

func TestCompletionsAndEmbeddings(t *testing.T) {
	h := newHarness(t)
	var c struct {
		Object  string `json:"object"`
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
	}
	h.mustJSON("POST", "/v1/completions", h.userKey, map[string]any{"model": enginetest.DefaultModel, "prompt": "x y"}, 200, &c)
	if c.Object != "text_completion" || len(c.Choices) != 1 || c.Choices[0].Text != "x y" {
		t.Errorf("completion %+v", c)
	}
	var e struct {
		Object string `json:"object"`
		Data   []struct {
			Embedding []float32 `json:"embedding"`
			Index     int       `json:"index"`
		} `json:"data"`
	}
	h.mustJSON("POST", "/v1/embeddings", h.userKey, map[string]any{"model": enginetest.DefaultModel, "input": []string{"a", "b"}}, 200, &e)
	if e.Object != "list" || len(e.Data) != 2 || e.Data[1].Index != 1 || len(e.Data[0].Embedding) == 0 {
		t.Errorf("embeddings %+v", e)
	}
	var e64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	h.mustJSON("POST", "/v1/embeddings", h.userKey, map[string]any{"model": enginetest.DefaultModel, "input": "a", "encoding_format": "base64"}, 200, &e64)
	if len(e64.Data) != 1 || len(e64.Data[0].Embedding) == 0 {
		t.Errorf("base64 embeddings %+v", e64)
	}
}

func TestBodyLimit(t *testing.T) {
	h := newHarness(t)
	big := chatBody(strings.Repeat("a ", 5<<20), false)
	c, b := h.do("POST", "/v1/chat/completions", h.userKey, big)
	if c != 413 {
		t.Errorf("10 MiB body: %d %.200s", c, b)
	}
}
