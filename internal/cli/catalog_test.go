package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/provenance"
)

// TestCatalogSignListPullTOFU: a maintainer signs a catalog with silo
// catalog sign; models catalog lists it; models pull NAME pulls from a
// loopback server, pinning the digest on first use and saying so; a later
// pull of a changed file is refused; a catalog signed by another key is not
// trusted.
func TestCatalogSignListPullTOFU(t *testing.T) {
	dir := t.TempDir()
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "SILO_DATA_DIR=" + filepath.Join(dir, "data")}}
	content := writeTiny(t, filepath.Join(dir, "tiny.gguf"))
	var serve atomic.Pointer[[]byte]
	serve.Store(&content)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "m.gguf", time.Unix(1e9, 0), bytes.NewReader(*serve.Load()))
	}))
	defer srv.Close()

	key := filepath.Join(dir, "maintainer.key")
	os.WriteFile(key, []byte(base64.StdEncoding.EncodeToString(testSeed("maintainer").Seed())+"\n"), 0o600)
	pub := provenance.FormatPublicKey(testSeed("maintainer").Public().(ed25519.PublicKey))
	src := filepath.Join(dir, "catalog.json")
	os.WriteFile(src, fmt.Appendf(nil, `{"version": 1, "updated": "2025-06-01T00:00:00Z", "models": [
  {"name": "tiny-instruct", "url": %q, "default": true}]}`, srv.URL+"/org/repo/tiny.gguf"), 0o644)
	signed := filepath.Join(dir, "catalog.dsse.json")
	c.must("catalog", "sign", src, "--key", key, "-o", signed)

	if out := c.must("models", "catalog", "--catalog", signed, "--catalog-key", pub); !strings.Contains(out, "tiny-instruct") || !strings.Contains(out, "trust on first use") {
		t.Errorf("catalog: %s", out)
	}
	// The built-in maintainers did not sign it.
	if _, err := c.run("", "models", "catalog", "--catalog", signed); err == nil || !strings.Contains(err.Error(), "not signed by a trusted maintainer key") {
		t.Errorf("catalog under the built-in keys: %v", err)
	}
	out := c.must("models", "pull", "--quiet", "--default", "--catalog", signed, "--catalog-key", pub)
	if !strings.Contains(out, "trust on first use: recorded sha256 ") || !strings.Contains(out, "for tiny-instruct") {
		t.Errorf("first pull: %s", out)
	}
	c.must("models", "rm", "tiny-instruct")
	if out := c.must("models", "pull", "--quiet", "tiny-instruct", "--catalog", signed, "--catalog-key", pub); !strings.Contains(out, "pinned on first use") {
		t.Errorf("second pull: %s", out)
	}
	changed := append([]byte(nil), content...)
	changed[len(changed)-1] ^= 1
	serve.Store(&changed)
	if _, err := c.run("", "models", "pull", "--quiet", "--force", "tiny-instruct", "--catalog", signed, "--catalog-key", pub); err == nil || !strings.Contains(err.Error(), "pinned on first use") {
		t.Errorf("pull of a changed file: %v", err)
	}
	if _, err := c.run("", "models", "pull", "--quiet", "no-such-model", "--catalog", signed, "--catalog-key", pub); err == nil || !strings.Contains(err.Error(), "not in the catalog") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestShippedCatalogListed: the catalog built into silo verifies and names
// its default model.
func TestShippedCatalogListed(t *testing.T) {
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "SILO_DATA_DIR=" + t.TempDir()}}
	if out := c.must("models", "catalog"); !strings.Contains(out, "signature verified") || !strings.Contains(out, "qwen2.5-0.5b-instruct-q8_0  yes") {
		t.Errorf("models catalog: %s", out)
	}
}
