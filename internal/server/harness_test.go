package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/engine/enginetest"
	"github.com/silo-ai/silo/internal/engine/upstream"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/server"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

// harness is a silo server in front of the upstream double, with a
// bootstrapped admin and one ordinary user, each with an API key.
type harness struct {
	t         *testing.T
	st        store.Store
	srv       *server.Server
	ts        *httptest.Server
	up        *enginetest.Upstream
	adminKey  string
	userKey   string
	adminID   uuid.UUID
	userID    uuid.UUID
	userKeyID uuid.UUID
}

type harnessOpts struct {
	limits engine.Limits
	// modelsDir, when set, puts the built-in engine over it in front of
	// the upstream pool.
	modelsDir string
	// attest and tlsKey are server.Options.Attest and TLSKey.
	attest server.Attester
	tlsKey [32]byte
}

func newHarness(t *testing.T, o ...harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	up := enginetest.NewUpstream(t)
	pool, err := upstream.New(upstream.Config{Backends: []upstream.Backend{{Name: "double", URL: up.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	var opts harnessOpts
	if len(o) > 0 {
		opts = o[0]
	}
	engines := []engine.Engine{pool}
	if opts.modelsDir != "" {
		b, err := builtin.New(builtin.Options{Dir: opts.modelsDir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		engines = append([]engine.Engine{b}, engines...)
	}
	sched := engine.NewScheduler(engine.NewRouter(engines...), engine.SchedulerConfig{Limits: opts.limits})
	t.Cleanup(func() { sched.Close() })
	srv, err := server.New(server.Options{Store: st, Engine: sched, Log: slog.New(slog.DiscardHandler), Attest: opts.attest, TLSKey: opts.tlsKey})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	h := &harness{t: t, st: st, srv: srv, ts: ts, up: up}

	token, err := identity.EnsureBootstrapToken(ctx, st)
	if err != nil || token == "" {
		t.Fatalf("bootstrap token: %q, %v", token, err)
	}
	var boot struct {
		User struct{ ID uuid.UUID }  `json:"user"`
		Key  struct{ Secret string } `json:"key"`
	}
	h.mustJSON("POST", "/api/v1/bootstrap", "", map[string]string{"token": token, "name": "root"}, 201, &boot)
	h.adminKey, h.adminID = boot.Key.Secret, boot.User.ID
	var u struct{ ID uuid.UUID }
	h.mustJSON("POST", "/api/v1/users", h.adminKey, map[string]string{"name": "alice"}, 201, &u)
	h.userID = u.ID
	var k struct {
		Key    struct{ ID uuid.UUID } `json:"key"`
		Secret string                 `json:"secret"`
	}
	h.mustJSON("POST", "/api/v1/keys", h.adminKey, map[string]string{"name": "alice laptop", "user_id": u.ID.String()}, 201, &k)
	h.userKey, h.userKeyID = k.Secret, k.Key.ID
	return h
}

// do sends a request and returns the status and body. Every /api/v1 answer
// is validated against the spec.
func (h *harness) do(method, path, key string, body any) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	var raw []byte
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
	default:
		raw, _ = json.Marshal(b)
	}
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if raw != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	if strings.HasPrefix(path, "/api/v1/") && !strings.HasPrefix(path, "/api/v1/ui") && path != "/api/v1/openapi.yaml" && !strings.Contains(path, "/nope") {
		h.checkResponse(method, path, raw, resp, out)
	}
	return resp.StatusCode, out
}

// checkResponse validates an answer against the spec, and checks that
// every error is problem+json with a stable type.
func (h *harness) checkResponse(method, path string, reqBody []byte, resp *http.Response, body []byte) {
	h.t.Helper()
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			h.t.Errorf("%s %s: %d with Content-Type %q, want application/problem+json", method, path, resp.StatusCode, ct)
		}
		var p struct {
			Type   string `json:"type"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(body, &p); err != nil || !strings.HasPrefix(p.Type, "urn:silo:problem:") || p.Status != resp.StatusCode {
			h.t.Errorf("%s %s: bad problem body %s", method, path, body)
		}
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(reqBody))
	if reqBody != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	vr := &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(body)), Request: req}
	if err := h.srv.Spec().ValidateResponse(req, vr); err != nil {
		h.t.Errorf("%s %s -> %d: %v\nbody: %s", method, path, resp.StatusCode, err, body)
	}
}

func (h *harness) mustJSON(method, path, key string, body any, want int, out any) {
	h.t.Helper()
	code, b := h.do(method, path, key, body)
	if code != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			h.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}
