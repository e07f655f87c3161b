package models

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/provenance"
)

// modelSigningBundle is an OpenSSF Model Signing bundle (Sigstore bundle
// v0.3, as model-transparency writes it) over one file named file with
// digest sum, signed with k.
func modelSigningBundle(t *testing.T, k *ecdsa.PrivateKey, file, sum string) []byte {
	t.Helper()
	d, _ := hex.DecodeString(sum)
	root := sha256.Sum256(d)
	payload := fmt.Appendf(nil, `{
  "_type": "https://in-toto.io/Statement/v1",
  "subject": [
    {
      "name": "model",
      "digest": {
        "sha256": %q
      }
    }
  ],
  "predicateType": "https://model_signing/signature/v1.0",
  "predicate": {
    "serialization": {
      "method": "files",
      "hash_type": "sha256",
      "allow_symlinks": false
    },
    "resources": [
      {
        "algorithm": "sha256",
        "digest": %q,
        "name": %q
      }
    ]
  }
}`, hex.EncodeToString(root[:]), sum, file)
	h := sha256.Sum256(provenance.PAE(provenance.PayloadType, payload))
	sig, err := ecdsa.SignASN1(nil, k, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
 "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": []},
 "dsseEnvelope": {"payload": %q, "payloadType": "application/vnd.in-toto+json", "signatures": [{"sig": %q}]}}`,
		base64.StdEncoding.EncodeToString(payload), base64.StdEncoding.EncodeToString(sig))
}

func ecKeyPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// TestCheckerModelSigningBundle: NAME.gguf.sig, an OpenSSF Model Signing
// bundle signed with a trusted ECDSA key, verifies the model and is
// proved included in the log (the policy requires it); a bundle over another digest, by another key, or a
// NAME.gguf.dsse.json beside it (which takes precedence) decides instead.
func TestCheckerModelSigningBundle(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "tiny.gguf"), tinyModel(t))
	sum := sha(tinyModel(t))
	trusted, err := ecdsa.GenerateKey(elliptic.P256(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), nil)
	p, err := provenance.ParsePolicy(fmt.Appendf(nil, `{"mode": "enforce", "keys": {"publisher": %q},
 "rules": [{"models": "*", "keys": ["publisher"], "threshold": 1, "log": {"required": true}}]}`, ecKeyPEM(t, trusted)))
	if err != nil {
		t.Fatal(err)
	}
	lg, err := OpenCertLog(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	c := &Checker{Policy: p, Evidence: lg.Evidence, LogState: lg.State, Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	if v := c.Check(ctx, "tiny", path); v.Status != StatusRefused {
		t.Fatalf("without a signature: %+v", v)
	}
	tcs := []struct {
		name   string
		bundle []byte
		want   Status
		reason string
	}{
		{"other digest", modelSigningBundle(t, trusted, "tiny.gguf", sha([]byte("other"))), StatusRefused, "certificate says"},
		{"other key", modelSigningBundle(t, other, "tiny.gguf", sum), StatusRefused, "0 valid signature"},
		{"malformed", []byte(`{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json"}`), StatusRefused, "verificationMaterial"},
		{"trusted", modelSigningBundle(t, trusted, "tiny.gguf", sum), StatusVerified, "signed by publisher"},
	}
	for _, tc := range tcs {
		writeFile(t, SigPath(path), tc.bundle)
		v := c.Check(ctx, "tiny", path)
		if v.Status != tc.want || !strings.Contains(v.Reason, tc.reason) {
			t.Errorf("%s: %s: %s", tc.name, v.Status, v.Reason)
		}
	}
	sb, err := provenance.ParseSigstoreBundle(tcs[len(tcs)-1].bundle)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := sb.Envelope.MarshalJSON()
	if _, ok := lg.Find(env); !ok {
		t.Error("the verified bundle's envelope is not in the log")
	}
	// A DSSE certificate beside the bundle is the one read.
	writeFile(t, CertPath(path), []byte(`{}`))
	if v := c.Check(ctx, "tiny", path); v.Status != StatusRefused {
		t.Errorf("with a bad .dsse.json beside a good .sig: %+v", v)
	}
	os.Remove(CertPath(path))
	if v := c.Check(ctx, "tiny", path); v.Status != StatusVerified {
		t.Errorf("after removing the .dsse.json: %+v", v)
	}
}
