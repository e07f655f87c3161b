package cli

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/silo-ai/silo/internal/tlog"
)

// logServer serves a switchable tlog.Log under /log/ as silo serve does.
type logServer struct {
	cur  atomic.Pointer[tlog.Log]
	vkey string
}

func (s *logServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/log/")
	if p == "key" {
		w.Write([]byte(s.vkey + "\n"))
		return
	}
	b, err := s.cur.Load().ReadTile(p)
	if errors.Is(err, tlog.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	w.Write(b)
}

const testOrigin = "silo.log/test"

func testLog(t *testing.T, key ed25519.PrivateKey, records ...string) *tlog.Log {
	t.Helper()
	st, err := tlog.OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(st, testOrigin, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	for _, r := range records {
		if _, _, err := l.Append([]byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// TestVerifyServerCatchesRewrittenLog: silo verify --server remembers the
// checkpoint; a log that grew honestly passes, a rewritten one (same key,
// different history) or a truncated one is refused, and the remembered
// state does not move.
func TestVerifyServerCatchesRewrittenLog(t *testing.T) {
	seed := sha256.Sum256([]byte("cli log key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	vkey, _ := note.NewEd25519VerifierKey(testOrigin, key.Public().(ed25519.PublicKey))
	ls := &logServer{vkey: vkey}
	honest := testLog(t, key, "a", "b")
	ls.cur.Store(honest)
	srv := httptest.NewServer(ls)
	defer srv.Close()
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}}

	if out := c.must("verify", "--server", srv.URL); !strings.Contains(out, "size 2 (first checkpoint seen") {
		t.Fatalf("first verify: %s", out)
	}
	honest.Append([]byte("c"))
	if out := c.must("verify", "--server", srv.URL); !strings.Contains(out, "size 3, consistent with the last checkpoint seen (size 2)") {
		t.Errorf("grown log: %s", out)
	}
	for name, l := range map[string]*tlog.Log{
		"rewritten": testLog(t, key, "a", "B", "c", "d"),
		"truncated": testLog(t, key, "a", "b"),
	} {
		ls.cur.Store(l)
		if _, err := c.run("", "verify", "--server", srv.URL); err == nil || !strings.Contains(err.Error(), "NOT consistent") {
			t.Errorf("%s log: err = %v", name, err)
		}
	}
	// A key other than the one trusted on first use is refused.
	other := ed25519.NewKeyFromSeed(make([]byte, 32))
	ovkey, _ := note.NewEd25519VerifierKey(testOrigin, other.Public().(ed25519.PublicKey))
	if _, err := c.run("", "verify", "--server", srv.URL, "--log-key", ovkey); err == nil {
		t.Error("a different pinned key was accepted")
	}
	ls.cur.Store(honest)
	if out := c.must("verify", "--server", srv.URL); !strings.Contains(out, "size 3, consistent") {
		t.Errorf("back to the honest log: %s", out)
	}
}

// TestLogWitness: the witness cosigns a log as it grows and refuses a
// checkpoint inconsistent with the last it cosigned.
func TestLogWitness(t *testing.T) {
	seed := sha256.Sum256([]byte("cli log key"))
	key := ed25519.NewKeyFromSeed(seed[:])
	vkey, _ := note.NewEd25519VerifierKey(testOrigin, key.Public().(ed25519.PublicKey))
	ls := &logServer{vkey: vkey}
	honest := testLog(t, key, "a", "b")
	ls.cur.Store(honest)
	srv := httptest.NewServer(ls)
	defer srv.Close()
	dir := t.TempDir()
	wkey := filepath.Join(dir, "witness.key")
	wseed := sha256.Sum256([]byte("witness"))
	os.WriteFile(wkey, []byte(base64.StdEncoding.EncodeToString(wseed[:])), 0o600)
	c := &cliEnv{t: t, environ: []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}}
	args := []string{"log", "witness", "--server", srv.URL, "--key", wkey, "--name", "witness.example/w1"}

	if out := c.must(args...); !strings.Contains(out, "— witness.example/w1 ") || !strings.Contains(out, "at size 2 (previously 0)") {
		t.Fatalf("first cosign: %s", out)
	}
	for i := 0; i < 300; i++ { // cross a full tile
		honest.Append([]byte{byte(i), byte(i >> 8)})
	}
	if out := c.must(args...); !strings.Contains(out, "at size 302 (previously 2)") {
		t.Errorf("grown log: %s", out)
	}
	// A fork larger than what was cosigned: the consistency proof fails.
	fork := testLog(t, key, "a", "B")
	for i := 0; i < 310; i++ {
		fork.Append([]byte{byte(i), byte(i >> 8)})
	}
	ls.cur.Store(fork)
	if _, err := c.run("", args...); err == nil || !strings.Contains(err.Error(), "refusing to cosign") {
		t.Errorf("forked log: %v", err)
	}
	// The refusal recorded nothing: the honest log is still cosigned.
	ls.cur.Store(honest)
	if out := c.must(args...); !strings.Contains(out, "at size 302 (previously 302)") {
		t.Errorf("honest log after the fork: %s", out)
	}
}
