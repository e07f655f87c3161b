package tlog

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

func newTestWitness(t *testing.T, state string, logs ...*Log) *Witness {
	t.Helper()
	known := map[string]note.Verifier{}
	for _, l := range logs {
		known[l.Origin()] = l.Verifier()
	}
	w, err := NewWitness(WitnessConfig{
		Name: "witness.test/w1", Key: testKey("witness"), Logs: known, StatePath: state,
		Now: func() time.Time { return time.Unix(1700000000, 0) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWitness(t *testing.T) {
	l := forkLog(t, 10, nil)
	state := filepath.Join(t.TempDir(), "witness.json")
	w := newTestWitness(t, state, l)
	wv := note.VerifierList(l.Verifier(), w.Verifier())

	cosign := func(old int64, proof sumtlog.TreeProof, signed []byte) error {
		line, err := w.AddCheckpoint(FormatAddCheckpoint(old, proof, signed))
		if err != nil {
			return err
		}
		if !strings.HasPrefix(string(line), "— witness.test/w1 ") {
			t.Fatalf("cosignature line %q", line)
		}
		if _, _, err := OpenCheckpoint(append(signed, line...), testOrigin, wv); err != nil {
			t.Fatalf("cosignature does not verify: %v", err)
		}
		return nil
	}

	if err := cosign(0, nil, l.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	// Same checkpoint again: fine (same size, same hash).
	if err := cosign(10, nil, l.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, nil, 10, 40, newRand())
	p, err := l.ConsistencyProof(10, 40)
	if err != nil {
		t.Fatal(err)
	}
	// Wrong old size: conflict carrying the witness's size.
	var conflict *ConflictError
	if err := cosign(0, nil, l.Checkpoint()); !errors.As(err, &conflict) || conflict.Size != 10 {
		t.Fatalf("old 0: %v, want conflict at 10", err)
	}
	if err := cosign(10, p, l.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	if size, _ := w.Latest(testOrigin); size != 40 {
		t.Fatalf("latest %d, want 40", size)
	}

	// A fork of the log (same key, history rewritten after 20) is refused,
	// whatever proof comes with it.
	fork := forkLog(t, 20, [][]byte{[]byte("x\n"), []byte("y\n")})
	appendN(t, fork, nil, 22, 60, newRand())
	forkProof, err := fork.ConsistencyProof(40, 60)
	if err != nil {
		t.Fatal(err)
	}
	honestSoFar, err := l.ConsistencyProof(10, 40)
	if err != nil {
		t.Fatal(err)
	}
	for name, proof := range map[string]sumtlog.TreeProof{"fork's own proof": forkProof, "unrelated proof": honestSoFar, "no proof": nil} {
		if err := cosign(40, proof, fork.Checkpoint()); !errors.Is(err, ErrInconsistent) {
			t.Errorf("%s: %v, want ErrInconsistent", name, err)
		}
	}
	// Same size, other hash.
	same := forkLog(t, 39, [][]byte{[]byte("other\n")})
	if err := cosign(40, nil, same.Checkpoint()); !errors.Is(err, ErrInconsistent) {
		t.Errorf("same size other hash: %v, want ErrInconsistent", err)
	}
	// Smaller than the old size.
	if err := cosign(40, nil, forkLog(t, 5, nil).Checkpoint()); !errors.Is(err, ErrMalformed) {
		t.Errorf("shrunk: %v, want ErrMalformed", err)
	}
	// Refusals did not move the state, and it survives a restart.
	w2 := newTestWitness(t, state, l)
	if size, h := w2.Latest(testOrigin); size != 40 || h != mustHash(t, l, 40) {
		t.Fatalf("reloaded latest %d", size)
	}

	// Unknown origin and bad signature.
	s, err := OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(s, "other.test/log", testKey("other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := cosign(0, nil, other.Checkpoint()); !errors.Is(err, ErrUnknownLog) {
		t.Errorf("unknown origin: %v", err)
	}
	s2, err := OpenFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := Open(s2, testOrigin, testKey("impostor"))
	if err != nil {
		t.Fatal(err)
	}
	defer impostor.Close()
	if err := cosign(40, nil, impostor.Checkpoint()); !errors.Is(err, ErrBadSignature) {
		t.Errorf("impostor: %v", err)
	}
}

func mustHash(t *testing.T, l *Log, n int64) sumtlog.Hash {
	t.Helper()
	h, err := l.Hash(n)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestParseAddCheckpoint(t *testing.T) {
	good := "old 5\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n\nexample.com/log\n7\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n— example.com/log AAAA\n"
	old, proof, cp, err := ParseAddCheckpoint([]byte(good))
	if err != nil || old != 5 || len(proof) != 1 || !strings.HasPrefix(string(cp), "example.com/log\n") {
		t.Fatalf("good body: %d %d %q %v", old, len(proof), cp, err)
	}
	for _, bad := range []string{
		"", "old 5", "old 05\n\nx", "old -1\n\nx", "new 5\n\nx", "old 5\nnot base64\n\nx",
		"old 5\nAAAA\n\nx", "old 5\n\n", "old 5\n" + strings.Repeat("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n", 64) + "\nx",
	} {
		if _, _, _, err := ParseAddCheckpoint([]byte(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", bad, err)
		}
	}
}

// TestCosignaturesSurviveRestart: a cosigned checkpoint is stored, so the
// log serves it again after it is reopened; once the log grows, the new
// checkpoint carries no old cosignature, also after a reopen.
func TestCosignaturesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir)
	if _, _, err := l.AppendBatch([][]byte{record(0), record(1)}); err != nil {
		t.Fatal(err)
	}
	w := newTestWitness(t, filepath.Join(t.TempDir(), "w.json"), l)
	line, err := w.Cosign(0, nil, l.Checkpoint())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddCosignatures(append(l.Checkpoint(), line...), w.Verifier()); err != nil {
		t.Fatal(err)
	}
	sigs := func(l *Log) int {
		t.Helper()
		_, n, err := OpenCheckpoint(l.Checkpoint(), testOrigin, note.VerifierList(l.Verifier(), w.Verifier()))
		if err != nil {
			t.Fatal(err)
		}
		return len(n.Sigs)
	}
	reopen := func() *Log {
		t.Helper()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return openTestLog(t, dir)
	}
	l = reopen()
	if got := sigs(l); got != 2 {
		t.Fatalf("after a restart the checkpoint has %d verified signatures, want the log's and the witness's", got)
	}
	tile, err := l.ReadTile("checkpoint")
	if err != nil || !bytes.Equal(tile, l.Checkpoint()) {
		t.Errorf("the served checkpoint is not the cosigned one: %v", err)
	}
	if _, _, err := l.Append(record(2)); err != nil {
		t.Fatal(err)
	}
	if got := sigs(l); got != 1 {
		t.Errorf("after growing, the checkpoint has %d signatures, want only the log's", got)
	}
	l = reopen()
	if got := sigs(l); got != 1 {
		t.Errorf("after growing and a restart, the checkpoint has %d signatures, want only the log's", got)
	}
}
