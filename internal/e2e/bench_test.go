package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/engine/upstream"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/server"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

// gateway is silo's HTTP handler assembled in process as `silo serve`
// assembles it (SQLite store, upstream pool, scheduler, server), in front
// of a double, over plain HTTP on loopback like the double itself, so the
// two differ only by silo.
type gateway struct {
	double *enginetest.Upstream
	silo   *httptest.Server
	key    string
}

func newGateway(tb testing.TB) *gateway {
	tb.Helper()
	ctx := context.Background()
	d := enginetest.NewUpstream(tb)
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "silo.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	pool, err := upstream.New(upstream.Config{Backends: []upstream.Backend{{Name: "double", URL: d.URL}}, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	sched := engine.NewScheduler(engine.NewRouter(pool), engine.SchedulerConfig{})
	tb.Cleanup(func() { sched.Close() })
	srv, err := server.New(server.Options{Store: st, Engine: sched, Log: log, Version: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	token, err := identity.EnsureBootstrapToken(ctx, st)
	if err != nil {
		tb.Fatal(err)
	}
	u, err := identity.Bootstrap(ctx, st, token, "admin", "")
	if err != nil {
		tb.Fatal(err)
	}
	_, key, err := identity.NewKeys(st).Create(ctx, u.ID, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	tb.Cleanup(hs.Close)
	return &gateway{double: d, silo: hs, key: key}
}

// streamBody is the streamed chat request both paths are timed with.
var streamBody, _ = json.Marshal(map[string]any{
	"model":    enginetest.DefaultModel,
	"messages": []map[string]string{{"role": "user", "content": "hello world"}},
	"stream":   true,
})

// ttfb sends a streamed chat completion to base and returns the time from
// sending it to reading the first byte of the body, and the whole body.
func ttfb(ctx context.Context, hc *http.Client, base, key string) (time.Duration, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", bytes.NewReader(streamBody))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	t0 := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var first [1]byte
	if _, err := io.ReadFull(resp.Body, first[:]); err != nil {
		return 0, nil, fmt.Errorf("first byte: %w", err)
	}
	d := time.Since(t0)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("status %d: %s%s", resp.StatusCode, first[:], rest)
	}
	return d, append(first[:], rest...), nil
}

// streamText is the text of an SSE chat stream that ends in [DONE].
func streamText(body []byte) (string, error) {
	var text strings.Builder
	done := false
	for _, line := range strings.Split(string(body), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return "", fmt.Errorf("bad event %q: %w", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	if !done {
		return "", fmt.Errorf("no [DONE] in %q", body)
	}
	return text.String(), nil
}

// TestGatewayTTFBPaths checks what BenchmarkGatewayTTFB times: both paths
// answer the same streamed chat with the same text.
func TestGatewayTTFBPaths(t *testing.T) {
	t.Parallel()
	g := newGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	for _, p := range []struct{ name, base, key string }{
		{"direct", g.double.URL, ""},
		{"silo", g.silo.URL, g.key},
	} {
		_, body, err := ttfb(ctx, http.DefaultClient, p.base, p.key)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		text, err := streamText(body)
		if err != nil || text != "hello world" {
			t.Fatalf("%s: text %q, %v; want %q", p.name, text, err, "hello world")
		}
	}
}

// BenchmarkGatewayTTFB reports the time to first byte of a streamed chat
// straight to the double and through silo, in the same run (alternating
// per iteration), and what silo adds: ttfb-direct-µs, ttfb-silo-µs,
// added-µs and ratio (silo / direct).
func BenchmarkGatewayTTFB(b *testing.B) {
	g := newGateway(b)
	ctx := context.Background()
	client := func() *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		b.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	direct, viaSilo := client(), client()
	// Warm both paths: connections, the pool's first health round.
	for range 10 {
		if _, _, err := ttfb(ctx, direct, g.double.URL, ""); err != nil {
			b.Fatal(err)
		}
		if _, _, err := ttfb(ctx, viaSilo, g.silo.URL, g.key); err != nil {
			b.Fatal(err)
		}
	}
	var sumDirect, sumSilo time.Duration
	for i := 0; b.Loop(); i++ {
		// Alternate which path goes first so neither always runs warm.
		order := []bool{i%2 == 0, i%2 != 0}
		for _, toSilo := range order {
			if toSilo {
				d, _, err := ttfb(ctx, viaSilo, g.silo.URL, g.key)
				if err != nil {
					b.Fatal(err)
				}
				sumSilo += d
			} else {
				d, _, err := ttfb(ctx, direct, g.double.URL, "")
				if err != nil {
					b.Fatal(err)
				}
				sumDirect += d
			}
		}
	}
	n := float64(b.N)
	dµs := float64(sumDirect) / float64(time.Microsecond) / n
	sµs := float64(sumSilo) / float64(time.Microsecond) / n
	b.ReportMetric(dµs, "ttfb-direct-µs")
	b.ReportMetric(sµs, "ttfb-silo-µs")
	b.ReportMetric(sµs-dµs, "added-µs")
	if dµs > 0 {
		b.ReportMetric(sµs/dµs, "ratio")
	}
}
