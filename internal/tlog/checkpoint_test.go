package tlog

import (
	"crypto/ed25519"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

func TestParseCheckpoint(t *testing.T) {
	const hash = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="
	good := []string{
		"example.com/behind-the-sofa\n20852163\n" + hash + "\n",
		"o\n0\n" + hash + "\n",
		"o\n1\n" + hash + "\nextension\n",
	}
	for _, g := range good {
		c, err := ParseCheckpoint([]byte(g))
		if err != nil {
			t.Errorf("%q: %v", g, err)
			continue
		}
		if c.String() != g {
			t.Errorf("%q formats as %q", g, c.String())
		}
	}
	bad := []string{
		"", "o\n1\n" + hash, "o\n1\n", "\n1\n" + hash + "\n", "o\n01\n" + hash + "\n",
		"o\n-1\n" + hash + "\n", "o\n+1\n" + hash + "\n", "o\n1\nAAAA\n", "o\n1\n" + hash + "\n\n",
		"o\n99999999999999999999\n" + hash + "\n", "o\n1\n" + strings.TrimSuffix(hash, "=") + "\n",
		"o\x01\n1\n" + hash + "\n", "o\n1\n" + hash + "\n\xff\n",
	}
	for _, b := range bad {
		if _, err := ParseCheckpoint([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v, want ErrMalformed", b, err)
		}
	}
}

// TestCosignedCheckpointVector opens testdata/cosigned_checkpoint.txt, a
// checkpoint signed by the test log key and cosigned (cosignature/v1) by the
// test witness key at time 1700000000, so the formats cannot drift.
func TestCosignedCheckpointVector(t *testing.T) {
	b, err := os.ReadFile("testdata/cosigned_checkpoint.txt")
	if err != nil {
		t.Fatal(err)
	}
	logV, err := NewNoteVerifier(testOrigin, testKey("log").Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	wv, err := NewCosignatureVerifier("witness.test/w1", testKey("witness").Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	c, n, err := OpenCheckpoint(b, testOrigin, note.VerifierList(logV, wv))
	if err != nil {
		t.Fatal(err)
	}
	if c.Size != 300 || len(n.Sigs) != 2 {
		t.Fatalf("size %d, %d signatures", c.Size, len(n.Sigs))
	}
	ts, err := CosignatureTime(n.Sigs[1])
	if err != nil || !ts.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("time %v %v", ts, err)
	}
	// A cosignature does not verify as a plain note signature by the same
	// key, nor with another timestamp.
	tampered := strings.Replace(string(b), "AAAABlU/EA", "AAAABlU/EB", 1)
	if _, _, err := OpenCheckpoint([]byte(tampered), testOrigin, note.VerifierList(logV, wv)); err == nil {
		t.Fatal("cosignature with a changed timestamp verified")
	}
}

func TestTilePath(t *testing.T) {
	cases := []struct {
		path string
		tile Tile
	}{
		{"tile/0/000", Tile{0, 0, 256}},
		{"tile/0/x001/x234/067", Tile{0, 1234067, 256}},
		{"tile/0/x001/x234/067.p/8", Tile{0, 1234067, 8}},
		{"tile/3/999.p/255", Tile{3, 999, 255}},
		{"tile/entries/x001/000", Tile{-1, 1000, 256}},
		{"tile/entries/000.p/1", Tile{-1, 0, 1}},
	}
	for _, c := range cases {
		got, err := ParseTilePath(c.path)
		if err != nil || got != c.tile {
			t.Errorf("ParseTilePath(%q) = %+v, %v; want %+v", c.path, got, err, c.tile)
		}
		if p := c.tile.Path(); p != c.path {
			t.Errorf("%+v.Path() = %q, want %q", c.tile, p, c.path)
		}
	}
	for _, bad := range []string{
		"tile/0/00", "tile/0/0000", "tile/00/000", "tile/64/000", "tile/0/000.p/0", "tile/0/000.p/256",
		"tile/0/000.p/08", "tile/0/001/002", "tile/0/x000/001", "tile/0/x1/002", "tile/entries", "tile/data/000",
		"tiles/0/000", "tile/0/000/", "tile/0/x999/x999/x999/x999/x999/x999/x999/999", "tile/-1/000",
	} {
		if _, err := ParseTilePath(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseTilePath(%q): %v, want ErrMalformed", bad, err)
		}
	}
}
