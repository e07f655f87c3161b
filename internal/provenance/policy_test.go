package provenance

import (
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }

func sshAuthorizedKey(t *testing.T, k ed25519.PrivateKey) string {
	t.Helper()
	p, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(p)))
}

func testPolicy(t *testing.T, mode Mode, extra string) *Policy {
	t.Helper()
	src := fmt.Sprintf(`{
  "mode": %q,
  "keys": {
    "alice": %q,
    "bob": %q,
    "carol": %q
  },
  "rules": [
    {"models": "acme/*", "keys": ["alice", "bob"], "threshold": 2,
     "requiredFields": ["buildDefinition.resolvedDependencies", "runDetails.builder.id"]%s},
    {"models": "solo/*", "keys": ["carol"], "threshold": 1}
  ]
}`, mode, sshAuthorizedKey(t, testKey("alice")), FormatPublicKey(testKey("bob").Public().(ed25519.PublicKey)),
		FormatPublicKey(testKey("carol").Public().(ed25519.PublicKey)), extra)
	p, err := ParsePolicy([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func signedEnvelope(t *testing.T, st *Statement, keys ...ed25519.PrivateKey) []byte {
	t.Helper()
	env, err := NewEnvelope(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := env.Sign(Ed25519Signer{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEvaluate(t *testing.T) {
	st := testStatement(t)
	alice, bob, mallory := testKey("alice"), testKey("bob"), testKey("mallory")
	both := signedEnvelope(t, st, alice, bob)

	// Alice's signature twice, under two key ids: still one key.
	twice, err := ParseEnvelope(signedEnvelope(t, st, alice))
	if err != nil {
		t.Fatal(err)
	}
	twice.Signatures = append(twice.Signatures, Signature{KeyID: "another-id", Sig: twice.Signatures[0].Sig})
	twiceJSON, _ := json.Marshal(twice)

	// A statement whose subject digest differs from the file.
	otherFiles := map[string]string{"model-00001.gguf": sha("tampered"), "model-00002.gguf": weights["model-00002.gguf"]}

	// Right signatures over a different payload type.
	wrongType, _ := ParseEnvelope(both)
	wrongType.PayloadType = "application/json"
	wrongType.Signatures = nil
	for _, k := range []ed25519.PrivateKey{alice, bob} {
		if err := wrongType.Sign(Ed25519Signer{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	wrongTypeJSON, _ := json.Marshal(wrongType)

	// Payload changed after signing.
	tampered, _ := ParseEnvelope(both)
	tampered.Payload = []byte(strings.Replace(string(tampered.Payload), weights["model-00001.gguf"], sha("evil"), 1))
	tamperedJSON, _ := json.Marshal(tampered)

	noDeps := *st
	var pred map[string]any
	json.Unmarshal(st.Predicate, &pred)
	delete(pred["buildDefinition"].(map[string]any), "resolvedDependencies")
	noDeps.Predicate, _ = json.Marshal(pred)

	cases := []struct {
		name   string
		model  string
		env    []byte
		files  map[string]string
		log    *LogEvidence
		policy string
		pass   bool
		reason string
	}{
		{"two of two", "acme/m", both, weights, nil, "", true, "signed by alice, bob"},
		{"one of two", "acme/m", signedEnvelope(t, st, alice), weights, nil, "", false, "1 valid signature(s) from trusted keys (alice), policy requires 2 of 2"},
		{"untrusted key does not count", "acme/m", signedEnvelope(t, st, alice, mallory), weights, nil, "", false, "policy requires 2 of 2"},
		{"key of another rule does not count", "acme/m", signedEnvelope(t, st, alice, testKey("carol")), weights, nil, "", false, "policy requires 2 of 2"},
		{"same key twice counts once", "acme/m", twiceJSON, weights, nil, "", false, "1 valid signature(s)"},
		{"subject digest differs", "acme/m", both, otherFiles, nil, "", false, "file model-00001.gguf has sha256"},
		{"file not a subject", "acme/m", both, map[string]string{"extra.bin": sha("x")}, nil, "", false, "not a subject"},
		{"wrong payloadType", "acme/m", wrongTypeJSON, weights, nil, "", false, "payloadType"},
		{"tampered payload", "acme/m", tamperedJSON, weights, nil, "", false, "0 valid signature(s)"},
		{"no certificate", "acme/m", nil, weights, nil, "", false, "no signed certificate"},
		{"garbage certificate", "acme/m", []byte("{"), weights, nil, "", false, "certificate"},
		{"no rule matches", "other/m", both, weights, nil, "", false, "no policy rule"},
		{"required field missing", "acme/m", signedEnvelope(t, &noDeps, alice, bob), weights, nil, "", false, "buildDefinition.resolvedDependencies"},
		{"one of one", "solo/m", signedEnvelope(t, st, testKey("carol")), weights, nil, "", true, "signed by carol"},
		{"log required, absent", "acme/m", both, weights, nil, `, "log": {"required": true, "witnesses": 1}`, false, "transparency log"},
		{"log required, too few witnesses", "acme/m", both, weights, &LogEvidence{Included: true}, `, "log": {"required": true, "witnesses": 1}`, false, "0 witness"},
		{"log required, present", "acme/m", both, weights, &LogEvidence{Included: true, Witnesses: 1}, `, "log": {"required": true, "witnesses": 1}`, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy(t, ModeEnforce, tc.policy)
			d := Evaluate(p, Input{Model: tc.model, Envelope: tc.env, Files: tc.files, Log: tc.log})
			if d.Passed != tc.pass || d.Allow != tc.pass {
				t.Fatalf("passed %v allow %v (%s), want %v", d.Passed, d.Allow, d.Reason, tc.pass)
			}
			if !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("reason %q does not mention %q", d.Reason, tc.reason)
			}
			if !tc.pass && !errors.Is(d.Err, ErrUnverifiedModel) {
				t.Fatalf("err %v, want ErrUnverifiedModel", d.Err)
			}
			if tc.pass && (d.Statement == nil || d.Err != nil) {
				t.Fatalf("passed without a statement: %+v", d)
			}
			// In warn mode the same model loads, with the same finding.
			w := Evaluate(testPolicy(t, ModeWarn, tc.policy), Input{Model: tc.model, Envelope: tc.env, Files: tc.files, Log: tc.log})
			if !w.Allow || w.Passed != tc.pass || !strings.Contains(w.Reason, tc.reason) {
				t.Fatalf("warn mode: %+v", w)
			}
		})
	}
}

func TestEvaluateFailsClosed(t *testing.T) {
	for name, p := range map[string]*Policy{"nil": nil, "zero": {Mode: ModeOff}} {
		d := Evaluate(p, Input{Model: "acme/m"})
		if d.Allow || !errors.Is(d.Err, ErrPolicy) {
			t.Errorf("%s policy: %+v", name, d)
		}
	}
	off := testPolicy(t, ModeOff, "")
	if d := Evaluate(off, Input{Model: "acme/m"}); !d.Allow || d.Passed {
		t.Errorf("off: %+v", d)
	}
}

func TestParsePolicyRejects(t *testing.T) {
	alice := FormatPublicKey(testKey("alice").Public().(ed25519.PublicKey))
	rule := `{"models": "acme/*", "keys": ["alice"], "threshold": 1}`
	for name, src := range map[string]string{
		"bad mode":         `{"mode": "enforcing", "keys": {"alice": "` + alice + `"}, "rules": [` + rule + `]}`,
		"no mode":          `{"keys": {"alice": "` + alice + `"}, "rules": [` + rule + `]}`,
		"unknown field":    `{"mode": "enforce", "keyz": {}, "keys": {"alice": "` + alice + `"}, "rules": [` + rule + `]}`,
		"bad key":          `{"mode": "enforce", "keys": {"alice": "ed25519:AAAA"}, "rules": [` + rule + `]}`,
		"same key twice":   `{"mode": "enforce", "keys": {"alice": "` + alice + `", "alias": "` + alice + `"}, "rules": [` + rule + `]}`,
		"unknown key":      `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "*", "keys": ["bob"], "threshold": 1}]}`,
		"threshold 0":      `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "*", "keys": ["alice"], "threshold": 0}]}`,
		"threshold > n":    `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "*", "keys": ["alice"], "threshold": 2}]}`,
		"key listed twice": `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "*", "keys": ["alice", "alice"], "threshold": 2}]}`,
		"bad glob":         `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "[", "keys": ["alice"], "threshold": 1}]}`,
		"no rules":         `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": []}`,
		"witness no log":   `{"mode": "enforce", "keys": {"alice": "` + alice + `"}, "rules": [{"models": "*", "keys": ["alice"], "threshold": 1, "log": {"witnesses": 1}}]}`,
		"duplicate field":  `{"mode": "enforce", "mode": "off", "keys": {"alice": "` + alice + `"}, "rules": [` + rule + `]}`,
		"not json":         `mode: enforce`,
	} {
		if _, err := ParsePolicy([]byte(src)); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: %v, want ErrPolicy", name, err)
		}
	}
}

// TestSSHKeySigning signs with an OpenSSH ed25519 private key file and
// checks the signature under a policy that names the key by its
// authorized_keys line.
func TestSSHKeySigning(t *testing.T) {
	blk, err := ssh.MarshalPrivateKey(testKey("alice"), "alice@example")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := ParsePrivateKey(pemEncode(blk))
	if err != nil {
		t.Fatal(err)
	}
	st := testStatement(t)
	d := Evaluate(testPolicy(t, ModeEnforce, ""), Input{Model: "acme/m", Envelope: signedEnvelope(t, st, alice, testKey("bob")), Files: weights})
	if !d.Passed {
		t.Fatal(d.Reason)
	}
}
