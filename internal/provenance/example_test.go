package provenance_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/silo-ai/silo/internal/provenance"
)

// Example certifies a model file, signs the certificate with two keys and
// evaluates it under a 2-of-2 policy.
func Example() {
	sum := sha256.Sum256([]byte("weights"))
	files := map[string]string{"model.gguf": hex.EncodeToString(sum[:])}
	st, err := provenance.NewModelStatement(provenance.ModelInfo{Files: files, BuilderID: "https://example.com/trainer"})
	if err != nil {
		panic(err)
	}
	env, _ := provenance.NewEnvelope(st)
	var keys []ed25519.PrivateKey
	for _, name := range []string{"alice", "bob"} {
		seed := sha256.Sum256([]byte(name))
		k := ed25519.NewKeyFromSeed(seed[:])
		keys = append(keys, k)
		if err := env.Sign(provenance.Ed25519Signer{Key: k}); err != nil {
			panic(err)
		}
	}
	envJSON, _ := json.Marshal(env)
	policy, err := provenance.ParsePolicy([]byte(fmt.Sprintf(`{"mode": "enforce",
  "keys": {"alice": %q, "bob": %q},
  "rules": [{"models": "example/*", "keys": ["alice", "bob"], "threshold": 2}]}`,
		provenance.FormatPublicKey(keys[0].Public().(ed25519.PublicKey)),
		provenance.FormatPublicKey(keys[1].Public().(ed25519.PublicKey)))))
	if err != nil {
		panic(err)
	}
	d := provenance.Evaluate(policy, provenance.Input{Model: "example/tiny", Envelope: envJSON, Files: files})
	fmt.Println(d.Allow, d.Reason)
	// Output: true model example/tiny verified: signed by alice, bob
}
