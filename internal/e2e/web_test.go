package e2e

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// TestWebApp runs tests/web/web.test.mjs: Debian's Chromium, driven by
// playwright-core, goes through the web app against a real `silo serve`
// with the built-in engine and a generated model. The story: bootstrap the
// first admin with a virtual passkey, add TOTP, set the admin key made in
// the browser, invite a user, sign in as that user, chat and watch the
// answer stream, reload and see the history opened in the browser,
// regenerate, stop, render Markdown safely, export the device key and open
// the history with it in another profile, revoke the user's device keys,
// pull a model and watch its progress; and throughout, no request leaves
// the server's origin, every page carries the CSP and no PRF output or key
// is sent.
// Screenshots are kept in tests/web/artifacts (or $SILO_WEB_ARTIFACTS).
func TestWebApp(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("..", "..", "tests", "web"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed")
	}
	chromium := os.Getenv("SILO_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		skipOrFail(t, "chromium is not installed (Debian package chromium)")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err != nil {
		skipOrFail(t, "tests/web/node_modules is missing: run `npm ci` in tests/web")
	}
	artifacts := os.Getenv("SILO_WEB_ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(dir, "artifacts")
	}
	if err := os.RemoveAll(artifacts); err != nil {
		t.Fatal(err)
	}

	env := NewEnv(t, siloBin)
	ctx := context.Background()
	// A small context bounds the answers the nonsense model writes.
	models := filepath.Join(env.DataDir, "models")
	if err := os.MkdirAll(models, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code, err := env.Run(ctx, "dev", "gen-model", "--type", "Q8_0", "--context", "96", "--name", "tiny", filepath.Join(models, "tiny.gguf")); err != nil || code != 0 {
		t.Fatalf("gen-model: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	// A model with room to talk for long, to stop it midway.
	if out, errOut, code, err := env.Run(ctx, "dev", "gen-model", "--type", "Q8_0", "--context", "4096", "--seed", "3", "--name", "long", filepath.Join(models, "long.gguf")); err != nil || code != 0 {
		t.Fatalf("gen-model: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	pullFile := filepath.Join(t.TempDir(), "pulled.gguf")
	if out, errOut, code, err := env.Run(ctx, "dev", "gen-model", "--type", "Q8_0", "--seed", "7", "--hidden", "128", pullFile); err != nil || code != 0 {
		t.Fatalf("gen-model: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	pull := slowFile(t, pullFile)

	// Passkeys need a domain: the browser reaches the server as localhost.
	// The server listens on a port of its choosing (":0"), and its passkey
	// origins name that port.
	// The upstream double echoes the prompt: answers with Markdown and HTML
	// chosen by the test, to check how the page renders them.
	echo := enginetest.NewUpstream(t)
	srv := env.Serve(t, "--web-domain", "localhost", "--upstream", "double="+echo.URL)
	_, port, err := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	if err != nil {
		t.Fatalf("silo serves on %s: %v", srv.URL, err)
	}

	runCtx, cancel := context.WithTimeout(ctx, 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, node, "--test", "--test-reporter=spec", "web.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SILO_URL=https://localhost:"+port,
		"SILO_TOKEN="+srv.Token,
		"SILO_CERT="+srv.CAFile(),
		"SILO_PULL_URL="+pull+"/pulled.gguf",
		"SILO_ARTIFACTS="+artifacts,
		"SILO_CHROMIUM="+chromium,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node --test web.test.mjs (screenshots in %s):\n%s", artifacts, out)
	if err != nil {
		t.Fatalf("web app tests: %v", err)
	}
	// Every step must have run and passed (a failed step skips the rest).
	tests, pass := webCount(out, "tests"), webCount(out, "pass")
	if tests < 10 || pass != tests {
		t.Fatalf("web.test.mjs: %d of %d tests passed", pass, tests)
	}
}

// slowFile serves one file in small pieces with pauses, so a pull takes
// long enough to show progress between start and end.
func slowFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			http.Error(w, "no ranges here", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Header().Set("Content-Type", "application/octet-stream")
		const piece = 256 << 10
		for off := 0; off < len(data); off += piece {
			if _, err := w.Write(data[off:min(off+piece, len(data))]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// webCount reads a count from node --test's summary ("ℹ pass 13").
func webCount(out []byte, what string) int {
	m := regexp.MustCompile(`(?m)^\S* ?` + what + ` (\d+)$`).FindSubmatch(out)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
