package server_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/attest/attesttest"
)

// TestAttestation: with a TPM (swtpm), anyone gets a quote for their
// nonce, bound to the server's TLS key, that attest.Verify accepts and
// whose log replays the measurements; bad nonces are refused, and a
// server without a TPM says so.
func TestAttestation(t *testing.T) {
	tpm, err := attest.Open(attesttest.SWTPM(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	bin := sha256.Sum256([]byte("silo binary"))
	if err := tpm.Measure(attest.Event{Kind: attest.KindBinary, Name: "silo", SHA256: hex.EncodeToString(bin[:])}); err != nil {
		t.Fatal(err)
	}
	tlsKey := sha256.Sum256([]byte("the server's TLS public key"))
	h := newHarness(t, harnessOpts{attest: tpm, tlsKey: tlsKey})
	for _, key := range []string{"", h.userKey, h.adminKey} {
		nonce := make([]byte, 32)
		rand.Read(nonce)
		var out struct {
			attest.Evidence
			AKFingerprint string `json:"ak_fingerprint"`
			PCR           int    `json:"pcr"`
			TLSKey        string `json:"tls_key_sha256"`
		}
		h.mustJSON("GET", "/api/v1/attestation?nonce="+hex.EncodeToString(nonce), key, nil, 200, &out)
		fp, err := attest.Verify(&out.Evidence, nonce, tlsKey)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if fp != out.AKFingerprint || fp != tpm.AKFingerprint() || out.PCR != attest.PCR || out.TLSKey != hex.EncodeToString(tlsKey[:]) ||
			len(out.Events) != 1 || out.Events[0].Name != "silo" {
			t.Errorf("key %q: %+v", key, out)
		}
		// Bound to its nonce: the same evidence fails for another.
		nonce[0] ^= 1
		if _, err := attest.Verify(&out.Evidence, nonce, tlsKey); err == nil {
			t.Error("evidence verified for another nonce")
		}
	}
	for _, q := range []string{"", "?nonce=", "?nonce=zz", "?nonce=" + hex.EncodeToString(make([]byte, 8)), "?nonce=" + hex.EncodeToString(make([]byte, 65))} {
		code, b := h.do("GET", "/api/v1/attestation"+q, "", nil)
		h.wantProblem(code, b, 400, "invalid-request")
	}
	// Quotes are bounded per client address.
	limited := false
	for range 200 {
		code, b := h.do("GET", "/api/v1/attestation?nonce="+hex.EncodeToString(make([]byte, 16)), "", nil)
		if code == 429 {
			h.wantProblem(code, b, 429, "rate-limited")
			limited = true
			break
		}
	}
	if !limited {
		t.Error("200 quotes for one address were all answered")
	}
	plain := newHarness(t)
	code, b := plain.do("GET", "/api/v1/attestation?nonce="+hex.EncodeToString(make([]byte, 16)), "", nil)
	plain.wantProblem(code, b, 404, "not-found")
}
