package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// TestOllamaJS runs tests/js/ollama.mjs, the official npm ollama package
// (ollama-js) under node, against silo serve in front of the double.
func TestOllamaJS(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(filepath.Join("..", "..", "tests", "js"))
	if err != nil {
		t.Fatal(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		skipOrFail(t, "node is not installed")
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ollama", "package.json")); err != nil {
		skipOrFail(t, "tests/js/node_modules is missing: run `npm ci` in tests/js")
	}
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "ollama.mjs")
	cmd.Dir = dir
	cmd.Env = append(f.srv.Environ(),
		"SILO_URL="+f.srv.URL,
		"SILO_API_KEY="+f.key,
		"SILO_MODEL="+enginetest.DefaultModel,
		"NODE_EXTRA_CA_CERTS="+f.srv.CAFile(),
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node ollama.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node ollama.mjs: %v", err)
	}
	if !strings.Contains(string(out), " passed, 0 failed") {
		t.Fatal("node ollama.mjs did not report its checks")
	}
}
