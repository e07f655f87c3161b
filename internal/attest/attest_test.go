package attest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/attest/attesttest"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func open(t *testing.T) *attest.TPM {
	t.Helper()
	tpm, err := attest.Open(attesttest.SWTPM(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tpm.Close() })
	return tpm
}

// TestQuoteVerifies: a quote over measured events verifies for its nonce
// and TLS key, and every change a forger could make is refused.
func TestQuoteVerifies(t *testing.T) {
	tpm := open(t)
	events := []attest.Event{
		{Kind: attest.KindBinary, Name: "silo", SHA256: sum("binary")},
		{Kind: attest.KindConfig, Name: "config", SHA256: sum("config")},
		{Kind: attest.KindModel, Name: "tiny", SHA256: sum("model")},
	}
	for _, e := range events {
		if err := tpm.Measure(e); err != nil {
			t.Fatal(err)
		}
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	tlsKey := sha256.Sum256([]byte("the server's TLS key"))
	ev, err := tpm.Quote(nonce, tlsKey)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := attest.Verify(ev, nonce, tlsKey)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if fp != tpm.AKFingerprint() || len(ev.Events) != 3 {
		t.Errorf("fingerprint %s, want %s; %d events", fp, tpm.AKFingerprint(), len(ev.Events))
	}

	otherKey := sha256.Sum256([]byte("a relaying server's TLS key"))
	cases := []struct {
		name   string
		mutate func(*attest.Evidence) ([]byte, [32]byte)
		want   string
	}{
		{"other nonce", func(e *attest.Evidence) ([]byte, [32]byte) { return bytes.Repeat([]byte{8}, 32), tlsKey }, "nonce"},
		{"other TLS key", func(e *attest.Evidence) ([]byte, [32]byte) { return nonce, otherKey }, "nonce and TLS key"},
		{"event renamed", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Events[2].Name = "other"
			return nonce, tlsKey
		}, "event log"},
		{"event dropped", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Events = e.Events[:2]
			return nonce, tlsKey
		}, "event log"},
		{"event added", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Events = append(e.Events, attest.Event{Kind: "model", Name: "x", SHA256: sum("x")})
			return nonce, tlsKey
		}, "event log"},
		{"quote byte flipped", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Quote[len(e.Quote)-1] ^= 1
			return nonce, tlsKey
		}, "signature"},
		{"signature byte flipped", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Signature[len(e.Signature)-1] ^= 1
			return nonce, tlsKey
		}, "signature"},
		{"quote truncated", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Quote = e.Quote[:10]
			return nonce, tlsKey
		}, ""},
		{"no key", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.AKPublic = nil
			return nonce, tlsKey
		}, "attestation key"},
		{"bad event digest", func(e *attest.Evidence) ([]byte, [32]byte) {
			e.Events[0].SHA256 = "XYZ"
			return nonce, tlsKey
		}, "hex"},
	}
	for _, c := range cases {
		e := clone(ev)
		n, k := c.mutate(e)
		if _, err := attest.Verify(e, n, k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one about %q", c.name, err, c.want)
		}
	}
	// A key that is not restricted could have signed anything: refused.
	e := clone(ev)
	e.AKPublic = unrestricted(t, e.AKPublic)
	if _, err := attest.Verify(e, nonce, tlsKey); err == nil {
		t.Error("an unrestricted key's quote verified")
	}

	if _, err := tpm.Quote(nonce[:8], tlsKey); err == nil {
		t.Error("a short nonce was quoted")
	}
	if err := tpm.Measure(attest.Event{Kind: "model", Name: "m", SHA256: "abc"}); err == nil {
		t.Error("a bad digest was measured")
	}
}

func clone(e *attest.Evidence) *attest.Evidence {
	return &attest.Evidence{
		Quote:     append([]byte(nil), e.Quote...),
		Signature: append([]byte(nil), e.Signature...),
		AKPublic:  append([]byte(nil), e.AKPublic...),
		Events:    append([]attest.Event(nil), e.Events...),
	}
}

func unrestricted(t *testing.T, b []byte) []byte {
	t.Helper()
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](b)
	if err != nil {
		t.Fatal(err)
	}
	pub.ObjectAttributes.Restricted = false
	return tpm2.Marshal(pub)
}

// TestReopen: after a restart the same TPM gives the same attestation key
// (verifiers pin it), and PCR 23 starts again from its reset value, so the
// new process's log alone replays to it.
func TestReopen(t *testing.T) {
	sock := attesttest.SWTPM(t)
	tpm, err := attest.Open(sock)
	if err != nil {
		t.Fatal(err)
	}
	fp := tpm.AKFingerprint()
	if err := tpm.Measure(attest.Event{Kind: "binary", Name: "old", SHA256: sum("old")}); err != nil {
		t.Fatal(err)
	}
	if err := tpm.Close(); err != nil {
		t.Fatal(err)
	}
	tpm, err = attest.Open(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	if tpm.AKFingerprint() != fp {
		t.Errorf("attestation key changed across a restart: %s, then %s", fp, tpm.AKFingerprint())
	}
	if err := tpm.Measure(attest.Event{Kind: "binary", Name: "new", SHA256: sum("new")}); err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{1}, 16)
	var tlsKey [32]byte
	ev, err := tpm.Quote(nonce, tlsKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(ev, nonce, tlsKey); err != nil || len(ev.Events) != 1 {
		t.Errorf("after a restart: %v, %d events", err, len(ev.Events))
	}
}
