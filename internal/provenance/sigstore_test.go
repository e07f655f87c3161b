package provenance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"path"
	"strings"
	"testing"
)

// testECKey is a deterministic ECDSA P-256 key for tests.
func testECKey(name string) *ecdsa.PrivateKey {
	seed := sha256.Sum256([]byte("ec " + name))
	d := new(big.Int).SetBytes(seed[:])
	d.Mod(d, new(big.Int).Sub(elliptic.P256().Params().N, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(make([]byte, 32)))
	if err != nil {
		panic(err)
	}
	return k
}

func ecPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// modelSigningPayload writes the statement as model-transparency does
// (protobuf JSON, two-space indent, fields in proto order); root is the
// subject digest, "" to compute it from the resources.
func modelSigningPayload(predicateType, root string, files [][2]string) []byte {
	h := sha256.New()
	var res []string
	for _, f := range files {
		d, _ := hex.DecodeString(f[1])
		h.Write(d)
		res = append(res, fmt.Sprintf("      {\n        \"algorithm\": \"sha256\",\n        \"digest\": %q,\n        \"name\": %q\n      }", f[1], f[0]))
	}
	if root == "" {
		root = hex.EncodeToString(h.Sum(nil))
	}
	return fmt.Appendf(nil, `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [
    {
      "name": "qwen",
      "digest": {
        "sha256": %q
      }
    }
  ],
  "predicateType": %q,
  "predicate": {
    "serialization": {
      "method": "files",
      "hash_type": "sha256",
      "allow_symlinks": false,
      "ignore_paths": [
        "qwen.gguf.sig",
        ".git"
      ]
    },
    "resources": [
%s
    ]
  }
}`, root, predicateType, strings.Join(res, ",\n"))
}

// sigstoreBundle wraps a payload in a Sigstore bundle v0.3 as
// model-transparency writes it, signed by each signer (an
// *ecdsa.PrivateKey or ed25519.PrivateKey), with the first key's hint.
func sigstoreBundle(t *testing.T, payload []byte, signers ...any) []byte {
	t.Helper()
	pae := PAE(PayloadType, payload)
	var sigs []string
	hint := ""
	for _, s := range signers {
		var sig []byte
		switch k := s.(type) {
		case *ecdsa.PrivateKey:
			h := sha256.Sum256(pae)
			var err error
			if sig, err = ecdsa.SignASN1(zeroReader{}, k, h[:]); err != nil {
				t.Fatal(err)
			}
			if hint == "" {
				hint = sha256Hex(ecPEM(t, k))
			}
		case ed25519.PrivateKey:
			sig = ed25519.Sign(k, pae)
		}
		sigs = append(sigs, fmt.Sprintf(`{"sig": %q}`, base64.StdEncoding.EncodeToString(sig)))
	}
	return fmt.Appendf(nil, `{
  "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
  "verificationMaterial": {
    "publicKey": {
      "hint": %q
    },
    "tlogEntries": []
  },
  "dsseEnvelope": {
    "payload": %q,
    "payloadType": "application/vnd.in-toto+json",
    "signatures": [%s]
  }
}`, hint, base64.StdEncoding.EncodeToString(payload), strings.Join(sigs, ", "))
}

// zeroReader feeds ecdsa.SignASN1, which mixes it with the key and hash.
type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func sigstorePolicy(t *testing.T, threshold int) *Policy {
	t.Helper()
	src := fmt.Sprintf(`{"mode": "enforce",
 "keys": {"ec": %q, "ed": %q, "other": %q},
 "rules": [{"models": "acme/*", "keys": ["ec", "ed"], "threshold": %d}]}`,
		ecPEM(t, testECKey("ec")), FormatPublicKey(testKey("ed").Public().(ed25519.PublicKey)), ecPEM(t, testECKey("other")), threshold)
	p, err := ParsePolicy([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var modelFiles = [][2]string{{"config.json", sha256Hex("config")}, {"qwen.gguf", sha256Hex("weights")}}

// TestSigstoreBundleVerifies: an OpenSSF Model Signing bundle in the
// published format, signed with an ECDSA P-256 key or an Ed25519 key,
// verifies; its signers count toward k of n and the model's file matches
// a resource by sha256.
func TestSigstoreBundleVerifies(t *testing.T) {
	payload := modelSigningPayload(ModelSigningV1, "", modelFiles)
	files := map[string]string{"qwen.gguf": sha256Hex("weights")}
	for name, signer := range map[string]any{"ec": testECKey("ec"), "ed": testKey("ed")} {
		b := sigstoreBundle(t, payload, signer)
		ms, signers, err := VerifyModelSignature(b, sigstorePolicy(t, 1).trusted("acme/x"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ms.Model != "qwen" || ms.Method != "files" || len(ms.Resources) != 2 || len(signers) != 1 || signers[0].Name != name {
			t.Errorf("%s: %+v signed by %v", name, ms, signers)
		}
		d := Evaluate(sigstorePolicy(t, 1), Input{Model: "acme/qwen", Envelope: b, Files: files})
		if !d.Passed || len(d.Signers) != 1 || d.Signers[0] != name {
			t.Errorf("%s: 1-of-2: %+v", name, d)
		}
		if d := Evaluate(sigstorePolicy(t, 2), Input{Model: "acme/qwen", Envelope: b, Files: files}); d.Passed || !errors.Is(d.Err, ErrUnverifiedModel) {
			t.Errorf("%s: 2-of-2 with one signature passed: %s", name, d.Reason)
		}
	}
	both := sigstoreBundle(t, payload, testECKey("ec"), testKey("ed"))
	if d := Evaluate(sigstorePolicy(t, 2), Input{Model: "acme/qwen", Envelope: both, Files: files}); !d.Passed || strings.Join(d.Signers, ",") != "ec,ed" {
		t.Errorf("2-of-2 with both signatures: %s", d.Reason)
	}
	sb, err := ParseSigstoreBundle(both)
	if err != nil || sb.KeyHint != sha256Hex(ecPEM(t, testECKey("ec"))) {
		t.Errorf("hint %q, %v", sb.KeyHint, err)
	}
	if id := (PublicKey{ECDSA: &testECKey("ec").PublicKey}).ID(); id != sb.KeyHint {
		t.Errorf("ECDSA key id %s differs from model-transparency's hint %s", id, sb.KeyHint)
	}
}

// TestSigstoreBundleRefused: a tampered digest, a wrong key, a wrong
// predicate type, a root digest that does not match the resources, and
// bundles signed with a Fulcio certificate are refused.
func TestSigstoreBundleRefused(t *testing.T) {
	p := sigstorePolicy(t, 1)
	files := map[string]string{"qwen.gguf": sha256Hex("weights")}
	good := modelSigningPayload(ModelSigningV1, "", modelFiles)
	refused := func(what string, b []byte, files map[string]string, want string) {
		t.Helper()
		d := Evaluate(p, Input{Model: "acme/qwen", Envelope: b, Files: files})
		if d.Passed || d.Allow || !strings.Contains(d.Reason, want) {
			t.Errorf("%s: passed=%v reason %q, want %q", what, d.Passed, d.Reason, want)
		}
	}
	// The payload changed after signing: the signature no longer holds.
	tampered := sigstoreBundle(t, good, testECKey("ec"))
	goodB64 := base64.StdEncoding.EncodeToString(good)
	evil := base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(good), sha256Hex("weights"), sha256Hex("evil"), 1)))
	tampered = []byte(strings.Replace(string(tampered), goodB64, evil, 1))
	refused("tampered payload", tampered, map[string]string{"qwen.gguf": sha256Hex("evil")}, "0 valid signature")
	// Signed, but the file on disk differs from the signed resource.
	refused("tampered file", sigstoreBundle(t, good, testECKey("ec")), map[string]string{"qwen.gguf": sha256Hex("evil")}, "but the certificate says")
	refused("untrusted key", sigstoreBundle(t, good, testECKey("other")), files, "0 valid signature")
	refused("unknown ed25519 key", sigstoreBundle(t, good, testKey("mallory")), files, "0 valid signature")
	refused("wrong predicate type", sigstoreBundle(t, modelSigningPayload("https://model_signing/Digests/v0.1", "", modelFiles), testECKey("ec")), files, "predicateType")
	refused("root digest mismatch", sigstoreBundle(t, modelSigningPayload(ModelSigningV1, sha256Hex("root"), modelFiles), testECKey("ec")), files, "the resources hash to")

	b := sigstoreBundle(t, good, testECKey("ec"))
	for name, mut := range map[string]func(string) string{
		"fulcio": func(s string) string {
			return strings.Replace(s, `"publicKey"`, `"certificate": {"rawBytes": "AA=="}, "publicKey"`, 1)
		},
		"mediaType": func(s string) string { return strings.Replace(s, "bundle.v0.3", "bundle.v9", 1) },
		"no dsse":   func(s string) string { return strings.Replace(s, `"dsseEnvelope"`, `"messageSignature"`, 1) },
		"duplicates": func(s string) string {
			return strings.Replace(s, `"tlogEntries": []`, `"tlogEntries": [], "tlogEntries": []`, 1)
		},
	} {
		if _, err := ParseSigstoreBundle([]byte(mut(string(b)))); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := VerifyModelSignature(b, []PublicKey{{Name: "x", ECDSA: &testECKey("other").PublicKey}}); !errors.Is(err, ErrUnverifiedModel) {
		t.Errorf("wrong key: %v", err)
	}
	// A P-384 key is refused in a policy.
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), zeroReader{})
	der, _ := x509.MarshalPKIXPublicKey(&k384.PublicKey)
	if _, err := ParseTrustedKey("p384", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))); err == nil {
		t.Error("a P-384 key was accepted")
	}
}

func FuzzParseSigstoreBundle(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := ParseSigstoreBundle(b)
		if err != nil {
			return
		}
		if sb.Envelope == nil || len(sb.Envelope.Signatures) == 0 {
			t.Fatal("accepted a bundle without a signed envelope")
		}
		if !isSigstoreBundle(b) {
			t.Fatal("a parsed bundle is not recognised as one")
		}
		if _, err := json.Marshal(sb.Envelope); err != nil {
			t.Fatal(err)
		}
		sb.Envelope.VerifiedKeys([]PublicKey{{Name: "ec", ECDSA: &testECKey("ec").PublicKey}, {Name: "ed", Key: testKey("ed").Public().(ed25519.PublicKey)}})
		if st, err := ParseStatement(sb.Envelope.Payload); err == nil {
			ParseModelSignature(st)
		}
	})
}

// trusted returns the keys of the first rule matching model (tests and
// callers that verify outside Evaluate).
func (p *Policy) trusted(model string) []PublicKey {
	for _, r := range p.Rules {
		if ok, _ := path.Match(r.Models, model); ok {
			var out []PublicKey
			for _, n := range r.Keys {
				out = append(out, p.keys[n])
			}
			return out
		}
	}
	return nil
}
