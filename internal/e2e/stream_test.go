package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// hangLimit bounds every wait in these tests: a stream or a cancellation
// that takes longer is a hang.
const hangLimit = 15 * time.Second

// event is one server-sent event's data.
type event struct {
	data string
}

// sseStream reads server-sent events from a response body.
type sseStream struct {
	r *bufio.Reader
}

// next returns the next event's data, or io.EOF at a clean end of body.
func (s *sseStream) next() (event, error) {
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" && len(data) == 0 {
				return event{}, io.EOF
			}
			if err == io.EOF {
				return event{}, fmt.Errorf("stream ended inside an event: %q", line)
			}
			return event{}, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(data) == 0 {
				continue
			}
			return event{data: strings.Join(data, "\n")}, nil
		}
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(d, " "))
		}
	}
}

// postChat sends a chat completion to silo and returns the response.
func postChat(ctx context.Context, t *testing.T, hc *http.Client, base, key, prompt string, stream bool) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"model":    enginetest.DefaultModel,
		"messages": []map[string]string{{"role": "user", "content": prompt}},
		"stream":   stream,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST /v1/chat/completions: %v", err)
	}
	return resp
}

type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

type errorEvent struct {
	Error *struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// words returns a prompt of n distinct words.
func words(n int) string {
	w := make([]string, n)
	for i := range w {
		w[i] = fmt.Sprintf("w%d", i)
	}
	return strings.Join(w, " ")
}

// TestUpstreamDiesMidStream breaks the double's stream in each way it can
// break after two words and checks that the client, through the real
// binary, gets the words, then one OpenAI error event, then the end of the
// body: no [DONE], no hang.
func TestUpstreamDiesMidStream(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		fault enginetest.Fault
	}{
		{"connection cut", enginetest.FaultCut},
		{"malformed event", enginetest.FaultMalformed},
		{"no done", enginetest.FaultNoDone},
	}
	for _, fc := range faults {
		t.Run(fc.name, func(t *testing.T) {
			t.Parallel()
			f := start(t)
			f.double.SetFault(2, fc.fault)
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			defer cancel()
			resp := postChat(ctx, t, f.srv.HTTPClient(t), f.srv.URL, f.key, "the quick brown fox", true)
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d %q, want a 200 event stream: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			s := &sseStream{r: bufio.NewReader(resp.Body)}
			var text strings.Builder
			var errEv *errorEvent
			for {
				ev, err := s.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						t.Fatalf("stream hung: no end within %s (got %q so far)", hangLimit, text.String())
					}
					t.Fatalf("reading the stream: %v", err)
				}
				if errEv != nil {
					t.Fatalf("event after the error event: %s", ev.data)
				}
				if ev.data == "[DONE]" {
					t.Fatalf("stream ended with [DONE] after the upstream broke (text %q)", text.String())
				}
				var e errorEvent
				if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
					t.Fatalf("event is not JSON: %s", ev.data)
				}
				if e.Error != nil {
					errEv = &e
					continue
				}
				var c chunk
				json.Unmarshal([]byte(ev.data), &c)
				for _, ch := range c.Choices {
					text.WriteString(ch.Delta.Content)
					if ch.FinishReason != nil {
						t.Errorf("finish_reason %q on a broken stream", *ch.FinishReason)
					}
				}
			}
			if text.String() != "the quick" {
				t.Errorf("text before the error %q, want %q", text.String(), "the quick")
			}
			if errEv == nil {
				t.Fatal("stream ended without an error event")
			}
			if errEv.Error.Message == "" || errEv.Error.Type != "server_error" {
				t.Errorf("error event %+v, want a message and type server_error", *errEv.Error)
			}
			u, _ := url.Parse(f.double.URL)
			if strings.Contains(errEv.Error.Message, u.Host) {
				t.Errorf("error event leaks the upstream address: %q", errEv.Error.Message)
			}
		})
	}

	// Before any word there is nothing to take back: the pool may retry and,
	// with no other backend, silo answers with a status and an error object.
	t.Run("cut before the first word", func(t *testing.T) {
		t.Parallel()
		f := start(t)
		f.double.SetFault(0, enginetest.FaultCut)
		ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
		defer cancel()
		resp := postChat(ctx, t, f.srv.HTTPClient(t), f.srv.URL, f.key, "the quick brown fox", true)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		var e errorEvent
		if resp.StatusCode != http.StatusServiceUnavailable || json.Unmarshal(b, &e) != nil || e.Error == nil || e.Error.Type != "server_error" {
			t.Fatalf("status %d body %s, want 503 with a server_error object", resp.StatusCode, b)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
	})
}

// TestClientDisconnectCancelsUpstream leaves a stream after its first
// word and checks that the double sees its request cancelled, and that the
// one slot the model has (--max-concurrent 1) is free again. The upstream
// either keeps streaming (silo may notice the client is gone when a write
// fails) or stalls after the first word (only the request's cancellation
// can reach it).
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(d *enginetest.Upstream)
	}{
		{"streaming upstream", func(d *enginetest.Upstream) { d.SetChunkDelay(20 * time.Millisecond) }},
		{"stalled upstream", func(d *enginetest.Upstream) { d.SetFault(1, enginetest.FaultStall) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := start(t, "--max-concurrent", "1")
			tc.setup(f.double)
			hc := f.srv.HTTPClient(t)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			resp := postChat(ctx, t, hc, f.srv.URL, f.key, words(5000), true) // 100 s if left streaming
			s := &sseStream{r: bufio.NewReader(resp.Body)}
			got := ""
			for !strings.Contains(got, "w0") {
				ev, err := s.next()
				if err != nil {
					t.Fatalf("reading the first word: %v", err)
				}
				got += ev.data
			}
			if f.double.CanceledCount() != 0 {
				t.Fatal("double saw a cancellation before the client left")
			}
			cancel()
			resp.Body.Close()

			select {
			case <-f.double.Canceled():
			case <-time.After(hangLimit):
				now, _ := f.double.InFlight()
				t.Fatalf("double saw no cancellation %s after the client left (%d requests in flight)", hangLimit, now)
			}

			// The slot is free: a new request runs to completion.
			ctx2, cancel2 := context.WithTimeout(context.Background(), hangLimit)
			defer cancel2()
			f.double.SetChunkDelay(0)
			f.double.SetFault(0, enginetest.FaultNone)
			resp2 := postChat(ctx2, t, hc, f.srv.URL, f.key, "still here", false)
			defer resp2.Body.Close()
			b, err := io.ReadAll(resp2.Body)
			if err != nil {
				if errors.Is(ctx2.Err(), context.DeadlineExceeded) {
					t.Fatal("the model's only slot was not released after the client left")
				}
				t.Fatal(err)
			}
			if resp2.StatusCode != http.StatusOK || !strings.Contains(string(b), `"still here"`) {
				t.Fatalf("after the disconnect: status %d body %s", resp2.StatusCode, b)
			}
		})
	}
}
