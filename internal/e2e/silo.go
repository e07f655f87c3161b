// Package e2e holds silo's end-to-end tests: they build the real `silo`
// binary, run `silo serve` in front of the enginetest upstream double, and
// drive it with the official OpenAI SDKs (Go and, through node, npm), raw
// HTTP and the CLI itself. This file is the harness: it builds the binary
// and starts, bootstraps and stops servers, each in its own temporary data
// dir, config dir and home, with an environment free of the caller's
// SILO_* settings.
//
// What the harness promises: a started Server is listening (its URL is the
// one `silo serve` printed), trusts nothing but its own self-signed
// certificate, and is killed when the test ends if it is still running;
// its stderr log is attached to the test output when the test fails.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long `silo serve` may take to print its URL, and
// one CLI command to finish.
const startTimeout = 30 * time.Second

// Build compiles ./cmd/silo of this module into dir and returns the
// binary's path. With race, the binary has the race detector, which also
// lets it share the build cache with a `go test -race` run.
func Build(ctx context.Context, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "silo")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "github.com/silo-ai/silo/cmd/silo")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("e2e: build silo: %w\n%s", err, out)
	}
	return bin, nil
}

// Env is an isolated environment for silo commands: its own home, config
// and data dirs, and no SILO_* or XDG_* variables from the caller.
type Env struct {
	Bin     string
	Home    string
	DataDir string

	bootstrapped bool // an admin exists: serve prints no token
}

// NewEnv makes an Env under t.TempDir().
func NewEnv(t testing.TB, bin string) *Env {
	t.Helper()
	root := t.TempDir()
	e := &Env{Bin: bin, Home: filepath.Join(root, "home"), DataDir: filepath.Join(root, "data")}
	for _, d := range []string{e.Home, e.DataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// Environ is the process environment for silo commands run in e.
func (e *Env) Environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SILO_") || strings.HasPrefix(k, "XDG_") || k == "HOME" ||
			strings.HasPrefix(k, "OPENAI_") || strings.HasSuffix(strings.ToLower(k), "_proxy") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"HOME="+e.Home,
		"XDG_CONFIG_HOME="+filepath.Join(e.Home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(e.Home, ".local", "share"),
	)
}

// CAFile is the self-signed certificate `silo serve` makes in the data dir.
func (e *Env) CAFile() string { return filepath.Join(e.DataDir, "tls", "cert.pem") }

// DBFile is the SQLite database in the data dir.
func (e *Env) DBFile() string { return filepath.Join(e.DataDir, "silo.db") }

// Run runs one silo command to completion and returns its stdout, stderr
// and exit code; err is set only when the command could not run.
func (e *Env) Run(ctx context.Context, args ...string) (stdout, stderr string, code int, err error) {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Bin, args...)
	cmd.Env = e.Environ()
	var o, x bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &x
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return o.String(), x.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return o.String(), x.String(), -1, fmt.Errorf("e2e: silo %s: %w", strings.Join(args, " "), err)
	}
	return o.String(), x.String(), 0, nil
}

// Server is a running `silo serve`.
type Server struct {
	*Env
	URL   string // https://127.0.0.1:PORT
	Token string // the one-time bootstrap token; "" when an admin exists

	cmd    *exec.Cmd
	stderr *lockedBuffer
	exited chan struct{}
	err    error // from cmd.Wait, valid after exited is closed
}

// Serve starts `silo serve --addr 127.0.0.1:0` in e with extra flags and
// waits until it prints the URL it serves on.
func (e *Env) Serve(t testing.TB, flags ...string) *Server {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", e.DataDir, "--log-level", "debug"}, flags...)
	cmd := exec.Command(e.Bin, args...)
	cmd.Env = e.Environ()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Env: e, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("e2e: start silo serve: %v", err)
	}
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			_ = cmd.Process.Kill()
			<-s.exited
		}
		if strings.Contains(s.stderr.String(), "WARNING: DATA RACE") {
			t.Error("e2e: the race detector found a data race in silo serve")
		}
		if t.Failed() {
			t.Logf("silo serve stderr:\n%s", s.stderr.String())
		}
	})

	type banner struct{ url, token string }
	got := make(chan banner, 1)
	admin := e.bootstrapped
	go func() {
		var b banner
		sent := false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if u, ok := strings.CutPrefix(line, "silo: serving on "); ok {
				b.url = strings.TrimSpace(u)
			}
			if _, after, ok := strings.Cut(line, "--token "); ok {
				b.token, _, _ = strings.Cut(after, " ")
			}
			// The banner ends with the token line, or with the certificate
			// line once an admin exists.
			if !sent && b.url != "" && (b.token != "" || admin && strings.HasPrefix(line, "silo: self-signed")) {
				got <- b
				sent = true
			}
		}
		if !sent {
			got <- b
		}
	}()
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()

	select {
	case b := <-got:
		if b.url == "" {
			<-s.exited
			t.Fatalf("e2e: silo serve exited before serving: %v\nstderr:\n%s", s.err, s.stderr.String())
		}
		s.URL, s.Token = b.url, b.token
	case <-time.After(startTimeout):
		t.Fatalf("e2e: silo serve printed no URL within %s\nstderr:\n%s", startTimeout, s.stderr.String())
	}
	return s
}

// Bootstrap runs `silo bootstrap` with the server's one-time token and
// returns the admin's API key.
func (s *Server) Bootstrap(t testing.TB) string {
	t.Helper()
	if s.Token == "" {
		t.Fatal("e2e: bootstrap: the server printed no token")
	}
	out, errOut, code, err := s.Run(context.Background(), "bootstrap", "--server", s.URL, "--token", s.Token, "--name", "admin", "--ca", s.CAFile())
	if err != nil || code != 0 {
		t.Fatalf("e2e: silo bootstrap: exit %d, %v\nstdout:\n%s\nstderr:\n%s", code, err, out, errOut)
	}
	for _, line := range strings.Split(out, "\n") {
		if k, ok := strings.CutPrefix(line, "API key (shown once): "); ok {
			s.bootstrapped = true
			return strings.TrimSpace(k)
		}
	}
	t.Fatalf("e2e: silo bootstrap printed no API key:\n%s", out)
	return ""
}

// HTTPClient returns a client that trusts only the server's certificate.
func (s *Server) HTTPClient(t testing.TB) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(s.CAFile())
	if err != nil {
		t.Fatalf("e2e: read server certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("e2e: %s holds no certificate", s.CAFile())
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	c := &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

// Signal sends sig to the server process.
func (s *Server) Signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("e2e: signal silo serve: %v", err)
	}
}

// Exited is closed when the server process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// ExitCode is the process's exit code once Exited is closed (-1 if it was
// killed by a signal).
func (s *Server) ExitCode() int { return s.cmd.ProcessState.ExitCode() }

// Stop sends SIGTERM and waits (bounded) for the process to exit, failing
// the test if it does not exit 0.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.Signal(t, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(startTimeout):
		t.Fatalf("e2e: silo serve still running %s after SIGTERM", startTimeout)
	}
	if code := s.ExitCode(); code != 0 {
		t.Fatalf("e2e: silo serve exited %d after SIGTERM (%v)\nstderr:\n%s", code, s.err, s.stderr.String())
	}
}

// Log returns what the server wrote to stderr so far.
func (s *Server) Log() string { return s.stderr.String() }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
