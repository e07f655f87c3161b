package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

const testOrigin = "silo.test/log"

func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("silo tlog test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func openTestLog(t testing.TB, dir string) *Log {
	t.Helper()
	s, err := OpenFileStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(s, testOrigin, testKey("log"))
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func record(i int) []byte { return fmt.Appendf(nil, "record %d\n", i) }

// refTree is an in-memory reference tree built directly with
// golang.org/x/mod/sumdb/tlog, independent of Log and FileStorage.
type refTree struct {
	hashes []sumtlog.Hash
	n      int64
}

func (r *refTree) ReadHashes(indexes []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(r.hashes)) {
			return nil, fmt.Errorf("ref: no hash %d", x)
		}
		out[i] = r.hashes[x]
	}
	return out, nil
}

func (r *refTree) add(t testing.TB, rec []byte) {
	hs, err := sumtlog.StoredHashes(r.n, rec, r)
	if err != nil {
		t.Fatal(err)
	}
	r.hashes = append(r.hashes, hs...)
	r.n++
}

func (r *refTree) root(t testing.TB, n int64) sumtlog.Hash {
	h, err := sumtlog.TreeHash(n, r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// appendN appends records [from, to) in batches of varying size, checking
// each returned proof with sumdb/tlog.CheckRecord against the reference tree
// (or, if ref is nil, against the log's own tree hash).
func appendN(t testing.TB, l *Log, ref *refTree, from, to int, rng *rand.Rand) {
	t.Helper()
	for i := from; i < to; {
		k := 1 + rng.IntN(200)
		if i+k > to {
			k = to - i
		}
		var batch [][]byte
		for j := 0; j < k; j++ {
			batch = append(batch, record(i+j))
			if ref != nil {
				ref.add(t, record(i+j))
			}
		}
		first, proofs, err := l.AppendBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		if first != int64(i) {
			t.Fatalf("batch at %d got first index %d", i, first)
		}
		size := int64(i + k)
		for j, p := range proofs {
			if p.Index != int64(i+j) || p.TreeSize != size {
				t.Fatalf("proof %d: index %d size %d, want %d %d", i+j, p.Index, p.TreeSize, i+j, size)
			}
			var root sumtlog.Hash
			if ref != nil {
				root = ref.root(t, size)
			} else if root, err = l.Hash(size); err != nil {
				t.Fatal(err)
			}
			if err := sumtlog.CheckRecord(p.Proof, size, root, p.Index, sumtlog.RecordHash(batch[j])); err != nil {
				t.Fatalf("append proof %d: %v", i+j, err)
			}
		}
		i += k
	}
}

// TestTenThousandAppends appends 10,000 records and checks random inclusion
// and consistency proofs, the checkpoint and the tiles against
// golang.org/x/mod/sumdb/tlog (CheckRecord, CheckTree, ReadTileData).
func TestTenThousandAppends(t *testing.T) {
	const total = 10000
	l := openTestLog(t, t.TempDir())
	ref := &refTree{}
	rng := rand.New(rand.NewPCG(1, 2))
	appendN(t, l, ref, 0, total-64, rng)

	// The last records come from concurrent Appends (group commit).
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int64][]byte{}
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := fmt.Appendf(nil, "concurrent %d\n", g)
			idx, p, err := l.Append(rec)
			if err != nil {
				t.Error(err)
				return
			}
			if p.Index != idx || p.TreeSize <= idx {
				t.Errorf("proof for %d: %+v", idx, p)
			}
			mu.Lock()
			got[idx] = rec
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(got) != 64 {
		t.Fatalf("got %d concurrent indexes, want 64", len(got))
	}
	for i := int64(total - 64); i < total; i++ {
		rec, ok := got[i]
		if !ok {
			t.Fatalf("no concurrent record at %d", i)
		}
		ref.add(t, rec)
	}
	if l.Size() != total {
		t.Fatalf("size %d, want %d", l.Size(), total)
	}

	t.Run("inclusion", func(t *testing.T) {
		for k := 0; k < 300; k++ {
			size := 1 + rng.Int64N(total)
			idx := rng.Int64N(size)
			p, err := l.InclusionProof(idx, size)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := l.Record(idx)
			if err != nil {
				t.Fatal(err)
			}
			if err := sumtlog.CheckRecord(p, size, ref.root(t, size), idx, sumtlog.RecordHash(rec)); err != nil {
				t.Fatalf("record %d in %d: %v", idx, size, err)
			}
			if err := sumtlog.CheckRecord(p, size, ref.root(t, size), idx, sumtlog.RecordHash([]byte("forged\n"))); err == nil {
				t.Fatalf("forged record %d in %d verified", idx, size)
			}
		}
	})
	t.Run("consistency", func(t *testing.T) {
		for k := 0; k < 300; k++ {
			newSize := 1 + rng.Int64N(total)
			oldSize := 1 + rng.Int64N(newSize)
			p, err := l.ConsistencyProof(oldSize, newSize)
			if err != nil {
				t.Fatal(err)
			}
			if err := sumtlog.CheckTree(p, newSize, ref.root(t, newSize), oldSize, ref.root(t, oldSize)); err != nil {
				t.Fatalf("%d -> %d: %v", oldSize, newSize, err)
			}
		}
	})
	t.Run("checkpoint", func(t *testing.T) {
		c, _, err := OpenCheckpoint(l.Checkpoint(), testOrigin, note.VerifierList(l.Verifier()))
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != total || c.Hash != ref.root(t, total) {
			t.Fatalf("checkpoint %d %v, want %d %v", c.Size, c.Hash, total, ref.root(t, total))
		}
	})
	t.Run("tiles", func(t *testing.T) {
		// Every tile needed for the final size and for an earlier size.
		for _, size := range []int64{total, 4321} {
			for _, st := range sumtlog.NewTiles(TileHeight, 0, size) {
				want, err := sumtlog.ReadTileData(st, ref)
				if err != nil {
					t.Fatal(err)
				}
				tile := Tile{Level: st.L, N: st.N, Width: st.W}
				got, err := l.ReadTile(tile.Path())
				if err != nil {
					t.Fatalf("%s: %v", tile.Path(), err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s differs from sumdb/tlog.ReadTileData", tile.Path())
				}
				if st.L != 0 {
					continue
				}
				tile.Level = -1
				bundle, err := l.ReadTile(tile.Path())
				if err != nil {
					t.Fatalf("%s: %v", tile.Path(), err)
				}
				recs, err := ParseEntryBundle(bundle)
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != st.W {
					t.Fatalf("%s: %d entries, want %d", tile.Path(), len(recs), st.W)
				}
				for i, r := range recs {
					if h := sumtlog.RecordHash(r); !bytes.Equal(h[:], want[i*32:(i+1)*32]) {
						t.Fatalf("%s entry %d does not hash to the level 0 tile", tile.Path(), i)
					}
				}
			}
		}
		// Tiles beyond the tree are not found.
		for _, p := range []string{"tile/0/039", "tile/1/001", "tile/0/039.p/17", "tile/entries/040", "tile/2/000"} {
			if _, err := l.ReadTile(p); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s: err %v, want ErrNotFound", p, err)
			}
		}
	})
}

func TestAppendRejectsLargeRecord(t *testing.T) {
	l := openTestLog(t, t.TempDir())
	if _, _, err := l.Append(make([]byte, MaxRecordSize+1)); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("err %v, want ErrRecordTooLarge", err)
	}
	if _, _, err := l.Append(make([]byte, MaxRecordSize)); err != nil {
		t.Fatal(err)
	}
	b, err := l.ReadTile("tile/entries/000.p/1")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ParseEntryBundle(b)
	if err != nil || len(recs) != 1 || len(recs[0]) != MaxRecordSize {
		t.Fatalf("bundle: %d records, err %v", len(recs), err)
	}
}

func TestEmptyLogCheckpoint(t *testing.T) {
	l := openTestLog(t, t.TempDir())
	c, _, err := OpenCheckpoint(l.Checkpoint(), testOrigin, note.VerifierList(l.Verifier()))
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(nil); c.Size != 0 || c.Hash != sumtlog.Hash(want) {
		t.Fatalf("empty checkpoint %d %v, want 0 and SHA-256 of nothing", c.Size, c.Hash)
	}
}
