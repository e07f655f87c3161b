package models

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/silo-ai/silo/internal/tlog"
)

// Release digests
//
// The digest of each silo release binary can be published in the same
// transparency log as certificates (CertLog.AddRelease, `silo log release`),
// so a user can check that the binary they run is one the operator
// published (`silo verify --server URL --release PATH`), and a binary
// published for some users only would show in the log for all. A release
// record is the text
//
//	silo-release/v1
//	name silo release
//	version <version: 1 to 128 printable ASCII characters, no space>
//	sha256 <64 lowercase hex digits of the binary>
//
// each line ending in "\n". Like a TOFU record it is not JSON, so it never
// parses as a DSSE envelope and never counts as a certificate; and its
// header differs from the TOFU record's, so neither is taken for the other.

const releaseHeader = "silo-release/v1\nname silo release\n"

// maxReleaseVersion bounds a release version string.
const maxReleaseVersion = 128

// maxReleaseRecord bounds a release record.
const maxReleaseRecord = len(releaseHeader) + len("version \nsha256 \n") + maxReleaseVersion + 64

// ValidReleaseVersion reports whether v may name a release in the log: 1 to
// 128 printable ASCII characters without spaces.
func ValidReleaseVersion(v string) bool {
	if v == "" || len(v) > maxReleaseVersion {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] > '~' {
			return false
		}
	}
	return true
}

// ReleaseRecord returns the log record of a silo release binary with the
// given version and sha256 (lowercase hex).
func ReleaseRecord(version, sum string) ([]byte, error) {
	if !ValidReleaseVersion(version) {
		return nil, fmt.Errorf("models: release record: version %q is not 1 to %d printable characters without spaces", version, maxReleaseVersion)
	}
	if !validDigest(sum) {
		return nil, fmt.Errorf("models: release record: sha256 %q is not 64 lowercase hex digits", sum)
	}
	return fmt.Appendf(nil, "%sversion %s\nsha256 %s\n", releaseHeader, version, sum), nil
}

// ParseReleaseRecord parses a release record; ok is false for anything else
// (a certificate envelope, a TOFU record). Only the exact form ReleaseRecord
// writes is accepted.
func ParseReleaseRecord(b []byte) (version, sum string, ok bool) {
	if len(b) > maxReleaseRecord {
		return "", "", false
	}
	rest, found := bytes.CutPrefix(b, []byte(releaseHeader))
	if !found || !bytes.HasSuffix(rest, []byte("\n")) {
		return "", "", false
	}
	lines := strings.Split(string(rest[:len(rest)-1]), "\n")
	if len(lines) != 2 {
		return "", "", false
	}
	version, ok1 := strings.CutPrefix(lines[0], "version ")
	sum, ok2 := strings.CutPrefix(lines[1], "sha256 ")
	if !ok1 || !ok2 || !ValidReleaseVersion(version) || !validDigest(sum) {
		return "", "", false
	}
	return version, sum, true
}

// AddRelease appends the release record of version and sum to the log
// unless it is there already, and returns its inclusion proof.
func (c *CertLog) AddRelease(version, sum string) (tlog.InclusionProof, error) {
	rec, err := ReleaseRecord(version, sum)
	if err != nil {
		return tlog.InclusionProof{}, err
	}
	p, err := c.Add(rec)
	if err != nil {
		return tlog.InclusionProof{}, fmt.Errorf("models: log release: %w", err)
	}
	return p, nil
}

// LoggedRelease is a release record found in a log.
type LoggedRelease struct {
	Index   int64
	Version string
	Record  []byte
}

// FindReleases reads the entry bundles of a log of size entries through
// fetch (C2SP tlog-tiles paths) and returns the release records whose
// sha256 is sum, in log order. The records are as the server sent them:
// the caller must still prove each one's inclusion (tlog.Verifier's
// VerifyInclusion) against a checkpoint it accepted for that size.
func FindReleases(fetch tlog.FetchFunc, size int64, sum string) ([]LoggedRelease, error) {
	if !validDigest(sum) {
		return nil, fmt.Errorf("models: find releases: sha256 %q is not 64 lowercase hex digits", sum)
	}
	const width = int64(1) << tlog.TileHeight
	var out []LoggedRelease
	for n := int64(0); n*width < size; n++ {
		w := min(size-n*width, width)
		path := tlog.Tile{Level: -1, N: n, Width: int(w)}.Path()
		b, err := fetch(path)
		if err != nil {
			return nil, fmt.Errorf("models: find releases: %w", err)
		}
		recs, err := tlog.ParseEntryBundle(b)
		if err != nil {
			return nil, fmt.Errorf("models: find releases: %s: %w", path, err)
		}
		if int64(len(recs)) != w {
			return nil, fmt.Errorf("models: find releases: %s: %d entries, want %d: %w", path, len(recs), w, errBadBundle)
		}
		for i, r := range recs {
			if v, s, ok := ParseReleaseRecord(r); ok && s == sum {
				out = append(out, LoggedRelease{Index: n*width + int64(i), Version: v, Record: r})
			}
		}
	}
	return out, nil
}

var errBadBundle = errors.New("malformed entry bundle")
