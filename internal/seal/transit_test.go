package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
)

const (
	testMethod = "POST"
	testPath   = "/v1/chat/completions"
)

var testBody = []byte(`{"model":"tiny","messages":[{"role":"user","content":"hi"}]}`)

func newServerKey(t testing.TB) *ServerKey {
	t.Helper()
	k, err := GenerateServerKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newGuard() *ReplayGuard { return NewReplayGuard(5*time.Minute, 1000) }

func TestRequestRoundTrip(t *testing.T) {
	k := newServerKey(t)
	if got := len(k.PublicKey()); got != PublicKeySize {
		t.Fatalf("public key is %d bytes, want %d", got, PublicKeySize)
	}
	body := []byte("{\n  \"model\": \"tiny\",\n  \"messages\": []\n}")
	sealed, rk, err := SealRequest(k.PublicKey(), body, testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("tiny")) {
		t.Fatal("sealed request contains plaintext")
	}
	if sealed[0] != Version {
		t.Fatalf("version byte %#x", sealed[0])
	}
	req, err := k.OpenRequest(sealed, testMethod, testPath, newGuard())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(req.Body, body) {
		t.Fatalf("body %q, want it verbatim: %q", req.Body, body)
	}
	if req.ID != rk.RequestID() || len(req.ID) != 22 {
		t.Fatalf("request id %q, client has %q", req.ID, rk.RequestID())
	}
	if d := time.Since(req.Time); d < 0 || d > time.Minute {
		t.Fatalf("request time %v is not now", req.Time)
	}

	// The response goes back to the key the client sent.
	var stream bytes.Buffer
	w, err := req.SealResponse(&stream)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "data: {\"x\":1}\n\n")
	io.WriteString(w, "data: [DONE]\n\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := rk.OpenResponse(&stream)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "data: {\"x\":1}\n\ndata: [DONE]\n\n" {
		t.Fatalf("response %q", got)
	}
}

func TestSealRequestRefusesBadInput(t *testing.T) {
	k := newServerKey(t)
	for name, tc := range map[string]struct {
		pub  []byte
		body []byte
		path string
	}{
		"short key":    {k.PublicKey()[:100], testBody, testPath},
		"no key":       {nil, testBody, testPath},
		"invalid json": {k.PublicKey(), []byte("{"), testPath},
		"empty body":   {k.PublicKey(), nil, testPath},
		"long path":    {k.PublicKey(), testBody, "/" + strings.Repeat("a", 1<<16)},
	} {
		if _, _, err := SealRequest(tc.pub, tc.body, testMethod, tc.path); err == nil {
			t.Errorf("%s: sealed", name)
		}
	}
}

func TestOpenRequestTamperEveryByte(t *testing.T) {
	k := newServerKey(t)
	sealed, _, err := SealRequest(k.PublicKey(), []byte(`{"a":1}`), testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	g := newGuard()
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		req, err := k.OpenRequest(bad, testMethod, testPath, g)
		if err == nil {
			t.Fatalf("flipped byte %d: opened %q", i, req.Body)
		}
		if i == 0 {
			if !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("flipped version: err = %v, want ErrUnsupportedVersion", err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: err = %v, want ErrCorrupt", i, err)
		}
	}
	for _, n := range []int{0, 1, EncSize, EncSize + 1, EncSize + 17, len(sealed) - 1} {
		if _, err := k.OpenRequest(sealed[:n], testMethod, testPath, g); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: err = %v, want ErrCorrupt", n, err)
		}
	}
	if _, err := k.OpenRequest(append(bytes.Clone(sealed), 0), testMethod, testPath, g); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v, want ErrCorrupt", err)
	}
	// The untouched request still opens: nothing above reached the guard.
	if _, err := k.OpenRequest(sealed, testMethod, testPath, g); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRequestBindsEndpointAndKey(t *testing.T) {
	k, other := newServerKey(t), newServerKey(t)
	sealed, _, err := SealRequest(k.PublicKey(), testBody, testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		k            *ServerKey
		method, path string
	}{
		"other key":    {other, testMethod, testPath},
		"other method": {k, "PUT", testPath},
		"other path":   {k, testMethod, "/v1/completions"},
		"path shifted": {k, testMethod + "/", testPath[1:]},
	} {
		if _, err := tc.k.OpenRequest(sealed, tc.method, tc.path, newGuard()); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := k.OpenRequest(sealed, testMethod, testPath, nil); err == nil {
		t.Error("opened without a replay guard")
	}
}

func TestOpenRequestRefusesReplay(t *testing.T) {
	k := newServerKey(t)
	sealed, _, err := SealRequest(k.PublicKey(), testBody, testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	g := newGuard()
	if _, err := k.OpenRequest(sealed, testMethod, testPath, g); err != nil {
		t.Fatal(err)
	}
	if _, err := k.OpenRequest(sealed, testMethod, testPath, g); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: err = %v, want ErrReplay", err)
	}
}

func TestOpenRequestRefusesStale(t *testing.T) {
	k := newServerKey(t)
	now := time.Now()
	for name, at := range map[string]time.Time{
		"old":    now.Add(-6 * time.Minute),
		"future": now.Add(6 * time.Minute),
		"epoch":  time.Unix(0, 0),
	} {
		sealed, _, err := sealRequestAt(k.PublicKey(), testBody, testMethod, testPath, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.OpenRequest(sealed, testMethod, testPath, newGuard()); !errors.Is(err, ErrStale) {
			t.Errorf("%s: err = %v, want ErrStale", name, err)
		}
	}
}

func TestServerKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "transport.pem")
	k, err := LoadOrCreateServerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := LoadOrCreateServerKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.PublicKey(), k.PublicKey()) || again.Fingerprint() != k.Fingerprint() {
		t.Fatal("reloaded key differs")
	}
	if PublicKeyFingerprint(k.PublicKey()) != k.Fingerprint() {
		t.Fatal("PublicKeyFingerprint differs from ServerKey.Fingerprint")
	}
	// A request sealed to the first opens with the reloaded key.
	sealed, _, err := SealRequest(k.PublicKey(), testBody, testMethod, testPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := again.OpenRequest(sealed, testMethod, testPath, newGuard()); err != nil {
		t.Fatal(err)
	}

	// The transport key is no age identity: it opens nothing stored.
	pemFile, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := age.ParseIdentities(bytes.NewReader(pemFile)); err == nil {
		t.Fatal("age parses the server key file as an identity")
	}
	if _, err := ParseIdentities(bytes.NewReader(pemFile)); err == nil {
		t.Fatal("ParseIdentities accepts the server key file")
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadServerKey(path); err == nil || !strings.Contains(err.Error(), "too open") {
		t.Fatalf("world-readable key: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateServerKey(bad); err == nil {
		t.Fatal("loaded a corrupt key file")
	}
	if _, err := LoadServerKey(filepath.Join(dir, "missing.pem")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if s := fmt.Sprintf("%v %#v", k, k); !strings.Contains(s, k.Fingerprint()) || strings.Contains(s, "priv") {
		t.Fatalf("ServerKey prints as %q", s)
	}
}

func TestLoadOrCreateServerKeyRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "transport.pem")
	keys := make([]*ServerKey, 4)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateServerKey(path)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || keys[0] == nil || k.Fingerprint() != keys[0].Fingerprint() {
			t.Fatal("racing creators ended with different keys")
		}
	}
}
