package cli

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/models"
)

// TestLogRelease: `silo log release` appends a release binary's digest to
// the data dir's log (once); `silo verify --server --release` proves the
// inclusion of a published binary from the log's tiles, and refuses a
// binary never published, even when a TOFU record carries its digest.
func TestLogRelease(t *testing.T) {
	data := t.TempDir()
	bin := filepath.Join(t.TempDir(), "silo")
	other := filepath.Join(t.TempDir(), "silo-evil")
	os.WriteFile(bin, []byte("\x7fELF a silo release"), 0o755)
	os.WriteFile(other, []byte("\x7fELF a silo with a backdoor"), 0o755)
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "SILO_DATA_DIR=" + data}}

	if out := c.must("log", "release", "--binary", bin, "--version", "v1.2.3"); !strings.Contains(out, "release v1.2.3 sha256 ") || !strings.Contains(out, "at index 0 (tree size 1)") {
		t.Fatalf("log release: %s", out)
	}
	if out := c.must("log", "release", "--binary", bin, "--version", "v1.2.3"); !strings.Contains(out, "at index 0 (tree size 1)") {
		t.Errorf("the same release again: %s", out)
	}
	if _, err := c.run("", "log", "release", "--binary", other); err == nil || !strings.Contains(err.Error(), "no version found") {
		t.Errorf("a non-Go binary without --version: %v", err)
	}
	if _, err := c.run("", "log", "release", "--binary", bin, "--version", "v 1"); err == nil {
		t.Error("a version with a space was accepted")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if out := c.must("log", "release", "--binary", self); !strings.Contains(out, "at index 1 (tree size 2)") {
		t.Errorf("the version read from a Go binary: %s", out)
	}

	lg, err := models.OpenCertLog(filepath.Join(data, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	otherSum, _ := fileSHA256(other)
	lg.Add(models.TOFURecord("silo-evil", "https://example.org/silo", otherSum))
	ls := &logServer{vkey: lg.VerifierKey()}
	ls.cur.Store(lg.Log())
	srv := httptest.NewServer(ls)
	defer srv.Close()

	if out := c.must("verify", "--server", srv.URL, "--release", bin); !strings.Contains(out, "release v1.2.3: sha256 ") || !strings.Contains(out, "at index 0 (inclusion proved)") {
		t.Errorf("verify a published release: %s", out)
	}
	if _, err := c.run("", "verify", "--server", srv.URL, "--release", other); err == nil || !strings.Contains(err.Error(), "NOT in the server's log") {
		t.Errorf("verify an unpublished binary: %v", err)
	}
}

// TestLogReleaseWhileServing: the log is the running server's; the CLI
// without --server says so, and with it the server appends the release,
// which `silo verify --server --release` then proves included.
func TestLogReleaseWhileServing(t *testing.T) {
	admin, url, _ := startServer(t)
	bin := filepath.Join(t.TempDir(), "silo")
	os.WriteFile(bin, []byte("\x7fELF a silo release"), 0o755)
	if _, err := admin.run("", "log", "release", "--binary", bin, "--version", "v2.0.0"); err == nil || !strings.Contains(err.Error(), "is locked") {
		t.Errorf("log release on a served data dir: %v", err)
	}
	out := admin.must("log", "release", "--binary", bin, "--version", "v2.0.0", "--server", url)
	if !strings.Contains(out, "release v2.0.0 sha256 ") || !strings.Contains(out, "at index") {
		t.Fatalf("log release --server: %s", out)
	}
	if out := admin.must("verify", "--server", url, "--release", bin); !strings.Contains(out, "release v2.0.0: sha256 ") || !strings.Contains(out, "(inclusion proved)") {
		t.Errorf("verify a release published through the server: %s", out)
	}
}
