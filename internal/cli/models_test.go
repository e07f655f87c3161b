package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/provenance"
)

func testSeed(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo cli test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// keyFiles writes alice's key as a base64 seed and bob's as an OpenSSH
// private key, and a 2-of-2 policy trusting both; it returns their paths.
func keyFiles(t *testing.T, dir string) (alice, bob, policy string) {
	t.Helper()
	alice = filepath.Join(dir, "alice.key")
	os.WriteFile(alice, []byte(base64.StdEncoding.EncodeToString(testSeed("alice").Seed())+"\n"), 0o600)
	blk, err := ssh.MarshalPrivateKey(testSeed("bob"), "bob")
	if err != nil {
		t.Fatal(err)
	}
	bob = filepath.Join(dir, "bob")
	os.WriteFile(bob, pem.EncodeToMemory(blk), 0o600)
	sshPub, _ := ssh.NewPublicKey(testSeed("bob").Public())
	policy = filepath.Join(dir, "policy.json")
	os.WriteFile(policy, fmt.Appendf(nil, `{"mode": "enforce",
  "keys": {"alice": %q, "bob": %q},
  "rules": [{"models": "*", "keys": ["alice", "bob"], "threshold": 2,
             "requiredFields": ["buildDefinition.resolvedDependencies", "runDetails.builder.id"]}]}`,
		provenance.FormatPublicKey(testSeed("alice").Public().(ed25519.PublicKey)),
		strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub)))), 0o644)
	return alice, bob, policy
}

func writeTiny(t *testing.T, path string) []byte {
	t.Helper()
	if err := genmodel.WriteFile(path, genmodel.Options{Hidden: 32, Layers: 1, Heads: 2}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return b
}

func TestModelsLocalCommands(t *testing.T) {
	dataDir := t.TempDir()
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "SILO_DATA_DIR=" + dataDir}}
	src := filepath.Join(t.TempDir(), "tiny.gguf")
	content := writeTiny(t, src)
	sum := sha256.Sum256(content)

	if out := c.must("models", "import", src); !strings.Contains(out, hex.EncodeToString(sum[:])) || !strings.Contains(out, "no certificate") {
		t.Errorf("import: %s", out)
	}
	if out := c.must("models", "ls", "--local"); !regexp.MustCompile(`tiny\s+\S+ [KM]iB\s+llama\s+F32\s+\S+\s+unverified\s+no trust policy`).MatchString(out) {
		t.Errorf("ls --local: %s", out)
	}
	if out := c.must("models", "show", "--local", "tiny"); !strings.Contains(out, "general.architecture = llama") || !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Errorf("show --local: %s", out)
	}

	// Pull over HTTP on loopback, with a progress bar; then a flipped byte.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := content
		if strings.Contains(r.URL.Path, "bad") {
			b = append([]byte(nil), content...)
			b[100] ^= 1
		}
		http.ServeContent(w, r, "m.gguf", time.Unix(1e9, 0), bytes.NewReader(b))
	}))
	defer srv.Close()
	var out, errb bytes.Buffer
	err := Run(context.Background(), []string{"models", "pull", srv.URL + "/x/pulled.gguf", "--sha256", hex.EncodeToString(sum[:])},
		strings.NewReader(""), &out, &errb, c.environ)
	if err != nil || !strings.Contains(out.String(), "pulled:") || !strings.Contains(errb.String(), "pull") {
		t.Errorf("pull: %v\nstdout %s\nstderr %s", err, out.String(), errb.String())
	}
	if _, err := c.run("", "models", "pull", "--quiet", srv.URL+"/bad.gguf", "--sha256", hex.EncodeToString(sum[:])); err == nil || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("pull of a flipped byte: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "models", "bad.gguf")); !os.IsNotExist(err) {
		t.Error("a refused pull left a model")
	}
	c.must("models", "rm", "pulled")
	if out := c.must("models", "ls", "--local"); strings.Contains(out, "pulled") {
		t.Errorf("rm: %s", out)
	}
}

func TestCertCreateSignVerify(t *testing.T) {
	dir := t.TempDir()
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}}
	alice, bob, policy := keyFiles(t, dir)
	weights := filepath.Join(dir, "tiny.gguf")
	writeTiny(t, weights)
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "part-0.txt"), []byte("hello"), 0o644)
	cfg := filepath.Join(dir, "train.json")
	os.WriteFile(cfg, []byte(`{"lr": 0.001, "epochs": 3}`), 0o644)
	cert := filepath.Join(dir, "tiny.gguf.dsse.json")
	c.must("cert", "create", "--weights", weights, "--dataset", "https://example.org/wiki="+data,
		"--code", "git+https://example.org/train@"+strings.Repeat("ab", 20), "--config", cfg,
		"--builder", "https://ci.example.org/runner", "-o", cert)
	env, err := provenance.ParseEnvelope(mustRead(t, cert))
	if err != nil || len(env.Signatures) != 0 {
		t.Fatalf("created certificate: %v, %d signatures", err, len(env.Signatures))
	}
	st, err := provenance.ParseStatement(env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	pv, _ := st.Provenance()
	if len(pv.BuildDefinition.ResolvedDependencies) != 2 || pv.BuildDefinition.ResolvedDependencies[0].Digest["dirHash1"] == "" ||
		pv.BuildDefinition.ExternalParameters["config"] == nil || pv.RunDetails.Builder.ID != "https://ci.example.org/runner" {
		t.Errorf("statement: %s", env.Payload)
	}

	c.must("cert", "sign", cert, "--key", alice)
	if _, err := c.run("", "cert", "verify", "--policy", policy, cert, weights); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("one of two signatures verified: %v", err)
	}
	c.must("cert", "sign", cert, "--key", bob)
	if out := c.must("cert", "verify", "--policy", policy, cert, weights); !strings.Contains(out, "ok: ") {
		t.Errorf("two of two: %s", out)
	}
	// Other weights than the certified ones: refused.
	other := filepath.Join(dir, "other.gguf")
	os.WriteFile(other, append(mustRead(t, weights), 0), 0o644)
	if _, err := c.run("", "cert", "verify", "--policy", policy, "--model", "tiny", cert, other); err == nil {
		t.Error("a file that is not a subject verified")
	}
	// Bad flags are refused before anything is written.
	if _, err := c.run("", "cert", "create", "--weights", weights, "--builder", "b", "--code", "git+https://x@main"); err == nil {
		t.Error("a branch name was accepted as a commit")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startServeWith runs `silo serve` in-process with extra arguments and
// returns the admin's environment and the URL.
func startServeWith(t *testing.T, dataDir string, extra ...string) (admin *cliEnv, url string, console *syncBuffer) {
	t.Helper()
	environ := []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "SILO_DATA_DIR=" + dataDir}
	ctx, cancel := context.WithCancel(context.Background())
	console = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "error"}, extra...), strings.NewReader(""), console, io.Discard, environ)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	re := regexp.MustCompile(`(?s)serving on (\S+).*--token (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	var m []string
	for m == nil {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start:\n%s", console.String())
		}
		time.Sleep(20 * time.Millisecond)
		m = re.FindStringSubmatch(console.String())
	}
	admin = &cliEnv{t: t, environ: append(environ, "XDG_CONFIG_HOME="+t.TempDir())}
	admin.must("bootstrap", "--server", m[1], "--token", m[2], "--name", "root")
	return admin, m[1], console
}

// TestServeEnforcesPolicy: silo serve --policy (2-of-2, enforce) refuses a
// model with one valid signature, with the reason in the CLI, and serves it
// once the second signature is added; silo verify --server then checks the
// log and the certificate, and remembers the checkpoint.
func TestServeEnforcesPolicy(t *testing.T) {
	dir := t.TempDir()
	dataDir := t.TempDir()
	alice, bob, policy := keyFiles(t, dir)
	os.MkdirAll(filepath.Join(dataDir, "models"), 0o755)
	weights := filepath.Join(dataDir, "models", "tiny.gguf")
	writeTiny(t, weights)
	cert := weights + ".dsse.json"
	admin, url, console := startServeWith(t, dataDir, "--policy", policy)
	if !strings.Contains(console.String(), "trust policy "+policy+", mode enforce") {
		t.Errorf("console does not name the policy:\n%s", console.String())
	}
	admin.must("cert", "create", "--weights", weights, "--dataset", "https://example.org/d="+policy,
		"--builder", "https://ci.example.org", "-o", cert)
	admin.must("cert", "sign", cert, "--key", alice)

	out := admin.must("models", "ls")
	if !regexp.MustCompile(`tiny\s+builtin\s+false\s+refused\s+model tiny refused: .*signature`).MatchString(out) {
		t.Errorf("one signature: models ls:\n%s", out)
	}
	// The chat loop reports a failed turn and goes on.
	if out, _ := admin.run("hi\n/exit\n", "chat", "--model", "tiny", "--max-tokens", "2"); !strings.Contains(out, "silo: error: Model not found") {
		t.Errorf("chat with a refused model:\n%s", out)
	}

	admin.must("cert", "sign", cert, "--key", bob)
	if out := admin.must("models", "ls"); !regexp.MustCompile(`tiny\s+builtin\s+true\s+verified`).MatchString(out) {
		t.Errorf("two signatures: models ls:\n%s", out)
	}
	if out, err := admin.run("hi\n/exit\n", "chat", "--model", "tiny", "--max-tokens", "2"); err != nil || strings.Contains(out, "silo: error") {
		t.Errorf("chat with a verified model: %v\n%s", err, out)
	}
	out = admin.must("verify", "--server", url, "--policy", policy)
	if !strings.Contains(out, "first checkpoint seen") || !strings.Contains(out, "tiny: verified") {
		t.Errorf("verify --server:\n%s", out)
	}
	if out := admin.must("verify", "--server", url); !strings.Contains(out, "consistent with the last checkpoint seen") {
		t.Errorf("second verify --server:\n%s", out)
	}
	// The log holds both certificates the server saw: alice's alone, then both.
	if out := admin.must("models", "show", "tiny"); !strings.Contains(out, "log:          record 1 of a tree of 2") || !strings.Contains(out, "status:       verified") {
		t.Errorf("models show:\n%s", out)
	}
}

// TestServeRequiresWitnesses: under a rule requiring one witness
// cosignature, a model signed 2 of 2 is refused until `silo log witness
// --submit` cosigns the log's checkpoint; a witness the server does not
// trust adds nothing.
func TestServeRequiresWitnesses(t *testing.T) {
	dir := t.TempDir()
	dataDir := t.TempDir()
	alice, bob, _ := keyFiles(t, dir)
	policy := filepath.Join(dir, "witnessed.json")
	os.WriteFile(policy, fmt.Appendf(nil, `{"mode": "enforce", "keys": {"alice": %q, "bob": %q},
  "rules": [{"models": "*", "keys": ["alice", "bob"], "threshold": 2, "log": {"required": true, "witnesses": 1}}]}`,
		provenance.FormatPublicKey(testSeed("alice").Public().(ed25519.PublicKey)),
		provenance.FormatPublicKey(testSeed("bob").Public().(ed25519.PublicKey))), 0o644)
	witness := func(name string) string {
		p := filepath.Join(dir, name+".key")
		os.WriteFile(p, []byte(base64.StdEncoding.EncodeToString(testSeed(name).Seed())), 0o600)
		return p
	}
	w1, rogue := witness("w1"), witness("rogue")
	os.MkdirAll(filepath.Join(dataDir, "models"), 0o755)
	weights := filepath.Join(dataDir, "models", "tiny.gguf")
	writeTiny(t, weights)
	admin, _, _ := startServeWith(t, dataDir, "--policy", policy,
		"--log-witness", "witness.example/w1="+provenance.FormatPublicKey(testSeed("w1").Public().(ed25519.PublicKey)))
	cert := weights + ".dsse.json"
	admin.must("cert", "create", "--weights", weights, "--builder", "https://ci.example.org", "-o", cert)
	admin.must("cert", "sign", cert, "--key", alice)
	admin.must("cert", "sign", cert, "--key", bob)
	if out := admin.must("models", "ls"); !regexp.MustCompile(`tiny\s+builtin\s+false\s+refused\s+.*0 witness cosignature`).MatchString(out) {
		t.Fatalf("no cosignature yet: models ls:\n%s", out)
	}
	if _, err := admin.run("", "log", "witness", "--key", rogue, "--name", "rogue.example/w", "--submit"); err == nil {
		t.Error("a cosignature from an untrusted witness was accepted")
	}
	if out := admin.must("log", "witness", "--key", w1, "--name", "witness.example/w1", "--submit"); !strings.Contains(out, "cosignature added") {
		t.Errorf("witness --submit: %s", out)
	}
	if out := admin.must("models", "ls"); !regexp.MustCompile(`tiny\s+builtin\s+true\s+verified`).MatchString(out) {
		t.Errorf("after the cosignature: models ls:\n%s", out)
	}
}
