package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/attest/attesttest"
	"github.com/silo-ai/silo/internal/config"
)

// TestAttestCLI: `silo serve --tpm` (swtpm) measures its binary, its
// configuration and each model as it loads; `silo attest` verifies a
// quote bound to its own TLS connection, pins the attestation key on first
// use and refuses a different one, and checks the binary's digest.
func TestAttestCLI(t *testing.T) {
	sock := attesttest.SWTPM(t)
	admin, url, _, _ := startServerLog(t, "--tpm", sock)

	out := admin.must("attest", "--server", url)
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	bin, err := fileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "bound to this connection's TLS key") || !strings.Contains(out, "first use: pinned") ||
		!strings.Contains(out, "binary  "+bin) || !strings.Contains(out, "config ") || strings.Contains(out, "model ") {
		t.Fatalf("first attest:\n%s", out)
	}
	// A model measured as it loads.
	admin.run("hi\n/exit\n", "chat", "--model", "tiny", "--max-tokens", "1")
	var res struct {
		Verified bool
		AK       string `json:"ak"`
		Events   []struct{ Kind, Name, SHA256 string }
	}
	if err := json.Unmarshal([]byte(admin.must("attest", "--server", url, "--json", "--expect-binary", bin)), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.AK != "pinned" || len(res.Events) != 3 || res.Events[2].Kind != "model" || res.Events[2].Name != "tiny" {
		t.Errorf("after a chat: %+v", res)
	}
	if out, err := admin.run("", "attest", "--server", url, "--expect-binary", strings.Repeat("0", 64)); err == nil {
		t.Errorf("another binary's digest accepted:\n%s", out)
	}
	if out, err := admin.run("", "attest", "--server", url, "--ak", strings.Repeat("a", 64)); err == nil || !strings.Contains(out+err.Error(), "not "+strings.Repeat("a", 64)) {
		t.Errorf("--ak with another key: %v\n%s", err, out)
	}
	// --release: the running binary must be a release published in the
	// server's log.
	if out, err := admin.run("", "attest", "--server", url, "--release"); err == nil || !strings.Contains(err.Error(), "NOT in the server's log") {
		t.Errorf("--release before the release is published: %v\n%s", err, out)
	}
	admin.must("log", "release", "--binary", exe, "--version", "v9.9.9", "--server", url)
	if out := admin.must("attest", "--server", url, "--release"); !strings.Contains(out, "release v9.9.9: sha256 "+bin) || !strings.Contains(out, "(inclusion proved)") {
		t.Errorf("--release after publishing:\n%s", out)
	}
	// A pinned key that changes is an error.
	known := filepath.Join((&env{environ: admin.environ}).configDir(), "known_aks.json")
	if err := os.WriteFile(known, []byte(`{"`+url+`": "`+strings.Repeat("b", 64)+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := admin.run("", "attest", "--server", url); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Errorf("changed key: %v\n%s", err, out)
	}
}

// TestAttestedConfigHidesSecrets: the configuration silo measures (and so
// publishes in every quote's event log) says that secrets are set, never
// what they are.
func TestAttestedConfigHidesSecrets(t *testing.T) {
	cfg := &config.Serve{MetricsToken: "metrics-secret", DB: "postgres://silo:db-secret@db.example/silo?password=query-secret&sslmode=require",
		UpstreamFlags: []string{"vllm=http://user:flag-secret@gpu1:8000"},
		Upstreams:     []config.Upstream{{Name: "vllm", URL: "http://user:url-secret@gpu1:8000", APIKey: "upstream-secret"}}}
	b := string(attestedConfig(cfg))
	for _, s := range []string{"metrics-secret", "db-secret", "query-secret", "flag-secret", "url-secret", "upstream-secret"} {
		if strings.Contains(b, s) {
			t.Errorf("the measured configuration holds %q: %s", s, b)
		}
	}
	if !strings.Contains(b, "db.example") || !strings.Contains(b, "sslmode=require") || !strings.Contains(b, "gpu1:8000") || !strings.Contains(b, "(set)") {
		t.Errorf("the measured configuration lost what is not secret: %s", b)
	}
	if cfg.MetricsToken != "metrics-secret" || cfg.Upstreams[0].APIKey != "upstream-secret" || !strings.Contains(cfg.Upstreams[0].URL, "url-secret") {
		t.Error("attestedConfig changed the configuration in use")
	}
}
