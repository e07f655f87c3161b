package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/provenance"
	"github.com/silo-ai/silo/internal/server"
	"github.com/silo-ai/silo/internal/store/sqlite"
	"github.com/silo-ai/silo/internal/tlog"
)

func modelKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo server models test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// modelsHarness is a server whose built-in engine serves a models directory
// holding "tiny", under a 2-of-2 enforce policy (alice and bob), with the
// certificate log served under /log/.
type modelsHarness struct {
	*harness
	store *models.Store
	log   *models.CertLog
	path  string
	sum   string
}

func newModelsHarness(t *testing.T) *modelsHarness {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	ms, err := models.Open(filepath.Join(dir, "models"), dir)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(ms.Dir(), 0o755)
	path := filepath.Join(ms.Dir(), "tiny.gguf")
	if err := genmodel.WriteFile(path, genmodel.Options{Type: ggml.Q8_0, Hidden: 64, Heads: 4, KVHeads: 2,
		FFN: 128, Layers: 1, Context: 64, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	sum, err := ms.Digest("tiny")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := provenance.ParsePolicy([]byte(fmt.Sprintf(`{"mode":"enforce","keys":{"alice":%q,"bob":%q},
		"rules":[{"models":"*","keys":["alice","bob"],"threshold":2,"log":{"required":true}}]}`,
		provenance.FormatPublicKey(modelKey("alice").Public().(ed25519.PublicKey)),
		provenance.FormatPublicKey(modelKey("bob").Public().(ed25519.PublicKey)))))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := models.OpenCertLog(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	quiet := slog.New(slog.DiscardHandler)
	checker := &models.Checker{Policy: pol, Digests: ms.Digests(), Evidence: cl.Evidence, Log: quiet}
	b, err := builtin.New(builtin.Options{Dir: ms.Dir(), Verify: checker.Verify, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	sched := engine.NewScheduler(engine.NewRouter(b), engine.SchedulerConfig{})
	t.Cleanup(func() { sched.Close() })
	st, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv, err := server.New(server.Options{Store: st, Engine: sched, Log: quiet,
		Models: ms, Trust: checker, CertLog: cl})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, st: st, srv: srv, ts: ts}
	token, err := identity.EnsureBootstrapToken(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		Key struct{ Secret string } `json:"key"`
	}
	h.mustJSON("POST", "/api/v1/bootstrap", "", map[string]string{"token": token, "name": "root"}, 201, &boot)
	h.adminKey = boot.Key.Secret
	var u struct{ ID string }
	h.mustJSON("POST", "/api/v1/users", h.adminKey, map[string]string{"name": "alice"}, 201, &u)
	var k struct {
		Secret string `json:"secret"`
	}
	h.mustJSON("POST", "/api/v1/keys", h.adminKey, map[string]string{"name": "alice laptop", "user_id": u.ID}, 201, &k)
	h.userKey = k.Secret
	return &modelsHarness{harness: h, store: ms, log: cl, path: path, sum: sum}
}

func (h *modelsHarness) certify(keys ...ed25519.PrivateKey) []byte {
	h.t.Helper()
	st, err := provenance.NewModelStatement(provenance.ModelInfo{Files: map[string]string{"tiny.gguf": h.sum},
		BuilderID: "https://example.com/trainer"})
	if err != nil {
		h.t.Fatal(err)
	}
	env, _ := provenance.NewEnvelope(st)
	for _, k := range keys {
		env.Sign(provenance.Ed25519Signer{Key: k})
	}
	b, _ := json.Marshal(env)
	if err := os.WriteFile(models.CertPath(h.path), b, 0o644); err != nil {
		h.t.Fatal(err)
	}
	return b
}

type listedModel struct {
	ID     string `json:"id"`
	Served bool   `json:"served"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

func (h *modelsHarness) listed() listedModel {
	h.t.Helper()
	var out struct{ Models []listedModel }
	h.mustJSON("GET", "/api/v1/models", h.userKey, nil, 200, &out)
	if len(out.Models) != 1 {
		h.t.Fatalf("models = %+v", out.Models)
	}
	return out.Models[0]
}

func (h *modelsHarness) chat() (int, string) {
	code, b := h.do("POST", "/v1/chat/completions", h.userKey, map[string]any{"model": "tiny", "max_tokens": 2,
		"messages": []map[string]string{{"role": "user", "content": "hi"}}})
	return code, string(b)
}

// TestServeRefusesUnderTwoOfTwo: under a 2-of-2 policy the server refuses a
// model with one valid signature (not listed as served, 404 on /v1, the
// reason in /api/v1/models), and serves it with two.
func TestServeRefusesUnderTwoOfTwo(t *testing.T) {
	h := newModelsHarness(t)
	h.certify(modelKey("alice"))
	m := h.listed()
	if m.Served || m.Status != "refused" || !strings.Contains(m.Reason, "signature") {
		t.Errorf("one signature: %+v", m)
	}
	if code, b := h.chat(); code != 404 {
		t.Errorf("one signature: chat %d %s, want 404", code, b)
	}
	var v1 struct{ Data []struct{ ID string } }
	h.mustJSON("GET", "/v1/models", h.userKey, nil, 200, &v1)
	if len(v1.Data) != 0 {
		t.Errorf("/v1/models lists a refused model: %+v", v1.Data)
	}

	h.certify(modelKey("alice"), modelKey("mallory"))
	if m := h.listed(); m.Served || m.Status != "refused" {
		t.Errorf("untrusted second signature: %+v", m)
	}

	env := h.certify(modelKey("alice"), modelKey("bob"))
	if m := h.listed(); !m.Served || m.Status != "verified" {
		t.Errorf("two signatures: %+v", m)
	}
	if code, b := h.chat(); code != 200 {
		t.Errorf("two signatures: chat %d %s", code, b)
	}

	// Details: digest, metadata, the statement, and the log inclusion,
	// which checks with sumdb/tlog against the checkpoint served at /log/.
	var d struct {
		SHA256      string
		Status      string
		Signers     []string
		Metadata    map[string]any
		Certificate struct {
			Subject []struct{ Digest map[string]string }
		}
		Log *struct {
			Index      int64  `json:"index"`
			TreeSize   int64  `json:"tree_size"`
			Checkpoint string `json:"checkpoint"`
		}
	}
	h.mustJSON("GET", "/api/v1/models/tiny", h.userKey, nil, 200, &d)
	if d.SHA256 != h.sum || d.Status != "verified" || len(d.Signers) != 2 || d.Metadata["general.architecture"] != "llama" ||
		len(d.Certificate.Subject) != 1 || d.Certificate.Subject[0].Digest["sha256"] != h.sum || d.Log == nil {
		t.Fatalf("details: %+v", d)
	}
	resp, err := http.Get(h.ts.URL + "/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	cpBytes, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("anonymous GET /log/checkpoint: %d", resp.StatusCode)
	}
	cp, err := tlog.ParseCheckpoint(cpBytes[:strings.Index(string(cpBytes), "\n\n")+1])
	if err != nil {
		t.Fatal(err)
	}
	rp, err := h.log.Log().InclusionProof(d.Log.Index, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := sumtlog.CheckRecord(rp, cp.Size, cp.Hash, d.Log.Index, sumtlog.RecordHash(env)); err != nil {
		t.Errorf("certificate inclusion does not verify: %v", err)
	}
}

func TestModelsAPIDeleteAndNames(t *testing.T) {
	h := newModelsHarness(t)
	h.certify(modelKey("alice"), modelKey("bob"))
	if code, _ := h.do("DELETE", "/api/v1/models/tiny", h.userKey, nil); code != 403 {
		t.Errorf("user delete: %d, want 403", code)
	}
	for _, p := range []string{"/api/v1/models/..%2F..%2Fetc%2Fpasswd", "/api/v1/models/.hidden", "/api/v1/models/" + strings.Repeat("a", 200)} {
		if code, _ := h.do("GET", p, h.userKey, nil); code != 400 {
			t.Errorf("GET %s: %d, want 400", p, code)
		}
	}
	if code, _ := h.do("GET", "/api/v1/models/nosuch", h.userKey, nil); code != 404 {
		t.Errorf("unknown model: %d, want 404", code)
	}
	if code, b := h.do("DELETE", "/api/v1/models/tiny", h.adminKey, nil); code != 204 {
		t.Fatalf("admin delete: %d %s", code, b)
	}
	if _, err := os.Stat(h.path); !os.IsNotExist(err) {
		t.Error("model file still there")
	}
	if _, err := os.Stat(models.CertPath(h.path)); !os.IsNotExist(err) {
		t.Error("certificate still there")
	}
	if code, _ := h.do("DELETE", "/api/v1/models/tiny", h.adminKey, nil); code != 404 {
		t.Errorf("second delete: %d, want 404", code)
	}
}

func TestLogRoutesPublicReadOnly(t *testing.T) {
	h := newModelsHarness(t)
	env := h.certify(modelKey("alice"), modelKey("bob"))
	h.listed() // the server logs the certificate when it checks the model
	get := func(p string) (int, []byte, http.Header) {
		resp, err := http.Get(h.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header
	}
	code, key, _ := get("/log/key")
	if code != 200 || !strings.HasPrefix(string(key), h.log.Origin()+"+") {
		t.Errorf("/log/key: %d %q", code, key)
	}
	code, b, hdr := get("/log/tile/entries/000.p/1")
	if code != 200 || hdr.Get("Cache-Control") != "no-cache" {
		t.Fatalf("entry bundle: %d %v", code, hdr)
	}
	recs, err := tlog.ParseEntryBundle(b)
	if err != nil || len(recs) != 1 || string(recs[0]) != string(env) {
		t.Errorf("entry bundle holds %d records, %v", len(recs), err)
	}
	if code, _, _ := get("/log/tile/0/999"); code != 404 {
		t.Errorf("tile beyond the log: %d", code)
	}
	if code, _, _ := get("/log/tile/x/../../etc"); code != 400 && code != 404 {
		t.Errorf("malformed tile path: %d", code)
	}
	req, _ := http.NewRequest("POST", h.ts.URL+"/log/checkpoint", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("anonymous POST /log/checkpoint: %d, want 401", resp.StatusCode)
	}
}

// TestPullModelAPI: an admin pulls a generated model over HTTP on loopback;
// progress arrives as server-sent events, then the outcome. A flipped byte
// is refused and leaves nothing.
func TestPullModelAPI(t *testing.T) {
	h := newModelsHarness(t)
	content, err := os.ReadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := content
		if strings.Contains(r.URL.Path, "bad") {
			b = append([]byte(nil), content...)
			b[len(b)/2] ^= 1
		}
		http.ServeContent(w, r, "m.gguf", time.Unix(1e9, 0), bytes.NewReader(b))
	}))
	defer origin.Close()

	body := map[string]any{"source": origin.URL + "/files/copy.gguf", "sha256": h.sum}
	if code, _ := h.do("POST", "/api/v1/models/pull", h.userKey, body); code != 403 {
		t.Errorf("user pull: %d, want 403", code)
	}
	code, b := h.do("POST", "/api/v1/models/pull", h.adminKey, body)
	if code != 200 || !strings.Contains(string(b), "event: progress\ndata: {\"done\":") ||
		!strings.Contains(string(b), "event: done\ndata: {\"name\":\"copy\"") || !strings.Contains(string(b), h.sum) {
		t.Fatalf("pull: %d\n%s", code, b)
	}
	var d struct{ SHA256 string }
	h.mustJSON("GET", "/api/v1/models/copy", h.userKey, nil, 200, &d)
	if d.SHA256 != h.sum {
		t.Errorf("pulled model digest %s", d.SHA256)
	}
	if code, _ := h.do("POST", "/api/v1/models/pull", h.adminKey, body); code != 409 {
		t.Errorf("pull over an existing model: %d, want 409", code)
	}

	code, b = h.do("POST", "/api/v1/models/pull", h.adminKey, map[string]any{"source": origin.URL + "/bad.gguf", "sha256": h.sum})
	if code != 200 || !strings.Contains(string(b), "event: error") || !strings.Contains(string(b), "does not match the expected sha256") {
		t.Errorf("flipped byte: %d\n%s", code, b)
	}
	if code, _ := h.do("GET", "/api/v1/models/bad", h.userKey, nil); code != 404 {
		t.Errorf("a refused pull left a model: %d", code)
	}
	for _, src := range []string{"file:///etc/passwd", "../../etc/passwd", "hf://org"} {
		if code, _ := h.do("POST", "/api/v1/models/pull", h.adminKey, map[string]any{"source": src}); code != 400 {
			t.Errorf("source %q: %d, want 400", src, code)
		}
	}
}

// TestOllamaDescribesStoreModels: the Ollama subset lists a model of the
// built-in engine with what the store knows of its file (size, family,
// parameters, type; the digest once silo has hashed the settled file),
// and /api/show carries its GGUF metadata.
func TestOllamaDescribesStoreModels(t *testing.T) {
	h := newModelsHarness(t)
	h.certify(modelKey("alice"), modelKey("bob"))
	fi, err := os.Stat(h.path)
	if err != nil {
		t.Fatal(err)
	}
	type tags struct {
		Models []struct {
			Name    string `json:"name"`
			Size    int64  `json:"size"`
			Digest  string `json:"digest"`
			Details struct {
				Format            string   `json:"format"`
				Family            string   `json:"family"`
				Families          []string `json:"families"`
				ParameterSize     string   `json:"parameter_size"`
				QuantizationLevel string   `json:"quantization_level"`
			} `json:"details"`
		} `json:"models"`
	}
	var tg tags
	h.mustJSON("GET", "/api/tags", h.userKey, nil, 200, &tg)
	if len(tg.Models) != 1 {
		t.Fatalf("tags %+v", tg)
	}
	m := tg.Models[0]
	if m.Name != "tiny" || m.Size != fi.Size() || m.Details.Format != "gguf" || m.Details.Family != "llama" ||
		len(m.Details.Families) != 1 || m.Details.QuantizationLevel != "Q8_0" || !regexp.MustCompile(`^\d+(\.\d)?[KMB]$`).MatchString(m.Details.ParameterSize) {
		t.Errorf("tags entry %+v", m)
	}
	// The file was written a moment ago: a listing does not hash it, and
	// the cache does not keep digests of files that may still change.
	if m.Digest != "" && m.Digest != h.sum {
		t.Errorf("digest %s, want %s or none yet", m.Digest, h.sum)
	}
	// Once the file has settled, a detail view hashes it and the listing
	// gives the digest.
	time.Sleep(2100 * time.Millisecond)
	var d struct{ SHA256 string }
	h.mustJSON("GET", "/api/v1/models/tiny", h.userKey, nil, 200, &d)
	h.mustJSON("GET", "/api/tags", h.userKey, nil, 200, &tg)
	if d.SHA256 != h.sum || tg.Models[0].Digest != h.sum {
		t.Errorf("digest after settling: tags %q, details %q, want %s", tg.Models[0].Digest, d.SHA256, h.sum)
	}
	var show struct {
		Details   map[string]any `json:"details"`
		ModelInfo map[string]any `json:"model_info"`
	}
	h.mustJSON("POST", "/api/show", h.userKey, map[string]string{"model": "tiny"}, 200, &show)
	if show.ModelInfo["general.architecture"] != "llama" || show.Details["quantization_level"] != "Q8_0" {
		t.Errorf("show %+v", show)
	}
}
