package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/engine/enginetest"
)

// validBodies are accepted bodies for every operation that takes one; the
// bad-input test breaks one thing at a time.
var validBodies = map[string]map[string]any{
	"bootstrap":       {"token": strings.Repeat("t", 30), "name": "zed"},
	"createUser":      {"name": "bob"},
	"updateUser":      {"disabled": false},
	"setLimits":       {"tokens_per_day": 5, "requests_per_minute": 5},
	"createKey":       {"name": "spare"},
	"pullModel":       {"source": "https://example.invalid/m.gguf"},
	"addRelease":      {"version": "v1.2.3", "sha256": strings.Repeat("ab", 32)},
	"addCosignatures": {"checkpoint": "silo.log/x\n1\n" + strings.Repeat("A", 43) + "=\n\n— silo.log/x AAAA\n"},
	// Sealing keys (keys_api_test.go): a public key, never a private one.
	"registerDevice":  {"name": "laptop", "recipient": testRecipient},
	"setAdminKey":     {"recipient": testRecipient},
	"createBackupKey": {"name": "vault", "recipient": testRecipient},
	"resealMessage":   {"message_id": "0193a5f2-1111-7000-8000-000000000001", "version": 1, "sealed": "YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==", "recipients": []string{testFingerprint}},
	// Identity (auth_api_test.go): spec-valid answers that no ceremony asked for.
	"finishPasskeyRegistration": {"name": "phone", "credential": fakeAttestation},
	"beginLogin":                {"name": "alice"},
	"finishLogin":               {"credential": fakeAssertion},
	"confirmTOTP":               {"code": "123456"},
	"setAuthPolicy":             {"totp_required": "none", "allowed_email_domains": []string{"example.com"}},
	"createInvitation":          {"email": "new@example.com", "role": "user"},
	"beginAcceptInvitation":     {"token": "inv-silo-" + strings.Repeat("x", 43), "name": "newbie"},
	"finishAcceptInvitation":    {"token": "inv-silo-" + strings.Repeat("x", 43), "credential": fakeAttestation},
}

// stringField is the client string field of each body to abuse.
var stringField = map[string]string{
	"bootstrap":       "name",
	"createUser":      "name",
	"updateUser":      "email",
	"setLimits":       "tokens_per_day",
	"createKey":       "name",
	"pullModel":       "source",
	"addCosignatures": "checkpoint",
	"addRelease":      "sha256", // a version is any printable label
	// Sealing keys (keys_api_test.go).
	"registerDevice":  "recipient",
	"setAdminKey":     "recipient",
	"createBackupKey": "name",
	"resealMessage":   "message_id",
	// Identity (auth_api_test.go).
	"finishPasskeyRegistration": "name",
	"beginLogin":                "name",
	"finishLogin":               "totp_code",
	"confirmTOTP":               "code",
	"setAuthPolicy":             "totp_required",
	"createInvitation":          "email",
	"beginAcceptInvitation":     "token",
	"finishAcceptInvitation":    "token",
}

// snapshot captures everything an API call could change.
func (h *harness) snapshot() string {
	h.t.Helper()
	ctx := context.Background()
	users, err := h.st.ListUsers(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	keys, err := h.st.ListAPIKeys(ctx, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	var limits []any
	for _, u := range users {
		l, err := h.st.GetLimits(ctx, u.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		limits = append(limits, *l)
	}
	audit, err := h.st.ListAudit(ctx, 0, 10000)
	if err != nil {
		h.t.Fatal(err)
	}
	for i := range keys {
		keys[i].LastUsedAt = nil // authentication touches it
	}
	b, _ := json.Marshal([]any{users, keys, limits, len(audit)})
	return string(b)
}

func with(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// TestSpecBadInputs sends bad input to every operation of the spec: each
// gets 400 problem+json and the store is unchanged.
func TestSpecBadInputs(t *testing.T) {
	h := newHarness(t)
	ops := h.srv.Spec().Operations()
	if len(ops) < 16 {
		t.Fatalf("spec has %d operations; want them all walked", len(ops))
	}
	for _, op := range ops {
		t.Run(op.ID, func(t *testing.T) {
			type badCase struct {
				name string
				path string
				body any
			}
			path := strings.ReplaceAll(op.Path, "{id}", h.userID.String())
			path = strings.ReplaceAll(path, "{name}", "tiny")
			var cases []badCase
			if strings.Contains(op.Path, "{id}") {
				for name, id := range map[string]string{
					"bad uuid":       "not-a-uuid",
					"path traversal": "..%2F..%2Fetc%2Fpasswd",
					"over-long":      strings.Repeat("a", 5000),
					"uppercase uuid": strings.ToUpper(uuid.NewString()),
				} {
					var body any
					if op.Body {
						body = validBodies[op.ID]
					}
					cases = append(cases, badCase{name, strings.ReplaceAll(op.Path, "{id}", id), body})
				}
			}
			if op.Body {
				valid := validBodies[op.ID]
				if valid == nil {
					t.Fatalf("no valid body known for %s: add it to validBodies", op.ID)
				}
				f := stringField[op.ID]
				cases = append(cases,
					badCase{"unknown field", path, with(valid, "is_admin", true)},
					badCase{"path traversal name", path, with(valid, f, "../../etc/passwd")},
					badCase{"over-long string", path, with(valid, f, strings.Repeat("x", 5000))},
					badCase{"malformed json", path, `{"name": `},
					badCase{"not an object", path, `["a"]`},
				)
			}
			cases = append(cases, badCase{"unknown query parameter", path + "?debug=1", validBodies[op.ID]})
			for _, q := range op.Query {
				cases = append(cases,
					badCase{"bad " + q, path + "?" + q + "=..%2F..%2Fetc%2Fpasswd", nil},
					badCase{"over-long " + q, path + "?" + q + "=" + strings.Repeat("9", 5000), nil})
			}
			for _, c := range cases {
				before := h.snapshot()
				var body any
				if c.body != nil {
					body = c.body
				}
				code, b := h.do(op.Method, c.path, h.adminKey, body)
				if code != http.StatusBadRequest {
					t.Errorf("%s: %s %s: status %d, want 400: %s", c.name, op.Method, c.path, code, b)
				}
				if diff := cmp.Diff(before, h.snapshot()); diff != "" {
					t.Errorf("%s: store changed:\n%s", c.name, diff)
				}
			}
		})
	}
}

// TestAuthorization walks every operation of the spec as anonymous, user
// and admin, and checks each status against this table.
func TestAuthorization(t *testing.T) {
	type want struct{ anon, user, admin int }
	table := map[string]want{
		"bootstrap":   {409, 409, 409}, // an admin exists: closed for everyone
		"getMe":       {401, 200, 200},
		"listUsers":   {401, 403, 200},
		"createUser":  {401, 403, 201},
		"getUser":     {401, 403, 200}, // target: the admin
		"updateUser":  {401, 403, 200}, // target: alice
		"deleteUser":  {401, 403, 204}, // target: alice
		"getLimits":   {401, 403, 200}, // target: the admin
		"setLimits":   {401, 403, 200}, // target: alice
		"listKeys":    {401, 200, 200},
		"createKey":   {401, 201, 201},
		"revokeKey":   {401, 404, 204}, // target: the admin's key; users don't learn it exists
		"getUsage":    {401, 200, 200},
		"listAudit":   {401, 403, 200},
		"verifyAudit": {401, 403, 200},
		"listModels":  {401, 200, 200},
		// Models: the harness has no models directory (models_api_test.go has one).
		"getModel":        {401, 404, 404},
		"deleteModel":     {401, 403, 404},
		"pullModel":       {401, 403, 404},
		"addCosignatures": {401, 403, 404}, // no certificate log in the harness
		"addRelease":      {401, 403, 404},
		// Public; without its nonce (attestation_test.go asks with one).
		"getAttestation": {400, 400, 400},
		// Sealing keys and conversations (targets: sealedTarget).
		"listDevices":        {401, 200, 200},
		"registerDevice":     {401, 201, 409}, // the user registered this public key first
		"revokeDevice":       {401, 404, 204}, // target: the admin's device; users don't learn it exists
		"getAdminKey":        {401, 404, 404}, // not set in the harness
		"setAdminKey":        {401, 403, 201},
		"revokeAdminKey":     {401, 403, 404}, // none set (TestReplaceAdminKey revokes one)
		"listBackupKeys":     {401, 200, 200},
		"createBackupKey":    {401, 403, 201},
		"revokeBackupKey":    {401, 403, 204},
		"listConversations":  {401, 200, 200},
		"createConversation": {401, 201, 201},
		"getConversation":    {401, 404, 200}, // target: the admin's conversation
		"deleteConversation": {401, 404, 204},
		"listMessages":       {401, 404, 200},
		"resealMessage":      {401, 403, 404}, // no such message in the admin's conversation
		"getServerKey":       {401, 200, 200},
		// Identity (auth_api_test.go): the bodies are answers no ceremony
		// asked for; invitation tokens that were never issued.
		"listPasskeys":              {401, 200, 200},
		"deletePasskey":             {401, 404, 404}, // target: alice's user ID, no passkey
		"resetTOTP":                 {401, 403, 404}, // target: alice, who has no TOTP
		"beginPasskeyRegistration":  {401, 200, 200},
		"finishPasskeyRegistration": {401, 400, 400},
		"listSessions":              {401, 200, 200},
		"beginLogin":                {200, 200, 200},
		"finishLogin":               {401, 401, 401},
		"logout":                    {401, 204, 204},
		"logoutAll":                 {401, 204, 204},
		"enrollTOTP":                {401, 201, 201},
		"confirmTOTP":               {401, 409, 409}, // nothing enrolled
		"getAuthPolicy":             {401, 403, 200},
		"setAuthPolicy":             {401, 403, 200},
		"listInvitations":           {401, 403, 200},
		"createInvitation":          {401, 403, 201},
		"beginAcceptInvitation":     {403, 403, 403},
		"finishAcceptInvitation":    {403, 403, 403},
	}
	spec := newHarness(t).srv.Spec().Operations()
	if len(spec) != len(table) {
		t.Errorf("spec has %d operations, table %d: keep them in step", len(spec), len(table))
	}
	for _, op := range spec {
		w, ok := table[op.ID]
		if !ok {
			t.Errorf("operation %s is not in the authorization table", op.ID)
			continue
		}
		t.Run(op.ID, func(t *testing.T) {
			h := newHarness(t)
			var adminKeys struct {
				Keys []struct{ ID string } `json:"keys"`
			}
			h.mustJSON("GET", "/api/v1/keys", h.adminKey, nil, 200, &adminKeys)
			target := map[string]string{
				"getUser": h.adminID.String(), "getLimits": h.adminID.String(),
				"updateUser": h.userID.String(), "deleteUser": h.userID.String(), "setLimits": h.userID.String(),
				"revokeKey":     adminKeys.Keys[0].ID,
				"deletePasskey": h.userID.String(), "resetTOTP": h.userID.String(),
			}[op.ID]
			if st := sealedTarget(h, op.ID); st != "" {
				target = st
			}
			path := strings.ReplaceAll(op.Path, "{id}", target)
			path = strings.ReplaceAll(path, "{name}", "tiny")
			for _, r := range []struct {
				role string
				key  string
				want int
			}{{"anonymous", "", w.anon}, {"user", h.userKey, w.user}, {"admin", h.adminKey, w.admin}} {
				var body any
				if op.Body {
					body = validBodies[op.ID]
				}
				code, b := h.do(op.Method, path, r.key, body)
				if code != r.want {
					t.Errorf("%s as %s: status %d, want %d: %s", op.ID, r.role, code, r.want, b)
				}
			}
		})
	}
}

// TestV1Authorization: /v1 needs a key like everything else, and answers
// in OpenAI's error shape.
func TestV1Authorization(t *testing.T) {
	h := newHarness(t)
	chat := map[string]any{"model": enginetest.DefaultModel, "messages": []map[string]string{{"role": "user", "content": "hi there"}}}
	for _, ep := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/models", nil},
		{"POST", "/v1/chat/completions", chat},
		{"POST", "/v1/completions", map[string]any{"model": enginetest.DefaultModel, "prompt": "hi there"}},
		{"POST", "/v1/embeddings", map[string]any{"model": enginetest.DefaultModel, "input": "hi there"}},
	} {
		for _, key := range []string{"", "sk-silo-wrong", "Bearer"} {
			code, b := h.do(ep.method, ep.path, key, ep.body)
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if code != 401 || json.Unmarshal(b, &e) != nil || e.Error.Code == nil || *e.Error.Code != "invalid_api_key" {
				t.Errorf("%s %s with key %q: %d %s, want 401 invalid_api_key", ep.method, ep.path, key, code, b)
			}
		}
		for _, key := range []string{h.userKey, h.adminKey} {
			if code, b := h.do(ep.method, ep.path, key, ep.body); code != 200 {
				t.Errorf("%s %s: %d %s", ep.method, ep.path, code, b)
			}
		}
	}
	// A revoked key stops working at once.
	h.mustJSON("DELETE", "/api/v1/keys/"+h.userKeyID.String(), h.userKey, nil, 204, nil)
	if code, _ := h.do("GET", "/v1/models", h.userKey, nil); code != 401 {
		t.Errorf("revoked key: %d, want 401", code)
	}
}

func TestPublicRoutes(t *testing.T) {
	h := newHarness(t)
	for _, p := range []string{"/healthz", "/readyz", "/", "/api/v1/openapi.yaml", "/api/v1/ui/", "/api/v1/ui/swagger-ui-bundle.js"} {
		if code, b := h.do("GET", p, "", nil); code != 200 {
			t.Errorf("GET %s: %d %.200s", p, code, b)
		}
	}
	for _, p := range []string{"/nope", "/api/v1/nope", "/v1/nope"} {
		if code, _ := h.do("GET", p, "", nil); code != 401 {
			t.Errorf("GET %s anonymous: %d, want 401 (no route is open by accident)", p, code)
		}
		if code, _ := h.do("GET", p, h.userKey, nil); code != 404 {
			t.Errorf("GET %s: want 404", p)
		}
	}
}

func TestMetricsLoopbackOnly(t *testing.T) {
	h := newHarness(t)
	h.do("GET", "/v1/models", h.userKey, nil)
	code, b := h.do("GET", "/metrics", "", nil)
	if code != 200 || !strings.Contains(string(b), `silo_http_requests_total{code="200",method="GET",route="GET /v1/models"}`) {
		t.Fatalf("metrics from loopback: %d\n%s", code, grepLines(string(b), "silo_"))
	}
	// From another address, without the token: refused.
	req, _ := http.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	rec := newRecorder()
	h.srv.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("metrics from a remote address: %d, want 401", rec.Code)
	}
}

func TestBootstrapOnce(t *testing.T) {
	h := newHarness(t)
	code, b := h.do("POST", "/api/v1/bootstrap", "", map[string]string{"token": strings.Repeat("a", 43), "name": "eve"})
	if code != 409 {
		t.Errorf("second bootstrap: %d %s", code, b)
	}
	if got := fmt.Sprint(len(h.snapshot()) > 0); got != "true" {
		t.Fatal("snapshot empty")
	}
}
