package models

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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

func catalogKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo catalog test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func catalogPub(name string) provenance.PublicKey {
	return provenance.PublicKey{Name: name, Key: catalogKey(name).Public().(ed25519.PublicKey)}
}

// signedCatalog signs c with the named test keys.
func signedCatalog(t testing.TB, c *Catalog, signers ...string) []byte {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var ss []provenance.Signer
	for _, s := range signers {
		ss = append(ss, provenance.Ed25519Signer{Key: catalogKey(s)})
	}
	env, err := SignCatalog(b, ss...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func sampleCatalog() *Catalog {
	return &Catalog{Version: 1, Updated: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Models: []CatalogEntry{
		{Name: "tiny-q8_0", URL: "hf://org/repo/tiny-q8_0.gguf", Default: true},
		{Name: "other", URL: "https://example.org/other.gguf", SHA256: strings.Repeat("ab", 32), Size: 42},
	}}
}

func TestCatalogSignatureVerified(t *testing.T) {
	env := signedCatalog(t, sampleCatalog(), "maintainer")
	c, err := OpenCatalog(env, []provenance.PublicKey{catalogPub("someone"), catalogPub("maintainer")})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c.Default(); !ok || d.Name != "tiny-q8_0" {
		t.Errorf("default: %+v %v", d, ok)
	}
	if e, ok := c.Lookup("other"); !ok || e.Size != 42 || e.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("lookup: %+v %v", e, ok)
	}
	if _, ok := c.Lookup("missing"); ok {
		t.Error("lookup of a missing name succeeded")
	}
	// A second maintainer adds a signature to the signed catalog.
	env2, err := SignCatalog(env, provenance.Ed25519Signer{Key: catalogKey("second")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCatalog(env2, []provenance.PublicKey{catalogPub("second")}); err != nil {
		t.Errorf("re-signed catalog: %v", err)
	}
}

func TestCatalogRefusedTamperedOrUnknownSigner(t *testing.T) {
	keys := []provenance.PublicKey{catalogPub("maintainer")}
	env := signedCatalog(t, sampleCatalog(), "maintainer")

	if _, err := OpenCatalog(signedCatalog(t, sampleCatalog(), "stranger"), keys); !errors.Is(err, ErrCatalogUntrusted) {
		t.Errorf("unknown signer: %v", err)
	}
	if _, err := OpenCatalog(signedCatalog(t, sampleCatalog()), keys); !errors.Is(err, ErrCatalogUntrusted) {
		t.Errorf("unsigned: %v", err)
	}
	// Tamper with the payload: point the default at another URL.
	e, err := provenance.ParseEnvelope(env)
	if err != nil {
		t.Fatal(err)
	}
	e.Payload = bytes.Replace(e.Payload, []byte("hf://org/repo"), []byte("hf://evil/repo"), 1)
	tampered, _ := json.Marshal(e)
	if _, err := OpenCatalog(tampered, keys); !errors.Is(err, ErrCatalogUntrusted) {
		t.Errorf("tampered: %v", err)
	}
	// A signed envelope of another type (a certificate) is no catalog.
	e, _ = provenance.ParseEnvelope(env)
	e.PayloadType = provenance.PayloadType
	e.Signatures = nil
	e.Sign(provenance.Ed25519Signer{Key: catalogKey("maintainer")})
	other, _ := json.Marshal(e)
	if _, err := OpenCatalog(other, keys); !errors.Is(err, ErrCatalogMalformed) {
		t.Errorf("other payload type: %v", err)
	}
}

func TestParseCatalogRules(t *testing.T) {
	ok := `{"name":"a","url":"hf://o/r/a.gguf"}`
	for _, tc := range []struct{ name, doc string }{
		{"version", `{"version":2,"models":[]}`},
		{"no version", `{"models":[]}`},
		{"bad name", `{"version":1,"models":[{"name":"../x","url":"hf://o/r/a.gguf"}]}`},
		{"duplicate", `{"version":1,"models":[` + ok + `,` + ok + `]}`},
		{"bad url", `{"version":1,"models":[{"name":"a","url":"file:///etc/passwd"}]}`},
		{"upper digest", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","sha256":"` + strings.Repeat("AB", 32) + `"}]}`},
		{"short digest", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","sha256":"abcd"}]}`},
		{"negative size", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","size":-1}]}`},
		{"two defaults", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","default":true},{"name":"b","url":"hf://o/r/b.gguf","default":true}]}`},
		{"bad certificate", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","certificate":{"payload":"x"}}]}`},
		{"bad certificate url", `{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","certificate_url":"ftp://x"}]}`},
		{"not json", `{"version":1,`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseCatalog([]byte(tc.doc)); !errors.Is(err, ErrCatalogMalformed) {
				t.Errorf("accepted or wrong error: %v", err)
			}
		})
	}
	if _, err := ParseCatalog([]byte(`{"version":1,"future_field":true,"models":[` + ok + `]}`)); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
}

func TestShippedCatalog(t *testing.T) {
	c, err := ShippedCatalog()
	if err != nil {
		t.Fatal(err)
	}
	d, ok := c.Default()
	if !ok {
		t.Fatal("the shipped catalog has no default model")
	}
	if !strings.HasPrefix(d.URL, "hf://") {
		t.Errorf("default %q is not pulled from Hugging Face: %s", d.Name, d.URL)
	}
	// The shipped catalog verifies only with the maintainers' keys.
	if _, err := OpenCatalog(ShippedCatalogEnvelope(), []provenance.PublicKey{catalogPub("stranger")}); !errors.Is(err, ErrCatalogUntrusted) {
		t.Errorf("shipped catalog under a stranger's key: %v", err)
	}
}

func TestParseMaintainers(t *testing.T) {
	keys, err := ParseMaintainers([]byte("# comment\n\nalice " + provenance.FormatPublicKey(catalogPub("alice").Key) + "\n"))
	if err != nil || len(keys) != 1 || keys[0].Name != "alice" || !keys[0].Key.Equal(catalogPub("alice").Key) {
		t.Errorf("%v %v", keys, err)
	}
	for _, bad := range []string{"", "# only a comment\n", "alice\n", "alice ed25519:AAAA\n"} {
		if _, err := ParseMaintainers([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestTOFURecordRoundTrip(t *testing.T) {
	sum := strings.Repeat("0f", 32)
	rec := TOFURecord("qwen", "hf://o/r/q.gguf", sum)
	want := "silo-tofu-digest/v1\nname qwen\nurl hf://o/r/q.gguf\nsha256 " + sum + "\n"
	if string(rec) != want {
		t.Errorf("record %q, want %q", rec, want)
	}
	n, u, s, ok := ParseTOFURecord(rec)
	if !ok || n != "qwen" || u != "hf://o/r/q.gguf" || s != sum {
		t.Errorf("parse: %q %q %q %v", n, u, s, ok)
	}
	if _, _, _, ok := ParseTOFURecord(signedCatalog(t, sampleCatalog(), "maintainer")); ok {
		t.Error("an envelope parsed as a TOFU record")
	}
}

// catalogServer serves the current content at every path (and a
// certificate at paths ending in .dsse.json).
type catalogServer struct {
	*httptest.Server
	content atomic.Pointer[[]byte]
}

func newCatalogServer(t *testing.T, content []byte) *catalogServer {
	t.Helper()
	m := &catalogServer{}
	m.content.Store(&content)
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, CertExtension) {
			w.Write([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k","sig":"AAAA"}]}`))
			return
		}
		http.ServeContent(w, r, "m.gguf", time.Unix(1e9, 0), bytes.NewReader(*m.content.Load()))
	}))
	t.Cleanup(m.Close)
	return m
}

func newTOFU(t *testing.T, dataDir string) TOFU {
	t.Helper()
	pins, err := OpenPins(filepath.Join(dataDir, PinsFile))
	if err != nil {
		t.Fatal(err)
	}
	return TOFU{Pins: pins, OpenLog: func() (*CertLog, error) { return OpenCertLog(filepath.Join(dataDir, "log")) }}
}

// catalogEntry builds a signed catalog in the test, pointing at the
// loopback server, opens it as pull would and returns the named entry.
func catalogEntry(t *testing.T, entries ...CatalogEntry) *Catalog {
	t.Helper()
	c := &Catalog{Version: 1, Updated: time.Now().UTC(), Models: entries}
	opened, err := OpenCatalog(signedCatalog(t, c, "maintainer"), []provenance.PublicKey{catalogPub("maintainer")})
	if err != nil {
		t.Fatal(err)
	}
	return opened
}

func TestPullByShortNameCatalogDigest(t *testing.T) {
	content := tinyModel(t)
	srv := newCatalogServer(t, content)
	c := catalogEntry(t,
		CatalogEntry{Name: "good", URL: srv.URL + "/org/good.gguf", SHA256: sha(content), CertificateURL: srv.URL + "/org/good.gguf" + CertExtension},
		CatalogEntry{Name: "flipped", URL: srv.URL + "/org/flipped.gguf", SHA256: sha(append([]byte("x"), content...))})
	s := newStore(t)
	ctx := context.Background()
	e, _ := c.Lookup("good")
	res, err := s.PullEntry(ctx, e, newTOFU(t, t.TempDir()), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != FromCatalog || res.SHA256 != sha(content) || res.Model.Name != "good" || res.Model.Certificate == "" {
		t.Errorf("pull: %+v, model %+v", res, res.Model)
	}
	e, _ = c.Lookup("flipped")
	if _, err := s.PullEntry(ctx, e, newTOFU(t, t.TempDir()), PullOptions{}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("digest differing from the catalog's: %v", err)
	}
	if _, err := s.Info("flipped"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused pull left a model: %v", err)
	}
}

func TestPullTrustOnFirstUse(t *testing.T) {
	content := tinyModel(t)
	srv := newCatalogServer(t, content)
	cert := signedEnvelopeForTest(t)
	c := catalogEntry(t, CatalogEntry{Name: "tofu", URL: srv.URL + "/org/tofu.gguf", Certificate: cert})
	e, _ := c.Lookup("tofu")
	s := newStore(t)
	data := t.TempDir()
	ctx := context.Background()

	res, err := s.PullEntry(ctx, e, newTOFU(t, data), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Source != FromFirstUse || res.SHA256 != sha(content) || res.Model.Certificate == "" {
		t.Fatalf("first pull: %+v", res)
	}
	pin, ok := newTOFU(t, data).Pins.Get("tofu")
	if !ok || pin.SHA256 != sha(content) || pin.LogIndex != res.LogIndex {
		t.Errorf("pin %+v %v", pin, ok)
	}
	l, err := OpenCertLog(filepath.Join(data, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if sum, i, ok := l.FindTOFU("tofu"); !ok || sum != sha(content) || i != res.LogIndex {
		t.Errorf("log record: %s %d %v", sum, i, ok)
	}
	size := l.Log().Size()
	l.Close()

	// The same file again: checked against the pin, nothing new logged.
	if err := s.Remove("tofu"); err != nil {
		t.Fatal(err)
	}
	if res, err := s.PullEntry(ctx, e, newTOFU(t, data), PullOptions{}); err != nil || res.Source != FromPin {
		t.Fatalf("second pull: %+v %v", res, err)
	}
	// The publisher's file changes: refused, with or without the pins file.
	changed := append([]byte(nil), content...)
	changed[len(changed)-1] ^= 1
	srv.content.Store(&changed)
	if _, err := s.PullEntry(ctx, e, newTOFU(t, data), PullOptions{Force: true}); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("changed file against the pin: %v", err)
	}
	if err := os.Remove(filepath.Join(data, PinsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PullEntry(ctx, e, newTOFU(t, data), PullOptions{Force: true}); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("changed file against the log's record: %v", err)
	}
	if pin, ok := newTOFU(t, data).Pins.Get("tofu"); !ok || pin.SHA256 != sha(content) {
		t.Errorf("pin not restored from the log: %+v %v", pin, ok)
	}
	if got, err := s.Digest("tofu"); err != nil || got != sha(content) {
		t.Errorf("installed model is %s (%v), want the pinned file", got, err)
	}
	l, err = OpenCertLog(filepath.Join(data, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Log().Size() != size {
		t.Errorf("log grew from %d to %d records on pulls of a pinned name", size, l.Log().Size())
	}
}

// signedEnvelopeForTest is a certificate-shaped envelope to ship inline.
func signedEnvelopeForTest(t *testing.T) json.RawMessage {
	t.Helper()
	env := &provenance.Envelope{PayloadType: provenance.PayloadType, Payload: []byte(`{}`)}
	if err := env.Sign(provenance.Ed25519Signer{Key: catalogKey("publisher")}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(env)
	return b
}

func TestPullEntryOfflineFailsFast(t *testing.T) {
	// A loopback port nobody listens on: the connection is refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := catalogEntry(t, CatalogEntry{Name: "far", URL: fmt.Sprintf("http://%s/far.gguf", addr), Default: true})
	e, _ := c.Default()
	s := newStore(t)
	_, err = s.PullEntry(context.Background(), e, newTOFU(t, t.TempDir()), PullOptions{Client: NewPullClient(2 * time.Second)})
	if !errors.Is(err, ErrOffline) {
		t.Fatalf("offline pull: %v", err)
	}
	if !strings.Contains(err.Error(), "cannot reach the download server") {
		t.Errorf("message: %v", err)
	}
	if _, err := s.Info("far"); !errors.Is(err, ErrNotFound) {
		t.Errorf("offline pull left a model: %v", err)
	}
}
