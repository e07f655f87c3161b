package attest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"

	"github.com/silo-ai/silo/internal/attest"
)

// FuzzVerify feeds Verify evidence from the network as it may come:
// arbitrary quote, signature and key bytes. It must return an error, never
// panic or accept; the seed is a real swtpm quote (testdata/evidence.json),
// which must verify.
func FuzzVerify(f *testing.F) {
	b, err := os.ReadFile("testdata/evidence.json")
	if err != nil {
		f.Fatal(err)
	}
	var seed attest.Evidence
	if err := json.Unmarshal(b, &seed); err != nil {
		f.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	tlsKey := sha256.Sum256([]byte("tls"))
	if _, err := attest.Verify(&seed, nonce, tlsKey); err != nil {
		f.Fatalf("the seed evidence does not verify: %v", err)
	}
	f.Add(seed.Quote, seed.Signature, seed.AKPublic)
	f.Fuzz(func(t *testing.T, quote, sig, ak []byte) {
		ev := &attest.Evidence{Quote: quote, Signature: sig, AKPublic: ak, Events: seed.Events}
		_, err := attest.Verify(ev, nonce, tlsKey)
		if err == nil && !(bytes.Equal(quote, seed.Quote) && bytes.Equal(ak, seed.AKPublic)) {
			t.Fatalf("forged evidence verified: quote %x, key %x", quote, ak)
		}
	})
}
