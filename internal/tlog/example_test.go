package tlog_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"

	"github.com/silo-ai/silo/internal/tlog"
)

// Example appends a record, then a client checks its inclusion proof and
// remembers the checkpoint for the next run.
func Example() {
	dir, _ := os.MkdirTemp("", "tlog-example")
	defer os.RemoveAll(dir)
	seed := sha256.Sum256([]byte("example log key"))
	s, err := tlog.OpenFileStorage(filepath.Join(dir, "log"))
	if err != nil {
		panic(err)
	}
	l, err := tlog.Open(s, "example.com/log", ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	defer l.Close()

	rec := []byte("sha256:0123... model certificate\n")
	idx, proof, err := l.Append(rec)
	if err != nil {
		panic(err)
	}
	v, err := tlog.NewVerifier(tlog.VerifierConfig{
		Origin: "example.com/log", LogKey: l.Verifier(),
		StatePath: filepath.Join(dir, "client-checkpoint"), Fetch: l.ReadTile,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(idx, v.VerifyInclusionProof(rec, proof))
	c, _ := v.Last()
	fmt.Println(c.Origin, c.Size)
	// Output:
	// 0 <nil>
	// example.com/log 1
}
