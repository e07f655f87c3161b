package models

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
)

var (
	tinyOnce  sync.Once
	tinyBytes []byte
	tinyErr   error
)

// tinyModel returns the bytes of a small generated GGUF model (made once).
func tinyModel(t testing.TB) []byte {
	t.Helper()
	tinyOnce.Do(func() {
		var b bytes.Buffer
		_, tinyErr = genmodel.Write(&b, genmodel.Options{Arch: genmodel.ArchLlama, Type: ggml.Q8_0,
			Hidden: 64, Heads: 4, KVHeads: 2, FFN: 128, Layers: 2, Context: 128, Seed: 5})
		tinyBytes = b.Bytes()
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyBytes
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func writeFile(t testing.TB, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func newStore(t testing.TB) *Store {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "models"), dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestImportListShowRemove(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	src := writeFile(t, filepath.Join(t.TempDir(), "tiny.gguf"), tinyModel(t))
	writeFile(t, CertPath(src), []byte(`{"payloadType":"x","payload":"","signatures":[]}`))
	bundle := []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`)
	writeFile(t, SigPath(src), bundle)

	m, err := s.Import(ctx, src, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "tiny" || m.Arch != "llama" || m.Type != "Q8_0" || m.Params == 0 || m.Size != int64(len(tinyModel(t))) {
		t.Errorf("imported model = %+v", m)
	}
	if m.Certificate == "" {
		t.Error("the certificate beside the file was not imported")
	}
	if b, err := os.ReadFile(m.Bundle); err != nil || string(b) != string(bundle) {
		t.Errorf("the signing bundle beside the file was not imported: %q, %v", m.Bundle, err)
	}
	if _, err := s.Import(ctx, src, ImportOptions{}); !errors.Is(err, ErrExists) {
		t.Errorf("second import: err = %v, want ErrExists", err)
	}
	// The digest was recorded while copying: the cache answers.
	d, err := s.Digest("tiny")
	if err != nil || d != sha(tinyModel(t)) {
		t.Errorf("Digest = %q, %v", d, err)
	}
	ls, err := s.List()
	if err != nil || len(ls) != 1 || ls[0].Name != "tiny" {
		t.Fatalf("List = %+v, %v", ls, err)
	}
	md, err := s.Metadata("tiny")
	if err != nil || md["general.architecture"] != "llama" || !strings.HasSuffix(md["tokenizer.ggml.tokens"].(string), "items]") {
		t.Errorf("Metadata = %v, %v", md["general.architecture"], err)
	}
	// Only complete files in place: no temporaries left.
	ents, _ := os.ReadDir(s.Dir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if err := s.Remove("tiny"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "tiny.gguf.dsse.json")); !os.IsNotExist(err) {
		t.Error("certificate not removed with the model")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "tiny.gguf.sig")); !os.IsNotExist(err) {
		t.Error("signing bundle not removed with the model")
	}
	// A model imported again without a bundle does not keep the old one.
	os.Remove(SigPath(src))
	if _, err := s.Import(ctx, src, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, SigPath(filepath.Join(s.Dir(), "tiny.gguf")), bundle)
	if m, err := s.Import(ctx, src, ImportOptions{Force: true}); err != nil || m.Bundle != "" {
		t.Errorf("replaced model keeps the old bundle: %+v, %v", m, err)
	}
	if err := s.Remove("tiny"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("tiny"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second rm: %v", err)
	}
}

func TestImportRefuses(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	notGGUF := writeFile(t, filepath.Join(dir, "junk.gguf"), []byte("not a model"))
	if _, err := s.Import(ctx, notGGUF, ImportOptions{}); !errors.Is(err, ErrNotGGUF) {
		t.Errorf("junk: %v, want ErrNotGGUF", err)
	}
	good := writeFile(t, filepath.Join(dir, "tiny.gguf"), tinyModel(t))
	if _, err := s.Import(ctx, good, ImportOptions{SHA256: strings.Repeat("0", 64)}); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("wrong digest: %v, want ErrDigestMismatch", err)
	}
	for _, name := range []string{"../x", ".hidden", "a/b", strings.Repeat("a", 129)} {
		if _, err := s.Import(ctx, good, ImportOptions{Name: name}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("name %q: %v, want ErrInvalidName", name, err)
		}
	}
	if ls, _ := s.List(); len(ls) != 0 {
		t.Errorf("refused imports left models: %+v", ls)
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"hf://org/repo/file.gguf", "https://huggingface.co/org/repo/resolve/main/file.gguf"},
		{"hf://org/repo@v1.0/sub/file.gguf", "https://huggingface.co/org/repo/resolve/v1.0/sub/file.gguf"},
		{"https://example.com/m.gguf", "https://example.com/m.gguf"},
		{"hf://org/repo", ""},
		{"hf://org/../file.gguf", ""},
		{"hf://org/repo/../../x.gguf", ""},
		{"file:///etc/passwd", ""},
		{"ftp://host/m.gguf", ""},
	} {
		got, err := ResolveURL(c.in)
		if (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("ResolveURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// modelServer serves content as a file with a validator (Last-Modified), so
// Range and If-Range work as on a real server. cut, when positive, makes the
// first request die after that many bytes.
type modelServer struct {
	content  atomic.Pointer[[]byte]
	modTime  atomic.Int64
	cut      atomic.Int64
	requests atomic.Int64
	ranges   sync.Map // request number -> Range header
}

func (m *modelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := m.requests.Add(1)
	m.ranges.Store(n, r.Header.Get("Range"))
	b := *m.content.Load()
	if cut := m.cut.Swap(0); cut > 0 {
		w.Header().Set("Last-Modified", time.Unix(m.modTime.Load(), 0).UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		w.Write(b[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection dies mid-body
	}
	http.ServeContent(w, r, "model.gguf", time.Unix(m.modTime.Load(), 0), bytes.NewReader(b))
}

func newModelServer(t *testing.T, content []byte) (*modelServer, string) {
	t.Helper()
	ms := &modelServer{}
	ms.content.Store(&content)
	ms.modTime.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Unix())
	srv := httptest.NewServer(ms)
	t.Cleanup(srv.Close)
	return ms, srv.URL + "/files/tiny.gguf"
}

func TestPullResumesToIdenticalDigest(t *testing.T) {
	content := tinyModel(t)
	ms, url := newModelServer(t, content)
	ms.cut.Store(int64(len(content) / 2))
	s := newStore(t)
	ctx := context.Background()

	var progress []Progress
	o := PullOptions{SHA256: sha(content), ProgressEvery: time.Nanosecond, Progress: func(p Progress) { progress = append(progress, p) }}
	if _, err := s.Pull(ctx, url, o); err == nil {
		t.Fatal("a pull cut midway succeeded")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), "tiny.gguf")); !os.IsNotExist(err) {
		t.Fatal("a partial download appeared under the model's name")
	}
	progress = nil
	m, err := s.Pull(ctx, url, o)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := ms.ranges.Load(int64(2)); r == "" || r == "bytes=0-" {
		t.Errorf("second request Range = %q, want a resume", r)
	}
	got, err := os.ReadFile(m.Path)
	if err != nil || sha(got) != sha(content) {
		t.Fatalf("pulled file digest %s, want %s (%v)", sha(got), sha(content), err)
	}
	if d, _ := s.Digest("tiny"); d != sha(content) {
		t.Errorf("cached digest %s", d)
	}
	// Progress: starts at the resumed offset, ends at the total, never goes back.
	if len(progress) < 2 {
		t.Fatalf("progress reported %d times", len(progress))
	}
	first, last := progress[0], progress[len(progress)-1]
	if first.Done <= 0 || first.Done >= int64(len(content)) || last.Done != int64(len(content)) || last.Total != int64(len(content)) {
		t.Errorf("progress first %+v last %+v (size %d)", first, last, len(content))
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Done < progress[i-1].Done {
			t.Errorf("progress went back: %+v after %+v", progress[i], progress[i-1])
		}
	}
	ents, _ := os.ReadDir(s.Dir())
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestPullRestartsWhenRemoteChanged(t *testing.T) {
	content := tinyModel(t)
	other := append([]byte(nil), content...)
	other[len(other)-1] ^= 0xff // same size, different bytes
	ms, url := newModelServer(t, other)
	ms.cut.Store(int64(len(content) / 2))
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Pull(ctx, url, PullOptions{}); err == nil {
		t.Fatal("cut pull succeeded")
	}
	// The remote file is replaced (new Last-Modified): a resume would mix them.
	ms.content.Store(&content)
	ms.modTime.Add(3600)
	m, err := s.Pull(ctx, url, PullOptions{SHA256: sha(content)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(m.Path)
	if sha(got) != sha(content) {
		t.Error("the restarted pull does not hold the new file")
	}
}

func TestPullRefusesFlippedByte(t *testing.T) {
	content := tinyModel(t)
	bad := append([]byte(nil), content...)
	bad[len(bad)/3] ^= 0x01
	_, url := newModelServer(t, bad)
	s := newStore(t)
	_, err := s.Pull(context.Background(), url, PullOptions{SHA256: sha(content)})
	if !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("err = %v, want ErrDigestMismatch", err)
	}
	ents, _ := os.ReadDir(s.Dir())
	if len(ents) != 0 {
		t.Errorf("a refused pull left %d files (first %s)", len(ents), ents[0].Name())
	}
}

func TestDigestCache(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "f"), []byte("hello"))
	c, err := OpenDigestCache(filepath.Join(dir, DigestCacheFile))
	if err != nil {
		t.Fatal(err)
	}
	// A file that just changed is not cached: its timestamps could hide a
	// rewrite within the same clock tick.
	if d, err := c.Digest(p); err != nil || d != sha([]byte("hello")) || len(c.entries) != 0 {
		t.Fatalf("fresh file: %s, %v, %d entries", d, err, len(c.entries))
	}
	if d, ok := c.Cached(p); ok {
		t.Errorf("Cached(fresh file) = %s", d)
	}
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 0
	d1, err := c.Digest(p)
	if err != nil || d1 != sha([]byte("hello")) || len(c.entries) != 1 {
		t.Fatal(d1, err)
	}
	if d, ok := c.Cached(p); !ok || d != d1 {
		t.Errorf("Cached after Digest = %s, %v", d, ok)
	}
	// Persisted: a new cache answers from the file (seen by planting a
	// wrong digest that only the cache could return).
	c.mu.Lock()
	abs, _ := filepath.Abs(p)
	e := c.entries[abs]
	e.SHA256 = strings.Repeat("a", 64)
	c.entries[abs] = e
	c.saveLocked()
	c.mu.Unlock()
	c2, _ := OpenDigestCache(filepath.Join(dir, DigestCacheFile))
	if d, _ := c2.Digest(p); d != strings.Repeat("a", 64) {
		t.Errorf("persisted cache not used: %s", d)
	}
	// Rewriting in place with the same size and mtime still invalidates it
	// (the change time moves).
	fi, _ := os.Stat(p)
	time.Sleep(10 * time.Millisecond)
	writeFile(t, p, []byte("HELLO"))
	os.Chtimes(p, fi.ModTime(), fi.ModTime())
	if d, ok := c2.Cached(p); ok {
		t.Errorf("Cached(rewritten file) = %s", d)
	}
	if d, _ := c2.Digest(p); d != sha([]byte("HELLO")) {
		t.Errorf("rewritten file: digest %s, want the new content's", d)
	}
	// A corrupt cache file starts empty.
	writeFile(t, filepath.Join(dir, DigestCacheFile), []byte("{"))
	if _, err := OpenDigestCache(filepath.Join(dir, DigestCacheFile)); err != nil {
		t.Error(err)
	}
}

// keyPair is a deterministic test key.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo models test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// TestPullRestartsWhenRangeUnsatisfiable: a partial file as long as the
// remote one (a crash after the last byte, before the rename) gets 416 on
// resume; the pull starts over instead of failing for ever.
func TestPullRestartsWhenRangeUnsatisfiable(t *testing.T) {
	content := tinyModel(t)
	ms, url := newModelServer(t, content)
	ms.cut.Store(int64(len(content) / 2))
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Pull(ctx, url, PullOptions{}); err == nil {
		t.Fatal("cut pull succeeded")
	}
	// Pad the partial file and its state past the remote size.
	partial := partialPath(s.Dir(), "tiny")
	b, _ := os.ReadFile(partial + ".json")
	var st partialState
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(partial, os.O_WRONLY|os.O_APPEND, 0)
	f.Write(make([]byte, len(content)))
	f.Close()
	h := sha256.New()
	pb, _ := os.ReadFile(partial)
	h.Write(pb)
	st.Size = int64(len(pb))
	st.Hash, _ = h.(encoding.BinaryMarshaler).MarshalBinary()
	b, _ = json.Marshal(st)
	os.WriteFile(partial+".json", b, 0o600)

	m, err := s.Pull(ctx, url, PullOptions{SHA256: sha(content)})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(m.Path); sha(got) != sha(content) {
		t.Error("restarted pull holds the wrong bytes")
	}
	r2, _ := ms.ranges.Load(int64(2))
	r3, _ := ms.ranges.Load(int64(3))
	if n := ms.requests.Load(); n != 3 || r2 == "" || r3 != "" {
		t.Errorf("%d requests, ranges %q then %q; want a refused resume, then a fresh GET", n, r2, r3)
	}
}
