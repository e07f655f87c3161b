package cli

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/tlog"
)

// logReleaseCmd is `silo log release`: publish a release binary's digest
// in the data dir's transparency log.
func logReleaseCmd(e *env) *cobra.Command {
	var lf localFlags
	var rf remoteFlags
	var binary, version string
	cmd := &cobra.Command{
		Use:   "release --binary PATH [--version V] [--server URL]",
		Short: "Append a silo release binary's sha256 to the transparency log (admin)",
		Long: `Hashes the binary and appends a release record (version and sha256, format in
internal/models/release.go) to the transparency log, unless it is there already, and
prints its index. Users check a binary with silo verify --server URL --release PATH.
The version defaults to the one built into the binary (-X .../cli.Version, else its
module version and VCS revision).

With --server, the running server appends it (POST /api/v1/log/releases, as an admin);
without, it is appended to the log in the data dir, which a running silo serve locks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sum, err := fileSHA256(binary)
			if err != nil {
				return err
			}
			if version == "" {
				if version = binaryVersion(binary); version == "" {
					return withHint(fmt.Errorf("no version found in %s", binary), "pass --version V")
				}
			}
			if !models.ValidReleaseVersion(version) {
				return fmt.Errorf("version %q: 1 to 128 printable characters without spaces", version)
			}
			if rf.server != "" {
				cl, err := e.client(&rf, true)
				if err != nil {
					return err
				}
				var p struct {
					Index    int64 `json:"index"`
					TreeSize int64 `json:"tree_size"`
				}
				if err := cl.Do(cmd.Context(), "POST", "/api/v1/log/releases", map[string]string{"version": version, "sha256": sum}, &p); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "release %s sha256 %s is in the log of %s at index %d (tree size %d)\n", version, sum, rf.server, p.Index, p.TreeSize)
				return nil
			}
			lg, err := models.OpenCertLog(filepath.Join(e.localDataDir(&lf), "log"))
			if err != nil {
				return withHint(err, "if silo serve is running, it holds the log: pass --server URL to have it append the release")
			}
			defer lg.Close()
			p, err := lg.AddRelease(version, sum)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "release %s sha256 %s is in log %s at index %d (tree size %d)\n", version, sum, lg.Origin(), p.Index, p.TreeSize)
			return nil
		},
	}
	addLocalFlags(cmd, &lf)
	addRemoteFlags(cmd, &rf)
	cmd.Flags().StringVar(&binary, "binary", "", "the release binary")
	cmd.Flags().StringVar(&version, "version", "", "the release's version (default: read from the binary)")
	cmd.MarkFlagRequired("binary")
	return cmd
}

// fileSHA256 is the lowercase hex sha256 of a file's bytes.
func fileSHA256(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", file, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// binaryVersion reads the version built into a silo binary: the value of
// -X .../cli.Version in its -ldflags, else its main module version with the
// VCS revision; "" if it is not a Go binary or says nothing.
func binaryVersion(file string) string {
	bi, err := buildinfo.ReadFile(file)
	if err != nil {
		return ""
	}
	rev := ""
	for _, s := range bi.Settings {
		switch s.Key {
		case "-ldflags":
			for _, f := range strings.Fields(s.Value) {
				if _, v, ok := strings.Cut(f, "/internal/cli.Version="); ok && models.ValidReleaseVersion(v) {
					return v
				}
			}
		case "vcs.revision":
			rev = s.Value
		}
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	if rev != "" {
		v += "+" + rev
	}
	if !models.ValidReleaseVersion(v) {
		return ""
	}
	return v
}

// verifyRelease checks that the sha256 of the binary at file is published
// as a release record in the log whose checkpoint tv accepted, proving the
// record's inclusion from the log's tiles.
func (e *env) verifyRelease(ctx context.Context, tv *tlog.Verifier, fetch tlog.FetchFunc, file string) error {
	sum, err := fileSHA256(file)
	if err != nil {
		return err
	}
	return e.verifyReleaseDigest(tv, fetch, sum, file)
}

// verifyReleaseDigest checks that sum (of the binary named label) is a
// release recorded in the log under tv's checkpoint, proving the record's
// inclusion.
func (e *env) verifyReleaseDigest(tv *tlog.Verifier, fetch tlog.FetchFunc, sum, label string) error {
	cp, _ := tv.Last()
	found, err := models.FindReleases(fetch, cp.Size, sum)
	if err != nil {
		return err
	}
	var last error
	for _, r := range found {
		if err := tv.VerifyInclusion(r.Record, r.Index); err != nil {
			last = err
			continue
		}
		fmt.Fprintf(e.stdout, "release %s: sha256 %s is in the log at index %d (inclusion proved)\n", r.Version, sum, r.Index)
		return nil
	}
	if last != nil {
		return fmt.Errorf("release %s: a record of sha256 %s was served but its inclusion does not verify: %w", label, sum, last)
	}
	return errors.New("release " + label + ": sha256 " + sum + " is NOT in the server's log: not a published silo release")
}
