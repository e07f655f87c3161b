package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/config"
	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/provenance"
	"github.com/silo-ai/silo/internal/tlog"
)

// trust is what silo serve needs to enforce provenance: the model store,
// the policy checker and the certificate log.
type trust struct {
	store   *models.Store
	checker *models.Checker
	log     *models.CertLog
}

func (t *trust) close() {
	if t.log != nil {
		t.log.Close()
	}
}

// openTrust loads the trust policy named by --policy (a policy that cannot
// be read or parsed stops the server: it fails closed), opens the model
// store and the certificate log, and says plainly on the console how
// models will be checked.
func openTrust(e *env, cfg *config.Serve, log *slog.Logger) (*trust, error) {
	st, err := models.Open(cfg.ModelsDir, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	t := &trust{store: st, checker: &models.Checker{Digests: st.Digests(), Log: log.With("component", "models")}}
	if cfg.Policy != "" {
		p, err := models.LoadPolicy(cfg.Policy)
		if err != nil {
			return nil, withHint(err, "fix the policy file, or start without --policy to serve models unverified")
		}
		t.checker.Policy = p
		fmt.Fprintf(e.stdout, "silo: trust policy %s, mode %s\n", cfg.Policy, p.Mode)
		log.Info("trust policy", "file", cfg.Policy, "mode", string(p.Mode))
	} else {
		fmt.Fprintln(e.stdout, "silo: no trust policy (--policy FILE): models are served without provenance checks")
		log.Warn("no trust policy configured: models are served unverified")
	}
	if t.log, err = models.OpenCertLog(filepath.Join(cfg.DataDir, "log")); err != nil {
		return nil, err
	}
	t.checker.Evidence, t.checker.LogState = t.log.Evidence, t.log.State
	var ws []note.Verifier
	for _, w := range cfg.LogWitnesses {
		name, key, ok := strings.Cut(w, "=")
		pub, err := provenance.ParsePublicKey(key)
		if !ok || err != nil {
			t.close()
			return nil, fmt.Errorf("config: log-witness %q: want NAME=PUBLIC-KEY (%v)", w, err)
		}
		v, err := tlog.NewCosignatureVerifier(name, pub)
		if err != nil {
			t.close()
			return nil, fmt.Errorf("config: log-witness %q: %w", w, err)
		}
		ws = append(ws, v)
	}
	t.log.TrustWitnesses(ws...)
	return t, nil
}

// localFlags locate the data and models directories for local commands.
type localFlags struct{ dataDir, modelsDir, policy string }

func addLocalFlags(cmd *cobra.Command, f *localFlags) {
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "silo's data dir (env SILO_DATA_DIR; default "+config.DefaultDataDir()+")")
	cmd.Flags().StringVar(&f.modelsDir, "models-dir", "", "models directory (env SILO_MODELS_DIR; default <data-dir>/models)")
}

// localDataDir is the data directory of local commands: --data-dir, else
// SILO_DATA_DIR, else the default.
func (e *env) localDataDir(f *localFlags) string {
	data := f.dataDir
	if data == "" {
		data = e.getenv("SILO_DATA_DIR")
	}
	if data == "" {
		data = config.DefaultDataDir()
	}
	return data
}

func (e *env) modelStore(f *localFlags) (*models.Store, error) {
	data := e.localDataDir(f)
	dir := f.modelsDir
	if dir == "" {
		dir = e.getenv("SILO_MODELS_DIR")
	}
	if dir == "" {
		dir = filepath.Join(data, "models")
	}
	return models.Open(dir, data)
}

// localChecker is the checker of local commands: --policy, else SILO_POLICY,
// else none.
func (e *env) localChecker(st *models.Store, f *localFlags) (*models.Checker, error) {
	c := &models.Checker{Digests: st.Digests(), Log: slog.New(slog.DiscardHandler)}
	file := f.policy
	if file == "" {
		file = e.getenv("SILO_POLICY")
	}
	if file != "" {
		p, err := models.LoadPolicy(file)
		if err != nil {
			return nil, err
		}
		c.Policy = p
	}
	return c, nil
}

func modelsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "models", Short: "Models: list and show (server or local), import, pull and remove (local)",
		Long: `Models live in the models directory (<data-dir>/models) as NAME.gguf, with their
certificate beside them as NAME.gguf.dsse.json.

ls and show ask the server (its view: what it serves, each model's provenance
status and the reason); with --local they read the models directory, checked
against --policy. import, pull and rm work on the models directory directly.
pull takes a URL or a short name from silo's signed catalog (models catalog).`}
	cmd.AddCommand(modelsLsCmd(e), modelsShowCmd(e), modelsImportCmd(e), modelsPullCmd(e), modelsRmCmd(e), modelsCatalogCmd(e))
	return cmd
}

func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func params(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func modelsLsCmd(e *env) *cobra.Command {
	var local bool
	var lf localFlags
	var rf remoteFlags
	cmd := &cobra.Command{
		Use: "ls", Short: "List models with their provenance status", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if local {
				return e.modelsLsLocal(cmd.Context(), &lf)
			}
			cl, err := e.client(&rf, true)
			if err != nil {
				return err
			}
			return e.modelsLsRemote(cmd.Context(), cl)
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "read the models directory instead of asking the server")
	cmd.Flags().StringVar(&lf.policy, "policy", "", "with --local: trust policy file to check models against (env SILO_POLICY)")
	addLocalFlags(cmd, &lf)
	addRemoteFlags(cmd, &rf)
	return cmd
}

func (e *env) modelsLsRemote(ctx context.Context, cl *client.Client) error {
	var out struct {
		Models []struct {
			ID         string `json:"id"`
			Engine     string `json:"engine"`
			Embeddings bool   `json:"embeddings"`
			Served     bool   `json:"served"`
			Status     string `json:"status"`
			Reason     string `json:"reason"`
		} `json:"models"`
	}
	if err := cl.Do(ctx, "GET", "/api/v1/models", nil, &out); err != nil {
		return err
	}
	e.table("MODEL\tENGINE\tSERVED\tSTATUS\tREASON", func(tw *tabwriter.Writer) {
		for _, m := range out.Models {
			status := m.Status
			if status == "" {
				status = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", m.ID, m.Engine, m.Served, status, m.Reason)
		}
	})
	return nil
}

func (e *env) modelsLsLocal(ctx context.Context, lf *localFlags) error {
	st, err := e.modelStore(lf)
	if err != nil {
		return err
	}
	c, err := e.localChecker(st, lf)
	if err != nil {
		return err
	}
	ms, err := st.List()
	if err != nil {
		return err
	}
	e.table("MODEL\tSIZE\tARCH\tTYPE\tPARAMS\tSTATUS\tREASON", func(tw *tabwriter.Writer) {
		for _, m := range ms {
			v := c.Check(ctx, m.Name, m.Path)
			arch := m.Arch
			if m.Err != "" {
				arch = "(unreadable)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, human(m.Size), arch, m.Type, params(m.Params), v.Status, v.Reason)
		}
	})
	return nil
}

func modelsShowCmd(e *env) *cobra.Command {
	var local bool
	var lf localFlags
	var rf remoteFlags
	cmd := &cobra.Command{
		Use: "show NAME", Short: "Show a model: file, GGUF metadata, digest, certificate, provenance, log inclusion", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d map[string]any
			if local {
				st, err := e.modelStore(&lf)
				if err != nil {
					return err
				}
				c, err := e.localChecker(st, &lf)
				if err != nil {
					return err
				}
				if d, err = localDetail(cmd.Context(), st, c, args[0]); err != nil {
					return err
				}
			} else {
				cl, err := e.client(&rf, true)
				if err != nil {
					return err
				}
				if err := cl.Do(cmd.Context(), "GET", "/api/v1/models/"+args[0], nil, &d); err != nil {
					return err
				}
			}
			e.printDetail(d)
			return nil
		},
	}
	cmd.Flags().BoolVar(&local, "local", false, "read the models directory instead of asking the server")
	cmd.Flags().StringVar(&lf.policy, "policy", "", "with --local: trust policy file to check the model against (env SILO_POLICY)")
	addLocalFlags(cmd, &lf)
	addRemoteFlags(cmd, &rf)
	return cmd
}

// localDetail builds the same document as GET /api/v1/models/{name}.
func localDetail(ctx context.Context, st *models.Store, c *models.Checker, name string) (map[string]any, error) {
	m, err := st.Info(name)
	if err != nil {
		return nil, err
	}
	v := c.Check(ctx, m.Name, m.Path)
	d := map[string]any{"name": m.Name, "size": m.Size, "modified": m.ModTime, "architecture": m.Arch, "type": m.Type,
		"parameters": m.Params, "status": v.Status, "reason": v.Reason, "served": v.Allow}
	if len(v.Signers) > 0 {
		d["signers"] = v.Signers
	}
	if d["sha256"], err = st.Digest(name); err != nil {
		return nil, err
	}
	if m.Err != "" {
		d["error"] = m.Err
	} else if d["metadata"], err = st.Metadata(name); err != nil {
		return nil, err
	}
	if v.Statement != nil {
		d["certificate"] = v.Statement
	}
	// A normalising round trip, so local and remote print alike.
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	return out, json.Unmarshal(b, &out)
}

func (e *env) printDetail(d map[string]any) {
	w := e.stdout
	for _, k := range []string{"name", "size", "modified", "architecture", "type", "parameters", "sha256", "served", "status", "reason", "signers", "error"} {
		if v, ok := d[k]; ok {
			if f, ok := v.(float64); ok {
				v = int64(f)
				if k == "size" {
					v = fmt.Sprintf("%s (%d bytes)", human(int64(f)), int64(f))
				}
			}
			fmt.Fprintf(w, "%-13s %v\n", k+":", v)
		}
	}
	if lg, ok := d["log"].(map[string]any); ok {
		fmt.Fprintf(w, "%-13s record %v of a tree of %v\n", "log:", lg["index"], lg["tree_size"])
	}
	if cert, ok := d["certificate"]; ok {
		b, _ := json.MarshalIndent(cert, "  ", "  ")
		fmt.Fprintf(w, "certificate:\n  %s\n", b)
	}
	if md, ok := d["metadata"].(map[string]any); ok {
		keys := make([]string, 0, len(md))
		for k := range md {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintln(w, "metadata:")
		for _, k := range keys {
			s := fmt.Sprint(md[k])
			if len(s) > 120 {
				s = s[:117] + "..."
			}
			fmt.Fprintf(w, "  %s = %s\n", k, strings.ReplaceAll(s, "\n", `\n`))
		}
	}
}

func modelsImportCmd(e *env) *cobra.Command {
	var lf localFlags
	var o models.ImportOptions
	cmd := &cobra.Command{
		Use: "import FILE", Short: "Copy a GGUF file (and its certificate FILE.dsse.json and signing bundle FILE.sig, if present) into the models directory", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := e.modelStore(&lf)
			if err != nil {
				return err
			}
			m, err := st.Import(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			e.printImported(m, st)
			return nil
		},
	}
	addLocalFlags(cmd, &lf)
	cmd.Flags().StringVar(&o.Name, "name", "", "model name (default: the file name without .gguf)")
	cmd.Flags().StringVar(&o.Certificate, "cert", "", "certificate (DSSE envelope) to install with the model (default FILE.dsse.json if present)")
	cmd.Flags().StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the file")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace a model of the same name")
	return cmd
}

func (e *env) printImported(m *models.Model, st *models.Store) {
	sum, _ := st.Digest(m.Name)
	fmt.Fprintf(e.stdout, "%s: %s, %s %s, %s parameters\nsha256 %s\n", m.Name, human(m.Size), m.Arch, m.Type, params(m.Params), sum)
	switch {
	case m.Certificate != "":
		fmt.Fprintln(e.stdout, "certificate installed; silo serve, under a trust policy, logs it in its transparency log when it first checks the model")
	case m.Bundle != "":
		fmt.Fprintln(e.stdout, "OpenSSF Model Signing bundle installed; silo serve checks it under a trust policy")
	default:
		fmt.Fprintln(e.stdout, "no certificate: the model is unverified (under a policy in mode enforce, silo serve will refuse it)")
	}
}

func modelsPullCmd(e *env) *cobra.Command {
	var lf localFlags
	var cf catalogFlags
	var o models.PullOptions
	var cert string
	var quiet, def bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "pull NAME|URL",
		Short: "Download a GGUF model by catalog name, http(s):// or hf://org/repo/file.gguf URL, resuming an interrupted pull",
		Long: `Download a GGUF model into the models directory.

NAME is a short name from silo's signed catalog (silo models catalog); --default
pulls the catalog's default model. A catalog entry is checked against its
digest in the catalog; an entry without one is pinned on first use: the digest
is recorded in the transparency log and in <data-dir>/pins.json, and later
pulls must match it. A URL is pulled as given, checked against --sha256.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if def == (len(args) == 1) {
				return withHint(fmt.Errorf("pull: give a NAME or URL, or --default"), "silo models catalog lists the names")
			}
			st, err := e.modelStore(&lf)
			if err != nil {
				return err
			}
			if cert != "" {
				if o.Certificate, err = os.ReadFile(cert); err != nil {
					return err
				}
			}
			o.Client = models.NewPullClient(timeout)
			if !quiet {
				bar := newPullBar(e.stderr)
				o.Progress = bar.update
				defer bar.finish()
			}
			if def || !strings.Contains(args[0], "://") {
				if o.SHA256 != "" || cert != "" {
					return fmt.Errorf("pull: --sha256 and --cert are for URLs; a catalog entry brings its own")
				}
				return e.pullEntry(cmd.Context(), st, &lf, &cf, def, args, o)
			}
			m, err := st.Pull(cmd.Context(), args[0], o)
			if err != nil {
				return pullError(err)
			}
			if o.SHA256 == "" {
				fmt.Fprintln(e.stdout, "no --sha256 given: the digest below was not checked against anything; compare it with the publisher's")
			}
			e.printImported(m, st)
			return nil
		},
	}
	addLocalFlags(cmd, &lf)
	addCatalogFlags(cmd, &cf)
	cmd.Flags().BoolVar(&def, "default", false, "pull the catalog's default model")
	cmd.Flags().StringVar(&o.Name, "name", "", "model name (default: the catalog name, or the URL's file name without .gguf)")
	cmd.Flags().StringVar(&o.SHA256, "sha256", "", "expected SHA-256 of the file: a mismatch is refused")
	cmd.Flags().StringVar(&cert, "cert", "", "certificate (DSSE envelope) to install with the model")
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace a model of the same name")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.Flags().DurationVar(&timeout, "connect-timeout", 15*time.Second, "give up if the server has not connected and answered within this time")
	return cmd
}

// pullError adds the next step to a failed pull.
func pullError(err error) error {
	switch {
	case errors.Is(err, models.ErrOffline):
		return withHint(err, "offline? copy a GGUF file here with: silo models import FILE.gguf")
	case errors.Is(err, models.ErrPinMismatch):
		return withHint(err, "the file changed since it was first pulled; if the publisher really replaced it, remove its pin from <data-dir>/pins.json (it stays in the log)")
	case errors.Is(err, models.ErrDigestMismatch):
		return err
	}
	return withHint(err, "run the same pull again to resume an interrupted download")
}

// pullBar draws download progress (bytes, rate, ETA) on w.
type pullBar struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func newPullBar(w io.Writer) *pullBar { return &pullBar{w: w} }

func (p *pullBar) update(pr models.Progress) {
	if p.bar == nil {
		p.bar = progressbar.NewOptions64(pr.Total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetDescription("pull"),
			progressbar.OptionFullWidth(),
		)
	}
	p.bar.Set64(pr.Done)
}

func (p *pullBar) finish() {
	if p.bar != nil {
		p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

func modelsRmCmd(e *env) *cobra.Command {
	var lf localFlags
	cmd := &cobra.Command{
		Use: "rm NAME", Short: "Delete a model, its certificate and its signing bundle from the models directory", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := e.modelStore(&lf)
			if err != nil {
				return err
			}
			if err := st.Remove(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed %s\n", args[0])
			return nil
		},
	}
	addLocalFlags(cmd, &lf)
	return cmd
}
