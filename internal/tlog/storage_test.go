package tlog

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	sumtlog "golang.org/x/mod/sumdb/tlog"
)

func newRand() *rand.Rand { return rand.New(rand.NewPCG(7, 8)) }

func fileLen(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCrashRecovery simulates crashes in the middle of an append (torn
// writes at the tail of each file) and checks that reopening restores the
// last committed state, which the log then extends correctly.
func TestCrashRecovery(t *testing.T) {
	const n = 300
	junkRecord := []byte("a record that was being written when the power failed\n")
	junkHash := sumtlog.RecordHash(junkRecord)
	cases := []struct {
		name  string
		crash func(t *testing.T, dir string)
	}{
		{"half a record", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, recordsFile), junkRecord[:20])
		}},
		{"record and half a hash", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, recordsFile), junkRecord)
			appendBytes(t, filepath.Join(dir, hashesFile), junkHash[:13])
		}},
		{"record and hashes, no index", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, recordsFile), junkRecord)
			appendBytes(t, filepath.Join(dir, hashesFile), junkHash[:])
		}},
		{"half an index entry", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, recordsFile), junkRecord)
			appendBytes(t, filepath.Join(dir, hashesFile), junkHash[:])
			appendBytes(t, filepath.Join(dir, indexFile), []byte{0, 0, 0})
		}},
		{"index entry past the records", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, recordsFile), junkRecord[:5])
			appendBytes(t, filepath.Join(dir, hashesFile), junkHash[:])
			appendBytes(t, filepath.Join(dir, indexFile), []byte{0, 0, 0, 0, 0, 1, 0, 0})
		}},
		{"zeroed index entry", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, indexFile), make([]byte, 8))
		}},
		{"torn checkpoint", func(t *testing.T, dir string) {
			appendBytes(t, filepath.Join(dir, checkpointsFile), []byte{0, 0, 0, 200, 'x'})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ref := &refTree{}
			l := openTestLog(t, dir)
			appendN(t, l, ref, 0, n, newRand())
			l.Close()
			lens := map[string]int64{}
			for _, f := range []string{recordsFile, indexFile, hashesFile, checkpointsFile} {
				lens[f] = fileLen(t, filepath.Join(dir, f))
			}
			tc.crash(t, dir)

			s, err := OpenFileStorage(dir)
			if err != nil {
				t.Fatal(err)
			}
			if s.Size() != n || s.Dropped() == 0 {
				t.Fatalf("size %d dropped %d, want %d and > 0", s.Size(), s.Dropped(), n)
			}
			for f, want := range lens {
				if got := fileLen(t, filepath.Join(dir, f)); got != want {
					t.Errorf("%s is %d bytes after recovery, want %d", f, got, want)
				}
			}
			l2, err := Open(s, testOrigin, testKey("log"))
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			appendN(t, l2, ref, n, n+50, newRand())
			p, err := l2.InclusionProof(n-1, n+50)
			if err != nil {
				t.Fatal(err)
			}
			if err := sumtlog.CheckRecord(p, n+50, ref.root(t, n+50), n-1, sumtlog.RecordHash(record(n-1))); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLostCommittedRecord removes bytes of a committed record: storage
// shrinks to what is intact, and the log refuses to open because that
// contradicts its last signed checkpoint.
func TestLostCommittedRecord(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir)
	appendN(t, l, nil, 0, 100, newRand())
	l.Close()
	rec := filepath.Join(dir, recordsFile)
	if err := os.Truncate(rec, fileLen(t, rec)-3); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Size() != 99 {
		t.Fatalf("size %d, want 99", s.Size())
	}
	if _, err := Open(s, testOrigin, testKey("log")); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Open: %v, want ErrInconsistent", err)
	}
}

// TestCorruptedLastRecord flips a byte of the last record: its leaf hash no
// longer matches, so it is treated as torn.
func TestCorruptedLastRecord(t *testing.T) {
	dir := t.TempDir()
	l := openTestLog(t, dir)
	appendN(t, l, nil, 0, 10, newRand())
	l.Close()
	rec := filepath.Join(dir, recordsFile)
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-2] ^= 1
	if err := os.WriteFile(rec, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Size() != 9 {
		t.Fatalf("size %d, want 9", s.Size())
	}
}

func TestReadRecordsBounds(t *testing.T) {
	l := openTestLog(t, t.TempDir())
	appendN(t, l, nil, 0, 5, newRand())
	for _, c := range [][2]int64{{-1, 1}, {0, 6}, {5, 1}, {4, -1}} {
		if _, err := l.s.ReadRecords(c[0], c[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("ReadRecords(%d, %d): %v", c[0], c[1], err)
		}
	}
	recs, err := l.s.ReadRecords(1, 3)
	if err != nil || len(recs) != 3 || string(recs[2]) != string(record(3)) {
		t.Fatalf("ReadRecords(1, 3): %q %v", recs, err)
	}
	if _, err := l.InclusionProof(5, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("InclusionProof(5, 5): %v", err)
	}
	if _, err := l.ConsistencyProof(0, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("ConsistencyProof(0, 5): %v", err)
	}
}
