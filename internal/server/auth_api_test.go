package server_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/store"
)

// Spec-valid WebAuthn answers that no ceremony asked for (api_test.go).
var (
	fakeAttestation = map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key",
		"response": map[string]any{"clientDataJSON": "e30", "attestationObject": "oA"}}
	fakeAssertion = map[string]any{"id": "AAAA", "rawId": "AAAA", "type": "public-key",
		"response": map[string]any{"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"}}
)

// The harness server's relying party (server.Options.Passkeys unset).
const (
	testRPID   = "localhost"
	testOrigin = "https://localhost"
)

var b64 = base64.RawURLEncoding

// softKey is a software WebAuthn authenticator: one ECDSA P-256
// credential, "none" attestation, a sign counter, written by hand to the
// WebAuthn Level 2 byte layouts (so the server's library is checked against
// the spec, not against itself).
type softKey struct {
	t          *testing.T
	rpID       string
	origin     string
	id         []byte
	key        *ecdsa.PrivateKey
	userHandle []byte
	counter    uint32
	noUV       bool // answer without user verification
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &softKey{t: t, rpID: testRPID, origin: testOrigin, id: id, key: key}
}

// publicKey returns the options' publicKey member (challenge, user id).
func parseOptions(t *testing.T, raw []byte) (challenge string, userID []byte) {
	t.Helper()
	var o struct {
		Options struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
				User      struct {
					ID string `json:"id"`
				} `json:"user"`
			} `json:"publicKey"`
		} `json:"options"`
	}
	if err := json.Unmarshal(raw, &o); err != nil || o.Options.PublicKey.Challenge == "" {
		t.Fatalf("options: %v: %s", err, raw)
	}
	if o.Options.PublicKey.User.ID != "" {
		var err error
		if userID, err = b64.DecodeString(o.Options.PublicKey.User.ID); err != nil {
			t.Fatalf("user id: %v", err)
		}
	}
	return o.Options.PublicKey.Challenge, userID
}

func (k *softKey) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.origin, "crossOrigin": false})
	return b
}

// authData is rpIdHash | flags | signCount (| attested credential data).
func (k *softKey) authData(flags byte, attested []byte) []byte {
	h := sha256.Sum256([]byte(k.rpID))
	out := append(h[:], flags)
	out = binary.BigEndian.AppendUint32(out, k.counter)
	return append(out, attested...)
}

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

// create answers navigator.credentials.create options.
func (k *softKey) create(options []byte) map[string]any {
	k.t.Helper()
	challenge, userID := parseOptions(k.t, options)
	k.userHandle = userID
	x, y := k.key.X.FillBytes(make([]byte, 32)), k.key.Y.FillBytes(make([]byte, 32))
	cose, err := cbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: x, -3: y}) // EC2, ES256, P-256
	if err != nil {
		k.t.Fatal(err)
	}
	attested := make([]byte, 16) // AAGUID: zero
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), cose...)
	att, err := cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": k.authData(flagUP|flagUV|flagAT, attested)})
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(k.clientData("webauthn.create", challenge)),
			"attestationObject": b64.EncodeToString(att), "transports": []string{"internal"}}}
}

// get answers navigator.credentials.get options: it signs
// authenticatorData || SHA-256(clientDataJSON).
func (k *softKey) get(options []byte) map[string]any {
	k.t.Helper()
	challenge, _ := parseOptions(k.t, options)
	k.counter++
	cd := k.clientData("webauthn.get", challenge)
	flags := byte(flagUP | flagUV)
	if k.noUV {
		flags = flagUP
	}
	ad := k.authData(flags, nil)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return map[string]any{"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": map[string]any{"clientDataJSON": b64.EncodeToString(cd), "authenticatorData": b64.EncodeToString(ad),
			"signature": b64.EncodeToString(sig), "userHandle": b64.EncodeToString(k.userHandle)}}
}

// browser is a signed-in browser: the session cookie and CSRF token.
type browser struct {
	cookie string
	csrf   string
}

// doCookie sends a request as a browser would: the session cookie, and the
// CSRF header when csrf is set. /api/v1 answers are validated against the spec.
func (h *harness) doCookie(method, path string, b browser, body any) (int, []byte, *http.Response) {
	h.t.Helper()
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(raw))
	if err != nil {
		h.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.cookie != "" {
		req.AddCookie(&http.Cookie{Name: identity.SessionCookie, Value: b.cookie})
	}
	if b.csrf != "" {
		req.Header.Set(identity.CSRFHeader, b.csrf)
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
	if strings.HasPrefix(path, "/api/v1/") {
		h.checkResponse(method, path, raw, resp, out)
	}
	return resp.StatusCode, out, resp
}

// registerPasskey adds a new software passkey to the user of an API key.
func (h *harness) registerPasskey(key string) *softKey {
	h.t.Helper()
	k := newSoftKey(h.t)
	_, opts := h.do("POST", "/api/v1/passkeys/register/begin", key, nil)
	h.mustJSON("POST", "/api/v1/passkeys/register/finish", key, map[string]any{"name": "soft key", "credential": k.create(opts)}, 201, nil)
	return k
}

// login signs in with k (discoverable when name is empty) and returns the
// status, body and, on success, the browser.
func (h *harness) login(k *softKey, name, code string) (int, []byte, browser) {
	h.t.Helper()
	begin := map[string]any{}
	if name != "" {
		begin["name"] = name
	}
	code0, opts := h.do("POST", "/api/v1/sessions/login/begin", "", begin)
	if code0 != 200 {
		h.t.Fatalf("login begin: %d %s", code0, opts)
	}
	body := map[string]any{"credential": k.get(opts)}
	if code != "" {
		body["totp_code"] = code
	}
	return h.finishLogin(body)
}

func (h *harness) finishLogin(body any) (int, []byte, browser) {
	h.t.Helper()
	st, out, resp := h.doCookie("POST", "/api/v1/sessions/login/finish", browser{}, body)
	if st != 200 {
		return st, out, browser{}
	}
	return st, out, h.browserOf(out, resp)
}

// browserOf checks the session cookie's attributes and returns the browser.
func (h *harness) browserOf(out []byte, resp *http.Response) browser {
	h.t.Helper()
	var signed struct {
		CSRF string `json:"csrf_token"`
	}
	if err := json.Unmarshal(out, &signed); err != nil || signed.CSRF == "" {
		h.t.Fatalf("sign-in answer: %v: %s", err, out)
	}
	var c *http.Cookie
	for _, x := range resp.Cookies() {
		if x.Name == identity.SessionCookie {
			c = x
		}
	}
	if c == nil {
		h.t.Fatalf("no %s cookie in %v", identity.SessionCookie, resp.Header["Set-Cookie"])
	}
	if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		h.t.Errorf("session cookie attributes: %s", resp.Header.Get("Set-Cookie"))
	}
	if strings.Contains(string(out), c.Value) {
		h.t.Error("the session secret is in the answer body")
	}
	return browser{cookie: c.Value, csrf: signed.CSRF}
}

func (h *harness) wantProblem(status int, body []byte, want int, slug string) {
	h.t.Helper()
	if status != want || (slug != "" && !strings.Contains(string(body), `"urn:silo:problem:`+slug+`"`)) {
		h.t.Errorf("status %d %s, want %d %s", status, body, want, slug)
	}
}

// TestPasskeyRegisterAndLogin: a passkey registered by a signed-in user
// signs in, discoverable and by name; the session works on /api/v1 and
// /v1 and is listed.
func TestPasskeyRegisterAndLogin(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	var list struct {
		Passkeys []struct{ Name string } `json:"passkeys"`
	}
	h.mustJSON("GET", "/api/v1/passkeys", h.userKey, nil, 200, &list)
	if len(list.Passkeys) != 1 || list.Passkeys[0].Name != "soft key" {
		t.Fatalf("passkeys: %+v", list)
	}
	for _, name := range []string{"", "alice"} {
		st, out, b := h.login(k, name, "")
		if st != 200 {
			t.Fatalf("login (name %q): %d %s", name, st, out)
		}
		st, out, _ = h.doCookie("GET", "/api/v1/me", b, nil)
		if st != 200 || !strings.Contains(string(out), `"name":"alice"`) {
			t.Errorf("me with the session: %d %s", st, out)
		}
		if st, out, _ := h.doCookie("GET", "/v1/models", b, nil); st != 200 {
			t.Errorf("/v1/models with the session: %d %s", st, out)
		}
	}
	st, out, b := h.login(k, "", "")
	if st != 200 {
		t.Fatalf("login: %d %s", st, out)
	}
	var ss struct {
		Sessions []struct{ Current bool } `json:"sessions"`
	}
	_, out, _ = h.doCookie("GET", "/api/v1/sessions", b, nil)
	if err := json.Unmarshal(out, &ss); err != nil || len(ss.Sessions) != 3 {
		t.Fatalf("sessions: %v %s", err, out)
	}
	if current := ss.Sessions[2].Current; !current {
		t.Errorf("the newest session is not marked current: %s", out)
	}
	// The name of someone else does not let alice's passkey in.
	st, out, _ = h.login(k, "root", "")
	h.wantProblem(st, out, 401, "passkey-failed")

	// Alice cannot remove her only passkey; with a second one she can, and
	// an admin can remove a user's last one.
	var ids struct {
		Passkeys []struct{ ID string } `json:"passkeys"`
	}
	h.mustJSON("GET", "/api/v1/passkeys", h.userKey, nil, 200, &ids)
	st, out = h.do("DELETE", "/api/v1/passkeys/"+ids.Passkeys[0].ID, h.userKey, nil)
	h.wantProblem(st, out, 409, "conflict")
	h.registerPasskey(h.userKey)
	h.mustJSON("DELETE", "/api/v1/passkeys/"+ids.Passkeys[0].ID, h.userKey, nil, 204, nil)
	h.mustJSON("GET", "/api/v1/passkeys", h.userKey, nil, 200, &ids)
	h.mustJSON("DELETE", "/api/v1/passkeys/"+ids.Passkeys[0].ID, h.adminKey, nil, 204, nil)
}

// TestPasskeyRefused: wrong origin, wrong relying party, a replayed answer,
// a bad signature, an unknown credential and a cloned authenticator all
// fail, at registration and at sign-in.
func TestPasskeyRefused(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)

	t.Run("registration wrong origin", func(t *testing.T) {
		evil := newSoftKey(t)
		evil.origin = "https://evil.example"
		_, opts := h.do("POST", "/api/v1/passkeys/register/begin", h.userKey, nil)
		st, out := h.do("POST", "/api/v1/passkeys/register/finish", h.userKey, map[string]any{"credential": evil.create(opts)})
		h.wantProblem(st, out, 400, "passkey-failed")
	})
	t.Run("registration replayed", func(t *testing.T) {
		k2 := newSoftKey(t)
		_, opts := h.do("POST", "/api/v1/passkeys/register/begin", h.userKey, nil)
		answer := map[string]any{"credential": k2.create(opts)}
		h.mustJSON("POST", "/api/v1/passkeys/register/finish", h.userKey, answer, 201, nil)
		st, out := h.do("POST", "/api/v1/passkeys/register/finish", h.userKey, answer)
		h.wantProblem(st, out, 400, "passkey-failed")
	})
	t.Run("registration by another user", func(t *testing.T) {
		k3 := newSoftKey(t)
		_, opts := h.do("POST", "/api/v1/passkeys/register/begin", h.userKey, nil)
		st, out := h.do("POST", "/api/v1/passkeys/register/finish", h.adminKey, map[string]any{"credential": k3.create(opts)})
		h.wantProblem(st, out, 400, "passkey-failed")
	})

	loginWith := func(t *testing.T, mutate func(k *softKey, answer map[string]any)) (int, []byte) {
		t.Helper()
		_, opts := h.do("POST", "/api/v1/sessions/login/begin", "", map[string]any{})
		answer := k.get(opts)
		mutate(k, answer)
		st, out, _ := h.finishLogin(map[string]any{"credential": answer})
		return st, out
	}
	for _, c := range []struct {
		name   string
		mutate func(k *softKey, answer map[string]any)
	}{
		{"wrong origin", func(k *softKey, a map[string]any) {
			resp := a["response"].(map[string]any)
			cd, _ := b64.DecodeString(resp["clientDataJSON"].(string))
			resp["clientDataJSON"] = b64.EncodeToString(bytes.Replace(cd, []byte(testOrigin), []byte("https://evil.example"), 1))
		}},
		{"bad signature", func(k *softKey, a map[string]any) {
			resp := a["response"].(map[string]any)
			sig, _ := b64.DecodeString(resp["signature"].(string))
			sig[len(sig)-1] ^= 1
			resp["signature"] = b64.EncodeToString(sig)
		}},
		{"wrong relying party", func(k *softKey, a map[string]any) {
			resp := a["response"].(map[string]any)
			ad, _ := b64.DecodeString(resp["authenticatorData"].(string))
			other := sha256.Sum256([]byte("evil.example"))
			copy(ad, other[:]) // the signature no longer matches either; both must fail
			resp["authenticatorData"] = b64.EncodeToString(ad)
		}},
		{"unknown credential", func(k *softKey, a map[string]any) {
			a["id"], a["rawId"] = "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAA"
		}},
		{"unknown challenge", func(k *softKey, a map[string]any) {
			resp := a["response"].(map[string]any)
			cd, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": b64.EncodeToString(make([]byte, 32)), "origin": testOrigin})
			resp["clientDataJSON"] = b64.EncodeToString(cd)
		}},
	} {
		t.Run("login "+c.name, func(t *testing.T) {
			st, out := loginWith(t, c.mutate)
			h.wantProblem(st, out, 401, "passkey-failed")
		})
	}
	t.Run("login replayed", func(t *testing.T) {
		_, opts := h.do("POST", "/api/v1/sessions/login/begin", "", map[string]any{})
		body := map[string]any{"credential": k.get(opts)}
		if st, out, _ := h.finishLogin(body); st != 200 {
			t.Fatalf("first use: %d %s", st, out)
		}
		st, out, _ := h.finishLogin(body)
		h.wantProblem(st, out, 401, "passkey-failed")
	})
	t.Run("login without user verification", func(t *testing.T) {
		k.noUV = true
		defer func() { k.noUV = false }()
		st, out := loginWith(t, func(*softKey, map[string]any) {})
		h.wantProblem(st, out, 401, "passkey-failed")
	})
	t.Run("cloned authenticator", func(t *testing.T) {
		k.counter = 0 // the counter goes backwards: a copy of the key
		st, out := loginWith(t, func(*softKey, map[string]any) {})
		h.wantProblem(st, out, 401, "passkey-failed")
	})
	t.Run("expired ceremony", func(t *testing.T) {
		_, opts := h.do("POST", "/api/v1/sessions/login/begin", "", map[string]any{})
		challenge, _ := parseOptions(t, opts)
		sum := sha256.Sum256([]byte(challenge))
		// Take the ceremony out of the store and put it back expired.
		c, err := h.st.TakeChallenge(t.Context(), sum[:], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		c.ExpiresAt = time.Now().Add(-time.Second)
		if err := h.st.PutChallenge(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		k.counter = 100
		st, out, _ := h.finishLogin(map[string]any{"credential": k.get(opts)})
		h.wantProblem(st, out, 401, "passkey-failed")
	})
}

func (h *harness) setPolicy(totp string, domains ...string) {
	h.t.Helper()
	if domains == nil {
		domains = []string{}
	}
	h.mustJSON("PUT", "/api/v1/settings/auth", h.adminKey, map[string]any{"totp_required": totp, "allowed_email_domains": domains}, 200, nil)
}

// TestTOTPRequired: with TOTP required, a passkey alone gives a session
// that can only enroll TOTP; once enrolled, sign-in without the code
// fails, with a wrong or replayed code fails, and with a fresh code works.
func TestTOTPRequired(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	h.setPolicy(identity.TOTPEveryone)

	st, out, b := h.login(k, "", "")
	if st != 200 || !strings.Contains(string(out), `"restricted":true`) {
		t.Fatalf("login before enrollment: %d %s", st, out)
	}
	st, out, _ = h.doCookie("GET", "/api/v1/keys", b, nil)
	h.wantProblem(st, out, 403, "totp-enrollment-required")
	st, out, _ = h.doCookie("GET", "/v1/models", b, nil)
	if st != 403 {
		t.Errorf("/v1 with a restricted session: %d %s", st, out)
	}
	st, out, _ = h.doCookie("POST", "/api/v1/totp", b, nil)
	if st != 201 {
		t.Fatalf("enroll: %d %s", st, out)
	}
	var enr struct{ Secret, URL string }
	json.Unmarshal(out, &enr)
	if !strings.HasPrefix(enr.URL, "otpauth://totp/") {
		t.Errorf("otpauth URL: %q", enr.URL)
	}
	now := time.Now()
	code, err := identity.CodeAt(enr.Secret, now)
	if err != nil {
		t.Fatal(err)
	}
	st, out, _ = h.doCookie("POST", "/api/v1/totp/confirm", b, map[string]string{"code": wrongCode(code)})
	h.wantProblem(st, out, 400, "invalid-request")
	if st, out, _ = h.doCookie("POST", "/api/v1/totp/confirm", b, map[string]string{"code": code}); st != 204 {
		t.Fatalf("confirm: %d %s", st, out)
	}
	// The session that enrolled is a full session now.
	if st, out, _ = h.doCookie("GET", "/api/v1/keys", b, nil); st != 200 {
		t.Errorf("after confirmation: %d %s", st, out)
	}
	// A second enrollment does not replace the confirmed secret.
	st, out, _ = h.doCookie("POST", "/api/v1/totp", b, nil)
	h.wantProblem(st, out, 409, "conflict")

	st, out, _ = h.login(k, "", "")
	h.wantProblem(st, out, 401, "totp-required")
	st, out, _ = h.login(k, "", wrongCode(code))
	h.wantProblem(st, out, 401, "totp-invalid")
	st, out, _ = h.login(k, "", code) // spent by the confirmation
	h.wantProblem(st, out, 401, "totp-invalid")
	next, _ := identity.CodeAt(enr.Secret, now.Add(30*time.Second))
	st, out, b2 := h.login(k, "", next)
	if st != 200 || !strings.Contains(string(out), `"restricted":false`) {
		t.Fatalf("login with a fresh code: %d %s", st, out)
	}
	if st, out, _ = h.doCookie("GET", "/api/v1/keys", b2, nil); st != 200 {
		t.Errorf("full session: %d %s", st, out)
	}
}

func wrongCode(code string) string {
	return string(rune('0'+(code[0]-'0'+1)%10)) + code[1:]
}

// TestInvitation: an invitation creates its user with a passkey once;
// used twice, expired, for a disallowed domain or another address, it fails.
func TestInvitation(t *testing.T) {
	h := newHarness(t)
	var created struct {
		Token string `json:"token"`
	}
	h.mustJSON("POST", "/api/v1/invitations", h.adminKey, map[string]any{"email": "nia@example.com"}, 201, &created)
	k := newSoftKey(t)
	_, opts := h.do("POST", "/api/v1/invitations/accept/begin", "", map[string]any{"token": created.Token, "name": "nia"})
	finish := map[string]any{"token": created.Token, "passkey_name": "laptop", "credential": k.create(opts)}
	st, out, resp := h.doCookie("POST", "/api/v1/invitations/accept/finish", browser{}, finish)
	if st != 201 {
		t.Fatalf("accept: %d %s", st, out)
	}
	b := h.browserOf(out, resp)
	if st, out, _ := h.doCookie("GET", "/api/v1/me", b, nil); st != 200 || !strings.Contains(string(out), `"email":"nia@example.com"`) {
		t.Errorf("me: %d %s", st, out)
	}
	if st, out, _ := h.login(k, "nia", ""); st != 200 {
		t.Errorf("the new user's passkey signs in: %d %s", st, out)
	}
	// Used twice.
	st, out = h.do("POST", "/api/v1/invitations/accept/begin", "", map[string]any{"token": created.Token, "name": "nia2"})
	h.wantProblem(st, out, 403, "forbidden")
	st, out, _ = h.doCookie("POST", "/api/v1/invitations/accept/finish", browser{}, finish)
	h.wantProblem(st, out, 403, "forbidden")
	var invs struct {
		Invitations []struct{ Used bool } `json:"invitations"`
	}
	h.mustJSON("GET", "/api/v1/invitations", h.adminKey, nil, 200, &invs)
	if len(invs.Invitations) != 1 || !invs.Invitations[0].Used {
		t.Errorf("invitations: %+v", invs)
	}

	t.Run("expired", func(t *testing.T) {
		token := "inv-silo-" + strings.Repeat("e", 43)
		err := h.st.CreateInvitation(t.Context(), &store.Invitation{Hash: identity.HashSecret(token), Role: store.RoleUser,
			CreatedAt: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		st, out := h.do("POST", "/api/v1/invitations/accept/begin", "", map[string]any{"token": token, "name": "late"})
		h.wantProblem(st, out, 403, "forbidden")
	})
	t.Run("another address", func(t *testing.T) {
		var c struct{ Token string }
		h.mustJSON("POST", "/api/v1/invitations", h.adminKey, map[string]any{"email": "oli@example.com"}, 201, &c)
		st, out := h.do("POST", "/api/v1/invitations/accept/begin", "", map[string]any{"token": c.Token, "name": "oli", "email": "mallory@example.com"})
		h.wantProblem(st, out, 403, "forbidden")
	})
	t.Run("disallowed domain", func(t *testing.T) {
		h.setPolicy(identity.TOTPNone, "example.com")
		st, out := h.do("POST", "/api/v1/invitations", h.adminKey, map[string]any{"email": "eve@evil.example"})
		h.wantProblem(st, out, 403, "forbidden")
		var c struct{ Token string }
		h.mustJSON("POST", "/api/v1/invitations", h.adminKey, map[string]any{}, 201, &c)
		for _, body := range []map[string]any{
			{"token": c.Token, "name": "eve", "email": "eve@evil.example"},
			{"token": c.Token, "name": "eve"}, // no address at all
		} {
			st, out := h.do("POST", "/api/v1/invitations/accept/begin", "", body)
			h.wantProblem(st, out, 403, "forbidden")
		}
		if st, out := h.do("POST", "/api/v1/invitations/accept/begin", "", map[string]any{"token": c.Token, "name": "eve", "email": "eve@EXAMPLE.com"}); st != 200 {
			t.Errorf("allowed domain: %d %s", st, out)
		}
	})
}

// TestSessionsLogout: logout ends one session, logout-all every session.
func TestSessionsLogout(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	var bs []browser
	for range 3 {
		_, _, b := h.login(k, "", "")
		bs = append(bs, b)
	}
	if st, out, _ := h.doCookie("POST", "/api/v1/sessions/logout", bs[0], nil); st != 204 {
		t.Fatalf("logout: %d %s", st, out)
	}
	if st, _, _ := h.doCookie("GET", "/api/v1/me", bs[0], nil); st != 401 {
		t.Errorf("after logout: %d", st)
	}
	if st, _, _ := h.doCookie("GET", "/api/v1/me", bs[1], nil); st != 200 {
		t.Errorf("another session after logout: %d", st)
	}
	if st, out, _ := h.doCookie("POST", "/api/v1/sessions/logout-all", bs[1], nil); st != 204 {
		t.Fatalf("logout-all: %d %s", st, out)
	}
	for i, b := range bs {
		if st, _, _ := h.doCookie("GET", "/api/v1/me", b, nil); st != 401 {
			t.Errorf("session %d after logout-all: %d", i, st)
		}
	}
	// The API key is not a session: it still works.
	if st, _ := h.do("GET", "/api/v1/me", h.userKey, nil); st != 200 {
		t.Errorf("API key after logout-all: %d", st)
	}
}

// TestCSRF: a cookie-authenticated unsafe request needs the session's
// X-CSRF-Token; safe methods and API keys do not.
func TestCSRF(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	_, _, b := h.login(k, "", "")
	_, _, other := h.login(k, "", "")
	body := map[string]any{"name": "from the browser"}
	for name, csrf := range map[string]string{"missing": "", "wrong": "x" + b.csrf[1:], "another session's": other.csrf} {
		st, out, _ := h.doCookie("POST", "/api/v1/keys", browser{cookie: b.cookie, csrf: csrf}, body)
		if st != 403 || !strings.Contains(string(out), "urn:silo:problem:csrf") {
			t.Errorf("%s token: %d %s, want 403 csrf", name, st, out)
		}
	}
	if st, out, _ := h.doCookie("POST", "/v1/chat/completions", browser{cookie: b.cookie}, map[string]any{}); st != 403 {
		t.Errorf("/v1 POST without the token: %d %s", st, out)
	}
	if st, out, _ := h.doCookie("POST", "/api/v1/sessions/logout-all", browser{cookie: b.cookie}, nil); st != 403 {
		t.Errorf("logout-all without the token: %d %s", st, out)
	}
	if st, out, _ := h.doCookie("GET", "/api/v1/keys", browser{cookie: b.cookie}, nil); st != 200 {
		t.Errorf("GET without the token: %d %s", st, out)
	}
	if st, out, _ := h.doCookie("POST", "/api/v1/keys", b, body); st != 201 {
		t.Errorf("with the token: %d %s", st, out)
	}
}

// TestSessionExpiry: an expired or idle session, or one of a disabled
// user, authenticates nothing.
func TestSessionExpiry(t *testing.T) {
	h := newHarness(t)
	now := time.Now()
	for name, c := range map[string]struct {
		expires, seen time.Time
		disable       bool
	}{
		"live":     {now.Add(time.Hour), now, false},
		"expired":  {now.Add(-time.Second), now.Add(-time.Minute), false},
		"idle":     {now.Add(time.Hour), now.Add(-identity.SessionIdle - time.Minute), false},
		"disabled": {now.Add(time.Hour), now, true},
	} {
		t.Run(name, func(t *testing.T) {
			secret := identity.SessionPrefix + strings.Repeat(name[:1], 43)
			err := h.st.CreateSession(t.Context(), &store.Session{UserID: h.userID, Hash: identity.HashSecret(secret),
				CreatedAt: now.Add(-2 * time.Hour), ExpiresAt: c.expires, LastSeenAt: c.seen})
			if err != nil {
				t.Fatal(err)
			}
			if c.disable {
				h.mustJSON("PATCH", "/api/v1/users/"+h.userID.String(), h.adminKey, map[string]any{"disabled": true}, 200, nil)
				defer h.mustJSON("PATCH", "/api/v1/users/"+h.userID.String(), h.adminKey, map[string]any{"disabled": false}, 200, nil)
			}
			want := 401
			if name == "live" {
				want = 200
			}
			if st, out, _ := h.doCookie("GET", "/api/v1/me", browser{cookie: secret}, nil); st != want {
				t.Errorf("%d %s, want %d", st, out, want)
			}
		})
	}
}

// TestCeremonyStartsLimited: anonymous clients cannot fill the challenge
// store: starts from one address are rate-limited.
func TestCeremonyStartsLimited(t *testing.T) {
	h := newHarness(t)
	limited := false
	for range 200 {
		st, out := h.do("POST", "/api/v1/sessions/login/begin", "", map[string]any{})
		if st == 429 {
			h.wantProblem(st, out, 429, "rate-limited")
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("200 sign-in starts from one address were all accepted")
	}
	// Signed-in users registering passkeys are not affected.
	if st, out := h.do("POST", "/api/v1/passkeys/register/begin", h.userKey, nil); st != 200 {
		t.Errorf("registration begin: %d %s", st, out)
	}
}

// TestSignInCSRF: a browser reporting a cross-site sign-in is refused
// (login CSRF); a browser that holds a session can still sign in again
// without its token; a reloaded page gets its token back by GET.
func TestSignInCSRF(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	_, _, b := h.login(k, "", "")

	_, opts := h.do("POST", "/api/v1/sessions/login/begin", "", map[string]any{})
	raw, _ := json.Marshal(map[string]any{"credential": k.get(opts)})
	req, _ := http.NewRequest("POST", h.ts.URL+"/api/v1/sessions/login/finish", bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h.wantProblem(resp.StatusCode, out, 403, "csrf")

	// The session cookie is ignored on the public sign-in routes.
	st, opts, _ := h.doCookie("POST", "/api/v1/sessions/login/begin", browser{cookie: b.cookie}, map[string]any{})
	if st != 200 {
		t.Fatalf("sign-in start with a session cookie: %d %s", st, opts)
	}
	if st, out, _ := h.doCookie("POST", "/api/v1/sessions/login/finish", browser{cookie: b.cookie}, map[string]any{"credential": k.get(opts)}); st != 200 {
		t.Errorf("sign-in again with a session cookie: %d %s", st, out)
	}

	var ss struct {
		CSRF string `json:"csrf_token"`
	}
	_, out, _ = h.doCookie("GET", "/api/v1/sessions", browser{cookie: b.cookie}, nil)
	if err := json.Unmarshal(out, &ss); err != nil || ss.CSRF != b.csrf {
		t.Errorf("sessions list: %v %s, want the CSRF token again", err, out)
	}
	if _, out = h.do("GET", "/api/v1/sessions", h.userKey, nil); strings.Contains(string(out), "csrf_token") {
		t.Errorf("an API key caller got a CSRF token: %s", out)
	}
}

// TestPasskeyDeleteAndTOTPReset: a removed passkey signs in no more; others'
// passkeys are not found; an admin's TOTP reset lets the user in with the
// passkey alone (no policy) and removes nothing else.
func TestPasskeyDeleteAndTOTPReset(t *testing.T) {
	h := newHarness(t)
	k := h.registerPasskey(h.userKey)
	var list struct {
		Passkeys []struct{ ID string } `json:"passkeys"`
	}
	h.mustJSON("GET", "/api/v1/passkeys", h.userKey, nil, 200, &list)
	id := list.Passkeys[0].ID
	adminPK := h.registerPasskey(h.adminKey)
	var adminList struct {
		Passkeys []struct{ ID string } `json:"passkeys"`
	}
	h.mustJSON("GET", "/api/v1/passkeys", h.adminKey, nil, 200, &adminList)
	st, out := h.do("DELETE", "/api/v1/passkeys/"+adminList.Passkeys[0].ID, h.userKey, nil)
	h.wantProblem(st, out, 404, "not-found")
	if st, out, _ := h.login(adminPK, "", ""); st != 200 {
		t.Errorf("the admin's passkey after alice tried to delete it: %d %s", st, out)
	}

	// TOTP on, then reset by the admin.
	_, out = h.do("POST", "/api/v1/totp", h.userKey, nil)
	var enr struct{ Secret string }
	json.Unmarshal(out, &enr)
	code, _ := identity.CodeAt(enr.Secret, time.Now())
	h.mustJSON("POST", "/api/v1/totp/confirm", h.userKey, map[string]string{"code": code}, 204, nil)
	st, out, _ = h.login(k, "", "")
	h.wantProblem(st, out, 401, "totp-required")
	h.mustJSON("DELETE", "/api/v1/users/"+h.userID.String()+"/totp", h.adminKey, nil, 204, nil)
	if st, out, _ := h.login(k, "", ""); st != 200 {
		t.Errorf("after the TOTP reset: %d %s", st, out)
	}

	// Alice's only passkey: she cannot remove it, an admin can (a lost one),
	// and it signs in no more.
	st, out = h.do("DELETE", "/api/v1/passkeys/"+id, h.userKey, nil)
	h.wantProblem(st, out, 409, "conflict")
	h.mustJSON("DELETE", "/api/v1/passkeys/"+id, h.adminKey, nil, 204, nil)
	st, out, _ = h.login(k, "", "")
	h.wantProblem(st, out, 401, "passkey-failed")
}
