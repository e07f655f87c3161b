package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/genmodel"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	token string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliEnv runs commands as a user with their own config dir.
type cliEnv struct {
	t       *testing.T
	environ []string
}

func (c *cliEnv) run(stdin string, args ...string) (string, error) {
	c.t.Helper()
	var out, errb bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(stdin), &out, &errb, c.environ)
	return out.String() + errb.String(), err
}

func (c *cliEnv) must(args ...string) string {
	c.t.Helper()
	out, err := c.run("", args...)
	if err != nil {
		c.t.Fatalf("silo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// startServer runs `silo serve` in-process on a free loopback port with a
// generated model, and returns the admin's CLI environment.
func startServer(t *testing.T) (admin *cliEnv, url, dataDir string) {
	t.Helper()
	admin, url, dataDir, _ = startServerLog(t)
	return admin, url, dataDir
}

// startServerLog is startServer that also returns the server's log (debug
// level) and the one-time token.
func startServerLog(t *testing.T, serveArgs ...string) (admin *cliEnv, url, dataDir string, log *syncBuffer) {
	t.Helper()
	dataDir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dataDir, "models"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := genmodel.WriteFile(filepath.Join(dataDir, "models", "tiny.gguf"), genmodel.Options{Hidden: 32, Layers: 1, Heads: 2}); err != nil {
		t.Fatal(err)
	}
	environ := []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "SILO_DATA_DIR=" + dataDir}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	log = &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "debug"}, serveArgs...), strings.NewReader(""), &out, log, environ)
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
			t.Fatalf("server did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
		m = re.FindStringSubmatch(out.String())
	}
	url = m[1]
	// The banner names the web app's address under the passkeys' domain.
	if _, port, _ := strings.Cut(strings.TrimPrefix(url, "https://"), ":"); !strings.Contains(out.String(), "silo: web app at https://localhost:"+port+"/\n") {
		t.Errorf("the banner does not give the web app's address:\n%s", out.String())
	}
	admin = &cliEnv{t: t, environ: append(environ, "XDG_CONFIG_HOME="+t.TempDir())}
	admin.must("bootstrap", "--server", url, "--token", m[2], "--name", "root")
	log.token = m[2]
	return admin, url, dataDir, log
}

// TestSecretsNeverLogged: after bootstrap, key creation, use and a failed
// login, the server's debug log holds neither the bootstrap token nor any
// API key, nor a message.
func TestSecretsNeverLogged(t *testing.T) {
	admin, url, _, log := startServerLog(t)
	admin.must("users", "create", "bob")
	secret := strings.TrimSpace(strings.Split(admin.must("keys", "create", "bob key", "--user", "bob"), "\n")[0])
	bob := &cliEnv{t: t, environ: append(append([]string{}, admin.environ...), "XDG_CONFIG_HOME="+t.TempDir())}
	bob.must("login", "--server", url, "--api-key", secret)
	bob.run("the secret word is pineapple\n/exit\n", "chat", "--max-tokens", "2")
	bob.run("", "login", "--server", url, "--api-key", "sk-silo-wrongwrongwrongwrongwrongwrongwrong")
	logged := log.String()
	if !strings.Contains(logged, "level=") {
		t.Fatalf("no log captured: %q", logged)
	}
	for _, s := range []string{log.token, secret, "sk-silo-", "pineapple"} {
		if strings.Contains(logged, s) {
			t.Errorf("the server log contains %q", s)
		}
	}
}

func TestCLIAdminFlow(t *testing.T) {
	admin, url, dataDir := startServer(t)
	if out := admin.must("users", "create", "alice", "--email", "alice@example.org"); !strings.Contains(out, "created user alice (user)") {
		t.Errorf("users create: %s", out)
	}
	if out := admin.must("users", "ls"); !strings.Contains(out, "alice") || !strings.Contains(out, "root") {
		t.Errorf("users ls: %s", out)
	}
	secret := strings.TrimSpace(strings.Split(admin.must("keys", "create", "alice laptop", "--user", "alice"), "\n")[0])
	if !strings.HasPrefix(secret, "sk-silo-") {
		t.Fatalf("keys create printed %q", secret)
	}
	admin.must("limits", "set", "alice", "--tokens-per-day", "1000", "--requests-per-minute", "60")
	if out := admin.must("limits", "get", "alice"); !strings.Contains(out, "tokens per day: 1000") {
		t.Errorf("limits get: %s", out)
	}

	alice := &cliEnv{t: t, environ: append(append([]string{}, admin.environ...), "XDG_CONFIG_HOME="+t.TempDir())}
	alice.must("login", "--server", url, "--api-key", secret)
	if out := alice.must("models", "ls"); !strings.Contains(out, "tiny") {
		t.Errorf("models ls: %s", out)
	}
	out, err := alice.run("hello there\n/exit\n", "chat", "--max-tokens", "3", "--seed", "7")
	if err != nil || strings.TrimSpace(strings.Split(out, "\n")[0]) == "" {
		t.Errorf("chat: %v\n%s", err, out)
	}
	if out := alice.must("usage"); !strings.Contains(out, "tiny") {
		t.Errorf("usage after a chat: %s", out)
	}
	if _, err := alice.run("", "users", "ls"); err == nil || !strings.Contains(err.Error(), "admin role") {
		t.Errorf("alice listing users: %v", err)
	}
	if out := admin.must("audit", "verify"); !strings.Contains(out, "audit chain ok") {
		t.Errorf("audit verify: %s", out)
	}
	if out := admin.must("audit", "verify", "--data-dir", dataDir); !strings.Contains(out, "audit chain ok") {
		t.Errorf("audit verify --data-dir: %s", out)
	}
	if out := admin.must("audit", "ls"); !strings.Contains(out, "limits.set") {
		t.Errorf("audit ls: %s", out)
	}
	// Revoking the key locks alice out.
	keys := admin.must("keys", "ls", "--all")
	var id string
	for _, line := range strings.Split(keys, "\n") {
		if strings.Contains(line, "alice laptop") {
			id = strings.Fields(line)[0]
		}
	}
	admin.must("keys", "revoke", id)
	if _, err := alice.run("", "models", "ls"); err == nil {
		t.Error("a revoked key still works")
	}
}

func TestCLIErrors(t *testing.T) {
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}}
	var stderr bytes.Buffer
	code := Main(context.Background(), []string{"users", "ls"}, strings.NewReader(""), io.Discard, &stderr, c.environ)
	if code != 1 || !strings.Contains(stderr.String(), "silo: error: no API key") || !strings.Contains(stderr.String(), "silo: hint: ") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if _, err := c.run("", "serve", "--addr", "nonsense"); err == nil {
		t.Error("serve accepted a bad address")
	}
	if out, err := c.run("", "users", "ls"); err == nil || !strings.Contains(err.Error(), "no API key") {
		t.Errorf("no key: %v %s", err, out)
	}
}
