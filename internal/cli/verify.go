package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/provenance"
	"github.com/silo-ai/silo/internal/tlog"
)

// logFetch returns a tlog.FetchFunc reading the server's /log/ tiles.
func logFetch(ctx context.Context, cl *client.Client) tlog.FetchFunc {
	return func(path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, cl.BaseURL+"/log/"+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := cl.HTTP.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusOK:
			return b, nil
		case http.StatusNotFound:
			return nil, fmt.Errorf("GET /log/%s: %w", path, tlog.ErrNotFound)
		}
		return nil, fmt.Errorf("GET /log/%s: %s", path, resp.Status)
	}
}

// logState is where the CLI keeps what it learnt about a server's log: the
// log key (trusted on first use unless pinned) and the last checkpoint.
func (e *env) logState(server string) string {
	sum := sha256.Sum256([]byte(strings.TrimRight(server, "/")))
	return filepath.Join(e.configDir(), "logs", hex.EncodeToString(sum[:8]))
}

// logVerifier sets up a tlog.Verifier for the server's log. The log key is
// --log-key if given, else the one remembered for this server, else (first
// use) the one the server publishes at /log/key, which is then remembered:
// a later change of key is refused.
func (e *env) logVerifier(ctx context.Context, cl *client.Client, pinned string) (*tlog.Verifier, string, note.Verifier, error) {
	dir := e.logState(cl.BaseURL)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", nil, err
	}
	keyFile := filepath.Join(dir, "log.key")
	vkey := pinned
	saved, err := os.ReadFile(keyFile)
	switch {
	case err == nil && vkey != "" && strings.TrimSpace(string(saved)) != vkey:
		return nil, "", nil, fmt.Errorf("log key %q differs from the one remembered in %s", vkey, keyFile)
	case err == nil:
		vkey = strings.TrimSpace(string(saved))
	case errors.Is(err, os.ErrNotExist) && vkey == "":
		b, err := logFetch(ctx, cl)("key")
		if err != nil {
			return nil, "", nil, fmt.Errorf("fetch the log key: %w", err)
		}
		vkey = strings.TrimSpace(string(b))
		fmt.Fprintf(e.stderr, "silo: trusting the log key %s on first use (pin it with --log-key)\n", vkey)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, "", nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, "", nil, fmt.Errorf("log key %q: %w", vkey, err)
	}
	if err := os.WriteFile(keyFile, []byte(vkey+"\n"), 0o600); err != nil {
		return nil, "", nil, err
	}
	origin := v.Name()
	tv, err := tlog.NewVerifier(tlog.VerifierConfig{Origin: origin, LogKey: v,
		StatePath: filepath.Join(dir, "checkpoint"), Fetch: logFetch(ctx, cl)})
	if err != nil {
		return nil, "", nil, err
	}
	return tv, origin, v, nil
}

func verifyCmd(e *env) *cobra.Command {
	var rf remoteFlags
	var lf localFlags
	var logKey, release string
	cmd := &cobra.Command{
		Use:   "verify [MODEL...]",
		Short: "Verify models against the trust policy, or a server's log and models",
		Long: `With MODEL names: check those models of the local models directory against the
trust policy (--policy or SILO_POLICY), hashing their files.

With --server (or the server of silo login): fetch the server's transparency log
checkpoint and prove it consistent with the last one this CLI accepted (a truncated,
rewritten or forked log is refused), then, with an API key and --policy, check every
model's certificate: fetched from the log itself, proved included, and evaluated
against the policy with the digest the server reports. With --release PATH: also
check that the sha256 of that binary is published as a silo release in the log
(silo log release), proving the record's inclusion.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return e.verifyLocal(cmd.Context(), &lf, args)
			}
			return e.verifyServer(cmd.Context(), &rf, &lf, logKey, release)
		},
	}
	addRemoteFlags(cmd, &rf)
	addLocalFlags(cmd, &lf)
	cmd.Flags().StringVar(&lf.policy, "policy", "", "trust policy file (env SILO_POLICY)")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the log's signed-note verifier key (default: trusted on first use from /log/key)")
	cmd.Flags().StringVar(&release, "release", "", "a silo binary whose sha256 must be a release published in the server's log")
	return cmd
}

func (e *env) verifyLocal(ctx context.Context, lf *localFlags, names []string) error {
	st, err := e.modelStore(lf)
	if err != nil {
		return err
	}
	c, err := e.localChecker(st, lf)
	if err != nil {
		return err
	}
	if c.Policy == nil {
		return withHint(errors.New("no trust policy to verify against"), "pass --policy FILE or set SILO_POLICY")
	}
	enforce := *c.Policy
	enforce.Mode = provenance.ModeEnforce
	c.Policy = &enforce
	failed := 0
	for _, n := range names {
		p, err := st.Path(n)
		if err != nil {
			return err
		}
		v := c.Check(ctx, n, p)
		fmt.Fprintf(e.stdout, "%s: %s: %s\n", n, v.Status, v.Reason)
		if v.Status != models.StatusVerified {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models failed verification", failed, len(names))
	}
	return nil
}

func (e *env) verifyServer(ctx context.Context, rf *remoteFlags, lf *localFlags, logKey, release string) error {
	cfg := e.resolve(rf)
	cl, err := client.New(cfg.Server, cfg.APIKey, cfg.CA)
	if err != nil {
		return err
	}
	tv, origin, _, err := e.logVerifier(ctx, cl, logKey)
	if err != nil {
		return err
	}
	prev, had := tv.Last()
	cp, err := tv.Update()
	if err != nil {
		if errors.Is(err, tlog.ErrInconsistent) {
			return fmt.Errorf("the server's log is NOT consistent with the checkpoint seen before (size %d): it was truncated, rewritten or forked: %w", prev.Size, err)
		}
		return err
	}
	if had {
		fmt.Fprintf(e.stdout, "log %s: size %d, consistent with the last checkpoint seen (size %d)\n", origin, cp.Size, prev.Size)
	} else {
		fmt.Fprintf(e.stdout, "log %s: size %d (first checkpoint seen; remembered for the next run)\n", origin, cp.Size)
	}
	if release != "" {
		if err := e.verifyRelease(ctx, tv, logFetch(ctx, cl), release); err != nil {
			return err
		}
	}
	file := lf.policy
	if file == "" {
		file = e.getenv("SILO_POLICY")
	}
	if file == "" || cfg.APIKey == "" {
		return nil
	}
	pol, err := models.LoadPolicy(file)
	if err != nil {
		return err
	}
	enforce := *pol
	enforce.Mode = provenance.ModeEnforce
	var list struct {
		Models []struct {
			ID     string `json:"id"`
			Engine string `json:"engine"`
			Served bool   `json:"served"`
		} `json:"models"`
	}
	if err := cl.Do(ctx, "GET", "/api/v1/models", nil, &list); err != nil {
		return err
	}
	failed, checked := 0, 0
	for _, m := range list.Models {
		if m.Engine != "builtin" {
			continue
		}
		checked++
		var d struct {
			SHA256 string `json:"sha256"`
			Log    *struct {
				Index int64 `json:"index"`
			} `json:"log"`
		}
		if err := cl.Do(ctx, "GET", "/api/v1/models/"+m.ID, nil, &d); err != nil {
			return err
		}
		reason := e.verifyServerModel(tv, logFetch(ctx, cl), &enforce, m.ID, d.SHA256, d.Log)
		if reason != "" {
			failed++
			fmt.Fprintf(e.stdout, "%s: FAILED: %s\n", m.ID, reason)
			continue
		}
		fmt.Fprintf(e.stdout, "%s: verified (certificate in the log, policy passed)\n", m.ID)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d models failed verification", failed, checked)
	}
	return nil
}

// verifyServerModel checks one model as the server reports it; it returns
// why it fails, or "".
func (e *env) verifyServerModel(tv *tlog.Verifier, fetch tlog.FetchFunc, p *provenance.Policy, name, sum string, lg *struct {
	Index int64 `json:"index"`
}) string {
	if lg == nil {
		return "its certificate is not in the log"
	}
	cp, _ := tv.Last()
	if lg.Index >= cp.Size {
		return fmt.Sprintf("log index %d beyond the checkpoint (size %d)", lg.Index, cp.Size)
	}
	// Read the record from the entry bundle, then prove it is the log's
	// entry at that index under the accepted checkpoint.
	n := lg.Index / (1 << tlog.TileHeight)
	w := cp.Size - n*(1<<tlog.TileHeight)
	if w > 1<<tlog.TileHeight {
		w = 1 << tlog.TileHeight
	}
	bundle, err := fetch(tlog.Tile{Level: -1, N: n, Width: int(w)}.Path())
	if err != nil {
		return err.Error()
	}
	recs, err := tlog.ParseEntryBundle(bundle)
	if err != nil || int64(len(recs)) != w {
		return fmt.Sprintf("bad entry bundle: %v", err)
	}
	rec := recs[lg.Index%(1<<tlog.TileHeight)]
	if err := tv.VerifyInclusion(rec, lg.Index); err != nil {
		return err.Error()
	}
	d := provenance.Evaluate(p, provenance.Input{Model: name, Envelope: rec,
		Files: map[string]string{name + models.Extension: sum}, Log: &provenance.LogEvidence{Included: true}})
	if !d.Passed {
		return d.Reason
	}
	return ""
}

func logCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "log", Short: "Transparency log: witness a server's log, publish release digests"}
	cmd.AddCommand(logWitnessCmd(e), logReleaseCmd(e))
	return cmd
}

func logWitnessCmd(e *env) *cobra.Command {
	var rf remoteFlags
	var keyFile, name, state, logKey string
	var submit bool
	cmd := &cobra.Command{
		Use:   "witness --key FILE --name NAME",
		Short: "Cosign the server's current log checkpoint if it is consistent with the last one this witness cosigned",
		Long: `Fetches the log's checkpoint, proves it consistent (from the log's tiles) with the last
checkpoint this witness cosigned for the same log, records it, and prints the C2SP
tlog-cosignature line. An inconsistent checkpoint is refused and nothing is recorded.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg := e.resolve(&rf)
			cl, err := client.New(cfg.Server, "", cfg.CA)
			if err != nil {
				return err
			}
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			key, err := provenance.ParsePrivateKey(kb)
			if err != nil {
				return fmt.Errorf("key %s: %w", keyFile, err)
			}
			_, origin, lv, err := e.logVerifier(ctx, cl, logKey)
			if err != nil {
				return err
			}
			if state == "" {
				state = filepath.Join(e.configDir(), "witness.json")
			}
			w, err := tlog.NewWitness(tlog.WitnessConfig{Name: name, Key: key, Logs: map[string]note.Verifier{origin: lv}, StatePath: state})
			if err != nil {
				return err
			}
			fetch := logFetch(ctx, cl)
			signed, err := fetch("checkpoint")
			if err != nil {
				return err
			}
			cp, _, err := tlog.OpenCheckpoint(signed, origin, note.VerifierList(lv))
			if err != nil {
				return err
			}
			oldSize, _ := w.Latest(origin)
			var proof sumtlog.TreeProof
			if oldSize > 0 && oldSize <= cp.Size {
				hr := sumtlog.TileHashReader(sumtlog.Tree{N: cp.Size, Hash: cp.Hash}, tileFetcher(fetch))
				if proof, err = sumtlog.ProveTree(cp.Size, oldSize, hr); err != nil {
					return fmt.Errorf("consistency proof from size %d: %w", oldSize, err)
				}
			}
			line, err := w.Cosign(oldSize, proof, signed)
			if err != nil {
				return fmt.Errorf("refusing to cosign %s at size %d: %w", origin, cp.Size, err)
			}
			fmt.Fprintf(e.stderr, "cosigned %s at size %d (previously %d)\n", origin, cp.Size, oldSize)
			if _, err := e.stdout.Write(line); err != nil {
				return err
			}
			if !submit {
				return nil
			}
			if cfg.APIKey == "" {
				return withHint(errors.New("--submit needs an admin API key"), "run `silo login`, or set SILO_API_KEY")
			}
			acl, err := client.New(cfg.Server, cfg.APIKey, cfg.CA)
			if err != nil {
				return err
			}
			cosigned := append(append([]byte(nil), signed...), line...)
			if err := acl.Do(ctx, "POST", "/api/v1/log/cosignatures", map[string]string{"checkpoint": string(cosigned)}, nil); err != nil {
				return fmt.Errorf("submit the cosignature: %w", err)
			}
			fmt.Fprintln(e.stderr, "cosignature added to the server's checkpoint")
			return nil
		},
	}
	addRemoteFlags(cmd, &rf)
	cmd.Flags().StringVar(&keyFile, "key", "", "the witness's Ed25519 private key")
	cmd.Flags().StringVar(&name, "name", "", "the witness's name, e.g. witness.example.org/w1")
	cmd.Flags().StringVar(&state, "state", "", "the witness's state file (default <config>/witness.json)")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the log's signed-note verifier key (default: trusted on first use)")
	cmd.Flags().BoolVar(&submit, "submit", false, "also add the cosignature to the server's checkpoint (needs an admin API key)")
	cmd.MarkFlagRequired("key")
	cmd.MarkFlagRequired("name")
	return cmd
}

// tileFetcher reads hash tiles through a FetchFunc for sumdb/tlog, which
// authenticates them against the tree hash.
type tileFetcher tlog.FetchFunc

func (f tileFetcher) Height() int { return tlog.TileHeight }

func (f tileFetcher) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := f(tlog.Tile{Level: t.L, N: t.N, Width: t.W}.Path())
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

func (f tileFetcher) SaveTiles([]sumtlog.Tile, [][]byte) {}
