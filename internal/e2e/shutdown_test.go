package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGracefulShutdownDrainsStream sends SIGTERM while a stream is in
// flight: the server stops accepting connections at once, the stream runs
// to its [DONE], and the process exits 0.
func TestGracefulShutdownDrainsStream(t *testing.T) {
	t.Parallel()
	f := start(t)
	const n = 40
	f.double.SetChunkDelay(50 * time.Millisecond) // the stream lasts about 2 s
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	resp := postChat(ctx, t, f.srv.HTTPClient(t), f.srv.URL, f.key, words(n), true)
	defer resp.Body.Close()

	type result struct {
		text  string
		done  bool
		err   error
		endAt time.Time
	}
	first := make(chan struct{})
	res := make(chan result, 1)
	go func() {
		s := &sseStream{r: bufio.NewReader(resp.Body)}
		var r result
		sawFirst := false
		var b strings.Builder
		for {
			ev, err := s.next()
			if err == io.EOF {
				break
			}
			if err != nil {
				r.err = err
				break
			}
			if ev.data == "[DONE]" {
				r.done = true
				continue
			}
			var c chunk
			if err := json.Unmarshal([]byte(ev.data), &c); err != nil {
				r.err = err
				break
			}
			for _, ch := range c.Choices {
				b.WriteString(ch.Delta.Content)
			}
			if !sawFirst && strings.Contains(b.String(), "w0") {
				close(first)
				sawFirst = true
			}
		}
		r.text, r.endAt = b.String(), time.Now()
		res <- r
	}()

	select {
	case <-first:
	case r := <-res:
		t.Fatalf("stream ended before its first word: %+v", r)
	}
	f.srv.Signal(t, syscall.SIGTERM)

	// Shutdown has begun once the listener refuses connections; the
	// stream must still be running then for this test to show draining.
	u, _ := url.Parse(f.srv.URL)
	var refusedAt time.Time
	for refusedAt.IsZero() {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err != nil {
			refusedAt = time.Now()
			break
		}
		c.Close()
		select {
		case <-ctx.Done():
			t.Fatal("silo serve kept accepting connections after SIGTERM")
		case <-time.After(10 * time.Millisecond):
		}
	}

	var r result
	select {
	case r = <-res:
	case <-ctx.Done():
		t.Fatalf("stream did not finish within %s of SIGTERM", hangLimit)
	}
	if r.err != nil {
		t.Fatalf("stream broke during shutdown: %v (got %d bytes of text)", r.err, len(r.text))
	}
	if !r.endAt.After(refusedAt) {
		t.Fatal("the stream ended before shutdown began; it proves nothing about draining")
	}
	if r.text != words(n) || !r.done {
		t.Fatalf("stream during shutdown: done %v, text %q, want all %d words and [DONE]", r.done, r.text, n)
	}

	select {
	case <-f.srv.Exited():
	case <-time.After(hangLimit):
		t.Fatalf("silo serve still running %s after its last stream ended", hangLimit)
	}
	if code := f.srv.ExitCode(); code != 0 {
		t.Fatalf("silo serve exited %d after SIGTERM, want 0\n%s", code, f.srv.Log())
	}
}
