package models

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/provenance"
)

func pub(k ed25519.PrivateKey) string {
	return provenance.FormatPublicKey(k.Public().(ed25519.PublicKey))
}

// policy2of2 requires alice and bob for every model.
func policy2of2(t *testing.T, mode provenance.Mode) *provenance.Policy {
	t.Helper()
	p, err := provenance.ParsePolicy([]byte(fmt.Sprintf(`{"mode": %q,
  "keys": {"alice": %q, "bob": %q},
  "rules": [{"models": "*", "keys": ["alice", "bob"], "threshold": 2}]}`,
		mode, pub(testKey("alice")), pub(testKey("bob")))))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// certify writes a certificate for the model file at path, whose subject
// has digest sum, signed by keys.
func certify(t *testing.T, path, sum string, keys ...ed25519.PrivateKey) {
	t.Helper()
	st, err := provenance.NewModelStatement(provenance.ModelInfo{
		Files: map[string]string{filepath.Base(path): sum}, BuilderID: "https://example.com/trainer"})
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.NewEnvelope(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := env.Sign(provenance.Ed25519Signer{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, CertPath(path), b)
}

func TestCheckerTwoOfTwo(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "tiny.gguf"), tinyModel(t))
	sum := sha(tinyModel(t))
	alice, bob, mallory := testKey("alice"), testKey("bob"), testKey("mallory")
	ctx := context.Background()
	c := &Checker{Policy: policy2of2(t, provenance.ModeEnforce), Log: slog.New(slog.DiscardHandler)}
	for _, tc := range []struct {
		name string
		keys []ed25519.PrivateKey
		sum  string
		want Status
	}{
		{"unsigned", nil, sum, StatusRefused},
		{"one of two", []ed25519.PrivateKey{alice}, sum, StatusRefused},
		{"untrusted key does not count", []ed25519.PrivateKey{alice, mallory}, sum, StatusRefused},
		{"same key twice", []ed25519.PrivateKey{bob, bob}, sum, StatusRefused},
		{"subject digest differs", []ed25519.PrivateKey{alice, bob}, sha([]byte("other")), StatusRefused},
		{"two of two", []ed25519.PrivateKey{alice, bob}, sum, StatusVerified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certify(t, path, tc.sum, tc.keys...)
			v := c.Check(ctx, "tiny", path)
			if v.Status != tc.want || v.Allow != (tc.want == StatusVerified) || v.Reason == "" {
				t.Errorf("verdict %+v, want %s", v, tc.want)
			}
			err := c.Verify(ctx, "tiny", path)
			if (err == nil) != (tc.want == StatusVerified) || (err != nil && !errors.Is(err, provenance.ErrUnverifiedModel)) {
				t.Errorf("Verify = %v", err)
			}
		})
	}
	// No certificate file at all.
	os.Remove(CertPath(path))
	if v := c.Check(ctx, "tiny", path); v.Status != StatusRefused {
		t.Errorf("no certificate: %+v", v)
	}
	// A missing model file cannot be hashed: refused, not allowed.
	if v := c.Check(ctx, "gone", filepath.Join(dir, "gone.gguf")); v.Allow {
		t.Errorf("missing file allowed: %+v", v)
	}
}

func TestCheckerModes(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "tiny.gguf"), tinyModel(t))
	certify(t, path, sha(tinyModel(t)), testKey("alice"))
	ctx := context.Background()
	for _, tc := range []struct {
		c     *Checker
		want  Status
		allow bool
	}{
		{&Checker{}, StatusUnverified, true},
		{&Checker{Policy: policy2of2(t, provenance.ModeWarn)}, StatusUnverified, true},
		{&Checker{Policy: policy2of2(t, provenance.ModeOff)}, StatusUnverified, true},
		{&Checker{Policy: policy2of2(t, provenance.ModeEnforce)}, StatusRefused, false},
	} {
		tc.c.Log = slog.New(slog.DiscardHandler)
		v := tc.c.Check(ctx, "tiny", path)
		if v.Status != tc.want || v.Allow != tc.allow || v.Reason == "" {
			t.Errorf("mode %s: %+v", tc.c.Mode(), v)
		}
	}
	if v := (&Checker{}).Check(ctx, "tiny", path); v.Reason != NoPolicyReason {
		t.Errorf("no policy: reason %q", v.Reason)
	}
}

func TestLoadPolicyFailsClosed(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPolicy(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("missing policy file accepted")
	}
	bad := writeFile(t, filepath.Join(dir, "bad.json"), []byte(`{"mode":"enforce","keys":{},"rules":[{"models":"*","keys":["x"],"threshold":1}]}`))
	if _, err := LoadPolicy(bad); !errors.Is(err, provenance.ErrPolicy) {
		t.Errorf("bad policy: %v", err)
	}
}

// TestEngineEnforcesTwoOfTwo is the acceptance test: the built-in engine, as
// silo serve wires it, refuses to list or load a model with one valid
// signature under a 2-of-2 policy, and serves it with two.
func TestEngineEnforcesTwoOfTwo(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	src := writeFile(t, filepath.Join(t.TempDir(), "tiny.gguf"), tinyModel(t))
	if _, err := s.Import(ctx, src, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	path, _ := s.Path("tiny")
	c := &Checker{Policy: policy2of2(t, provenance.ModeEnforce), Digests: s.Digests(), Log: slog.New(slog.DiscardHandler)}
	e, err := builtin.New(builtin.Options{Dir: s.Dir(), Verify: c.Verify, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()

	certify(t, path, sha(tinyModel(t)), testKey("alice"))
	if ms, err := e.Models(ctx); err != nil || len(ms) != 0 {
		t.Errorf("one signature: Models = %+v, %v; want none", ms, err)
	}
	err = e.Load(ctx, "tiny")
	if !errors.Is(err, provenance.ErrUnverifiedModel) || !errors.Is(err, engine.ErrModelNotFound) {
		t.Fatalf("one signature: Load = %v, want a refusal", err)
	}

	certify(t, path, sha(tinyModel(t)), testKey("alice"), testKey("bob"))
	if ms, err := e.Models(ctx); err != nil || len(ms) != 1 || ms[0].ID != "tiny" {
		t.Errorf("two signatures: Models = %+v, %v", ms, err)
	}
	if err := e.Load(ctx, "tiny"); err != nil {
		t.Fatalf("two signatures: Load = %v", err)
	}
	var out string
	if _, err := e.Generate(ctx, &engine.Request{Model: "tiny", Prompt: "hi", MaxTokens: 2},
		func(ch engine.Chunk) error { out += ch.Text; return nil }); err != nil {
		t.Fatalf("Generate: %v", err)
	}
}

// TestCheckerRemembersVerdicts: an unchanged model is not evaluated again;
// a new certificate is.
func TestCheckerRemembersVerdicts(t *testing.T) {
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 0
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "tiny.gguf"), tinyModel(t))
	sum := sha(tinyModel(t))
	certify(t, path, sum, testKey("alice"))
	evaluations := 0
	c := &Checker{Policy: policy2of2(t, provenance.ModeEnforce), Log: slog.New(slog.DiscardHandler),
		Evidence: func(string, []byte) *provenance.LogEvidence { evaluations++; return nil }}
	ctx := context.Background()
	for range 3 {
		if v := c.Check(ctx, "tiny", path); v.Status != StatusRefused {
			t.Fatalf("one signature: %+v", v)
		}
	}
	if evaluations != 1 {
		t.Errorf("an unchanged model was evaluated %d times", evaluations)
	}
	certify(t, path, sum, testKey("alice"), testKey("bob"))
	if v := c.Check(ctx, "tiny", path); v.Status != StatusVerified || evaluations != 2 {
		t.Errorf("new certificate: %+v after %d evaluations", v, evaluations)
	}
	// Freshly changed files are not remembered at all.
	racyWindow = time.Hour
	c.Check(ctx, "tiny", path)
	c.Check(ctx, "tiny", path)
	if evaluations != 4 {
		t.Errorf("racy files: %d evaluations, want 4", evaluations)
	}
}
