package provenance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/dirhash"
)

func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo provenance test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestDSSESpecVector checks PAE and envelope parsing against the example
// published in the DSSE protocol spec (an ECDSA P-256 signature made by the
// reference implementation).
func TestDSSESpecVector(t *testing.T) {
	pae := PAE("http://example.com/HelloWorld", []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(pae) != want {
		t.Fatalf("PAE = %q, want %q", pae, want)
	}
	env, err := ParseEnvelope([]byte(`{"payload": "aGVsbG8gd29ybGQ=",
 "payloadType": "http://example.com/HelloWorld",
 "signatures": [{"sig": "A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA=="}]}`))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := new(big.Int).SetString("46950820868899156662930047687818585632848591499744589407958293238635476079160", 10)
	y, _ := new(big.Int).SetString("5640078356564379163099075877009565129882514886557779369047442380624545832820", 10)
	point := append([]byte{4}, append(x.FillBytes(make([]byte, 32)), y.FillBytes(make([]byte, 32))...)...)
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		t.Fatal(err)
	}
	sig := env.Signatures[0].Sig
	digest := sha256.Sum256(PAE(env.PayloadType, env.Payload))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, digest[:], r, s) {
		t.Fatal("the spec's signature does not verify over our PAE")
	}
	other := sha256.Sum256(PAE(env.PayloadType, []byte("hello world!")))
	if ecdsa.Verify(pub, other[:], r, s) {
		t.Fatal("signature verified over the wrong message")
	}
}

func TestEnvelopeBase64Variants(t *testing.T) {
	// DSSE verifiers must accept standard and URL-safe base64.
	for _, p := range []string{"aGk_Pz8-", "aGk/Pz8+", "aGk_Pz8-", "aGk/Pz8"} {
		env, err := ParseEnvelope([]byte(`{"payloadType":"t","payload":"` + p + `","signatures":[]}`))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !strings.HasPrefix(string(env.Payload), "hi?") {
			t.Fatalf("%s decoded to %q", p, env.Payload)
		}
	}
}

var weights = map[string]string{
	"model-00001.gguf": sha("weights part one"),
	"model-00002.gguf": sha("weights part two"),
}

func testStatement(t *testing.T) *Statement {
	t.Helper()
	st, err := NewModelStatement(ModelInfo{
		Files: weights,
		Datasets: []Dependency{
			{Name: "dataset:wiki", URI: "https://data.example/wiki-2024.tar", Digest: map[string]string{DigestSHA256: sha("wiki")}},
			{Name: "dataset:code", URI: "file:///data/code", Digest: map[string]string{DigestDirHash1: sha("code dir")}},
		},
		BaseModel:    &Dependency{Name: "base-model", URI: "hf://acme/base-7b", Digest: map[string]string{DigestSHA256: sha("base")}},
		TrainingCode: &Dependency{Name: "training-code", URI: "git+https://git.example/acme/train", Digest: map[string]string{DigestGitCommit: "0123456789abcdef0123456789abcdef01234567"}},
		Config:       map[string]any{"lr": 0.0003, "epochs": 3},
		BuilderID:    "https://acme.example/trainer/v1",
		Environment:  map[string]string{"tpm.pcr7": sha("pcr7")},
		InvocationID: "run-42",
		StartedOn:    time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		FinishedOn:   time.Date(2026, 1, 3, 3, 4, 5, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStatementGolden checks the exact JSON field names against a golden
// file written to the in-toto Statement v1 and SLSA Provenance v1 specs.
func TestStatementGolden(t *testing.T) {
	b, err := json.MarshalIndent(testStatement(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "statement.golden.json")
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(b)+"\n" {
		t.Fatalf("statement differs from %s (UPDATE_GOLDEN=1 to rewrite):\n%s", golden, b)
	}
	st, err := ParseStatement(want)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.Provenance()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.BuildDefinition.ResolvedDependencies) != 4 || p.RunDetails.Builder.ID != "https://acme.example/trainer/v1" {
		t.Fatalf("parsed provenance: %+v", p)
	}
}

func TestParseStatementRejects(t *testing.T) {
	good := `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"` + sha("x") + `"}}],"predicateType":"https://example.com/other/v1","predicate":{}}`
	if _, err := ParseStatement([]byte(good)); err != nil {
		t.Fatalf("good statement: %v", err)
	}
	for name, bad := range map[string]string{
		"old type":       strings.Replace(good, "Statement/v1", "Statement/v0.1", 1),
		"no subject":     `{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x"}`,
		"no digest":      `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m"}],"predicateType":"x"}`,
		"short sha256":   strings.Replace(good, sha("x"), "abcd", 1),
		"upper hex":      strings.Replace(good, sha("x"), strings.ToUpper(sha("x")), 1),
		"duplicate key":  strings.Replace(good, `"predicateType"`, `"_type":"https://in-toto.io/Statement/v1","predicateType"`, 1),
		"no predType":    strings.Replace(good, `"predicateType":"https://example.com/other/v1",`, ``, 1),
		"slsa no build":  strings.Replace(good, `"https://example.com/other/v1","predicate":{}`, `"https://slsa.dev/provenance/v1","predicate":{"runDetails":{"builder":{"id":"b"}}}`, 1),
		"trailing data":  good + "{}",
		"not an object":  `[]`,
		"slsa bad types": strings.Replace(good, `"https://example.com/other/v1","predicate":{}`, `"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":[]}`, 1),
	} {
		if _, err := ParseStatement([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func TestDirDigest(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{"b.txt": "world\n", "a/x.bin": "hello\n", "a/y z.txt": ""}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := DirDigest(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The documented formula, computed by hand (sorted by path, "%x  %s\n").
	lines := fmt.Sprintf("%s  a/x.bin\n%s  a/y z.txt\n%s  b.txt\n", sha("hello\n"), sha(""), sha("world\n"))
	if want := sha(lines); got != want {
		t.Fatalf("DirDigest = %s, want %s", got, want)
	}
	// And the Go module dirhash of the same tree.
	h1, err := dirhash.HashDir(dir, "", dirhash.Hash1)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := decodeH1(h1)
	if hex.EncodeToString(raw) != got {
		t.Fatalf("DirDigest %s differs from dirhash %s", got, h1)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := DirDigest(dir); err == nil {
		t.Fatal("a symlink was hashed")
	}
}

func TestKeys(t *testing.T) {
	k := testKey("ssh")
	pub := k.Public().(ed25519.PublicKey)
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(k, "test key")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(pemEncode(blk))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.Equal(k) {
		t.Fatal("OpenSSH private key round trip differs")
	}
	for _, s := range []string{string(ssh.MarshalAuthorizedKey(sshPub)) + " alice@example", FormatPublicKey(pub)} {
		got, err := ParsePublicKey(s)
		if err != nil || !got.Equal(pub) {
			t.Fatalf("ParsePublicKey(%q) = %v, %v", s, got, err)
		}
	}
	if id := (Ed25519Signer{Key: k}).KeyID(); id != sha(string(pub)) || len(id) != 64 {
		t.Fatalf("key id %s", id)
	}
	enc, err := ssh.MarshalPrivateKeyWithPassphrase(k, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParsePrivateKey(pemEncode(enc)); err == nil || !strings.Contains(err.Error(), "passphrase") {
		t.Fatalf("encrypted key: %v", err)
	}
	for _, bad := range []string{"", "ssh-rsa AAAA", "ed25519:AAAA", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"} {
		if _, err := ParsePublicKey(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParsePublicKey(%q): %v", bad, err)
		}
	}
}
