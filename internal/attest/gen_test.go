package attest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"testing"

	"github.com/silo-ai/silo/internal/attest"
)

// TestWriteSeedEvidence writes testdata/evidence.json, the fuzzer's seed,
// when SILO_WRITE_TESTDATA is set.
func TestWriteSeedEvidence(t *testing.T) {
	if os.Getenv("SILO_WRITE_TESTDATA") == "" {
		t.Skip("set SILO_WRITE_TESTDATA to rewrite testdata/evidence.json")
	}
	tpm := open(t)
	tpm.Measure(attest.Event{Kind: "binary", Name: "silo", SHA256: sum("binary")})
	tpm.Measure(attest.Event{Kind: "model", Name: "tiny", SHA256: sum("model")})
	ev, err := tpm.Quote(bytes.Repeat([]byte{7}, 32), sha256.Sum256([]byte("tls")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.MarshalIndent(ev, "", "  ")
	if err := os.WriteFile("testdata/evidence.json", append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
