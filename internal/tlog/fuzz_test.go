package tlog

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func FuzzParseCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := ParseCheckpoint(text)
		if err != nil {
			return
		}
		if got := c.String(); got != string(text) {
			t.Fatalf("round trip: %q -> %q", text, got)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	logV, err := NewNoteVerifier(testOrigin, testKey("log").Public().(ed25519.PublicKey))
	if err != nil {
		f.Fatal(err)
	}
	cosigner, err := NewCosignatureSigner("witness.test/w1", testKey("witness"), nil)
	if err != nil {
		f.Fatal(err)
	}
	known := note.VerifierList(logV, cosigner.Verifier())
	f.Fuzz(func(t *testing.T, signed []byte) {
		c, n, err := OpenCheckpoint(signed, testOrigin, known)
		if err != nil {
			return
		}
		if c.Origin != testOrigin || len(n.Sigs) == 0 {
			t.Fatalf("opened %+v with %d signatures", c, len(n.Sigs))
		}
		for _, s := range n.Sigs {
			if s.Name == "witness.test/w1" {
				if _, err := CosignatureTime(s); err != nil {
					t.Fatalf("verified cosignature without a time: %v", err)
				}
			}
		}
	})
}

func FuzzParseTilePath(f *testing.F) {
	f.Fuzz(func(t *testing.T, path []byte) {
		tile, err := ParseTilePath(string(path))
		if err != nil {
			return
		}
		if tile.Width < 1 || tile.Width > 256 || tile.N < 0 || tile.Level < -1 || tile.Level > 63 {
			t.Fatalf("%q parsed to out-of-range %+v", path, tile)
		}
		if got := tile.Path(); got != string(path) {
			t.Fatalf("round trip: %q -> %q", path, got)
		}
	})
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		old, proof, signed, err := ParseAddCheckpoint(body)
		if err != nil {
			return
		}
		if got := FormatAddCheckpoint(old, proof, signed); !bytes.Equal(got, body) {
			t.Fatalf("round trip: %q -> %q", body, got)
		}
	})
}

func FuzzParseEntryBundle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ParseEntryBundle(data)
		if err != nil {
			return
		}
		var out []byte
		for _, r := range recs {
			out = append(out, byte(len(r)>>8), byte(len(r)))
			out = append(out, r...)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("round trip differs")
		}
	})
}
