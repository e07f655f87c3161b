package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"

	"github.com/silo-ai/silo/internal/provenance"
)

const testReleaseSum = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestReleaseRecordIsNeverACertificate: a release record round-trips, is
// neither a DSSE envelope nor a TOFU record, and bad versions or digests
// are refused.
func TestReleaseRecordIsNeverACertificate(t *testing.T) {
	rec, err := ReleaseRecord("v1.2.3", testReleaseSum)
	if err != nil {
		t.Fatal(err)
	}
	if v, s, ok := ParseReleaseRecord(rec); !ok || v != "v1.2.3" || s != testReleaseSum {
		t.Fatalf("round trip: %q %q %v", v, s, ok)
	}
	if _, err := provenance.ParseEnvelope(rec); err == nil {
		t.Error("a release record parsed as a DSSE envelope")
	}
	if _, _, _, ok := ParseTOFURecord(rec); ok {
		t.Error("a release record parsed as a TOFU record")
	}
	if _, _, ok := ParseReleaseRecord(TOFURecord("silo", "v1", testReleaseSum)); ok {
		t.Error("a TOFU record parsed as a release record")
	}
	for _, v := range []string{"", "v 1", "v1\nsha256", string(bytes.Repeat([]byte("a"), 129)), "v\x7f"} {
		if _, err := ReleaseRecord(v, testReleaseSum); err == nil {
			t.Errorf("version %q accepted", v)
		}
	}
	if _, err := ReleaseRecord("v1", "ABCDEF"); err == nil {
		t.Error("a bad digest was accepted")
	}
}

// TestFindReleases: release records appended among certificates and TOFU
// records, across a full tile, are found by digest through the log's
// tiles, and each one's inclusion verifies against the log's checkpoint.
func TestFindReleases(t *testing.T) {
	c, err := OpenCertLog(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	other := sha256.Sum256([]byte("other"))
	otherSum := hex.EncodeToString(other[:])
	c.Add(TOFURecord("m", "https://x/m.gguf", testReleaseSum))
	if _, err := c.AddRelease("v1", testReleaseSum); err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		c.Add([]byte{byte(i), byte(i >> 8), 'x'})
	}
	p, err := c.AddRelease("v2", otherSum)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := c.AddRelease("v2", otherSum); err != nil || p2.Index != p.Index {
		t.Errorf("appending the same release again: index %d, %v (want %d)", p2.Index, err, p.Index)
	}
	size := c.Log().Size()
	got, err := FindReleases(c.Log().ReadTile, size, otherSum)
	if err != nil || len(got) != 1 || got[0].Version != "v2" || got[0].Index != p.Index {
		t.Fatalf("FindReleases = %+v, %v", got, err)
	}
	if err := VerifyInclusion(p, got[0].Record, c.Origin(), c.Log().Verifier()); err != nil {
		t.Error(err)
	}
	if got, err := FindReleases(c.Log().ReadTile, size, testReleaseSum); err != nil || len(got) != 1 || got[0].Index != 1 {
		t.Errorf("the release beside a TOFU record of the same digest: %+v, %v", got, err)
	}
	missing := sha256.Sum256([]byte("missing"))
	if got, err := FindReleases(c.Log().ReadTile, size, hex.EncodeToString(missing[:])); err != nil || len(got) != 0 {
		t.Errorf("an unpublished digest: %+v, %v", got, err)
	}
}

// FuzzParseReleaseRecord: no log record panics the parser; what it accepts
// has a valid version and digest and formats back to the same bytes.
func FuzzParseReleaseRecord(f *testing.F) {
	rec, _ := ReleaseRecord("v1.2.3", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Add(rec)
	f.Add([]byte("silo-release/v1\nname silo release\nversion a b\nsha256 00\n"))
	f.Add(TOFURecord("qwen", "hf://o/r/q.gguf", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, sum, ok := ParseReleaseRecord(b)
		if !ok {
			return
		}
		got, err := ReleaseRecord(v, sum)
		if err != nil || string(got) != string(b) {
			t.Fatalf("round trip %q -> %q, %v", b, got, err)
		}
	})
}
