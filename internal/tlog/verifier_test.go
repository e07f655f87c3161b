package tlog

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func newTestVerifier(t *testing.T, l *Log, state string, witnesses []note.Verifier, quorum int) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{
		Origin: testOrigin, LogKey: l.Verifier(), Witnesses: witnesses, Quorum: quorum,
		StatePath: state, Fetch: l.ReadTile,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// copyLog makes a log in a new directory with the first n records of recs,
// then the given replacement records: what an operator rewriting history
// (with the log's own key) would publish.
func forkLog(t *testing.T, n int, extra [][]byte) *Log {
	t.Helper()
	l := openTestLog(t, t.TempDir())
	var recs [][]byte
	for i := 0; i < n; i++ {
		recs = append(recs, record(i))
	}
	recs = append(recs, extra...)
	if len(recs) > 0 {
		if _, _, err := l.AppendBatch(recs); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

func TestVerifierCatchesTruncatedAndRewrittenLog(t *testing.T) {
	honest := forkLog(t, 100, nil)
	state := filepath.Join(t.TempDir(), "last-checkpoint")
	v := newTestVerifier(t, honest, state, nil, 0)
	if _, err := v.Update(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i += 17 {
		if err := v.VerifyInclusion(record(i), int64(i)); err != nil {
			t.Fatalf("inclusion of %d: %v", i, err)
		}
	}
	if err := v.VerifyInclusion([]byte("not in the log\n"), 3); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("inclusion of a foreign record: %v, want ErrInconsistent", err)
	}

	cases := []struct {
		name string
		log  *Log
	}{
		{"truncated", forkLog(t, 60, nil)},
		{"truncated then regrown", forkLog(t, 60, [][]byte{[]byte("a\n"), []byte("b\n")})},
		{"rewritten same size", forkLog(t, 99, [][]byte{[]byte("replaced\n")})},
		{"rewritten and grown", forkLog(t, 50, func() (r [][]byte) {
			for i := 50; i < 200; i++ {
				r = append(r, record(i+1000))
			}
			return r
		}())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			forked := newTestVerifier(t, tc.log, state, nil, 0)
			if _, err := forked.Update(); !errors.Is(err, ErrInconsistent) {
				t.Fatalf("Update: %v, want ErrInconsistent", err)
			}
			if c, _ := forked.Last(); c.Size != 100 {
				t.Fatalf("state moved to %d after a refused checkpoint", c.Size)
			}
		})
	}

	// The honest log grows: accepted through tiles, then through a proof.
	rng := rand.New(rand.NewPCG(3, 4))
	appendN(t, honest, nil, 100, 700, rng)
	if c, err := v.Update(); err != nil || c.Size != 700 {
		t.Fatalf("honest growth: %v (size %d)", err, c.Size)
	}
	appendN(t, honest, nil, 700, 800, rng)
	p, err := honest.ConsistencyProof(700, 800)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Accept(honest.Checkpoint(), p); err != nil {
		t.Fatal(err)
	}
	// A new Verifier on the same state file starts from size 800.
	v2 := newTestVerifier(t, honest, state, nil, 0)
	if c, ok := v2.Last(); !ok || c.Size != 800 {
		t.Fatalf("reloaded state: %d %v", c.Size, ok)
	}
	idx, proof, err := honest.Append([]byte("new record\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.VerifyInclusionProof([]byte("new record\n"), proof); err != nil {
		t.Fatal(err)
	}
	if err := v2.VerifyInclusionProof([]byte("other record\n"), proof); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("proof for another record: %v", err)
	}
	if idx != 800 {
		t.Fatalf("index %d", idx)
	}
}

// TestVerifierCatchesTruncatedStorage truncates a log's files on disk (and
// removes its stored checkpoint, as an operator hiding entries would), then
// checks that the reopened log is refused by a client that saw more.
func TestVerifierCatchesTruncatedStorage(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir)
	appendN(t, l, nil, 0, 300, rand.New(rand.NewPCG(5, 6)))
	v := newTestVerifier(t, l, filepath.Join(t.TempDir(), "state"), nil, 0)
	if _, err := v.Update(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.Truncate(filepath.Join(dir, indexFile), 200*8); err != nil {
		t.Fatal(err)
	}
	// With its checkpoint history the log itself refuses to reopen.
	s, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(s, testOrigin, testKey("log")); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Open of truncated storage: %v, want ErrInconsistent", err)
	}
	s.Close()
	if err := os.Remove(filepath.Join(dir, checkpointsFile)); err != nil {
		t.Fatal(err)
	}
	truncated := openTestLog(t, dir)
	if truncated.Size() != 200 {
		t.Fatalf("size %d, want 200", truncated.Size())
	}
	v.cfg.Fetch = truncated.ReadTile
	if _, err := v.Update(); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Update: %v, want ErrInconsistent", err)
	}
}

func TestVerifierRequiresSignatures(t *testing.T) {
	l := forkLog(t, 10, nil)
	s, err := OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := Open(s, testOrigin, testKey("impostor"))
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	v := newTestVerifier(t, l, filepath.Join(t.TempDir(), "state"), nil, 0)
	if _, err := v.Accept(impostor.Checkpoint(), nil); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("impostor checkpoint: %v, want ErrBadSignature", err)
	}

	// Quorum of one witness: refused without, accepted with a cosignature.
	w := newTestWitness(t, filepath.Join(t.TempDir(), "w.json"), l)
	vq := newTestVerifier(t, l, filepath.Join(t.TempDir(), "state"), []note.Verifier{w.Verifier()}, 1)
	if _, err := vq.Update(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("no cosignature: %v, want ErrBadSignature", err)
	}
	line, err := w.Cosign(0, nil, l.Checkpoint())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddCosignatures(append(l.Checkpoint(), line...), w.Verifier()); err != nil {
		t.Fatal(err)
	}
	if _, err := vq.Update(); err != nil {
		t.Fatalf("cosigned: %v", err)
	}
	c, n, err := OpenCheckpoint(l.Checkpoint(), testOrigin, note.VerifierList(l.Verifier(), w.Verifier()))
	if err != nil || len(n.Sigs) != 2 || c.Size != 10 {
		t.Fatalf("merged checkpoint: %v, %d sigs", err, len(n.Sigs))
	}
	var ws note.Signature
	for _, s := range n.Sigs {
		if s.Name == "witness.test/w1" {
			ws = s
		}
	}
	ts, err := CosignatureTime(ws)
	if err != nil || !ts.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("cosignature time %v, %v", ts, err)
	}
}
