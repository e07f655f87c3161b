package cli

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/config"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/upstream"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/server"
	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/postgres"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

func serveCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the silo server",
		Long: `Run the silo server: the OpenAI-compatible API at /v1, silo's API at /api/v1
(docs at /api/v1/ui), /healthz, /readyz, /metrics and the web app at /.

Settings come from flags, then SILO_* environment variables (--data-dir is
SILO_DATA_DIR), then the YAML config file. By default silo listens on
` + config.DefaultAddr + ` (loopback only) with TLS from a self-signed certificate
made in <data-dir>/tls on first start, and keeps its SQLite database in the
data dir. On first start it prints a one-time token to create the first admin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadServe(cmd.Flags(), e.environ)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), e, cfg)
		},
	}
	config.ServeFlags(cmd.Flags())
	return cmd
}

func newLogger(w io.Writer, cfg *config.Serve) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore opens the configured database: a postgres:// URL, or SQLite in
// the data dir (or at a path given as --db).
func openStore(ctx context.Context, db, dataDir string) (store.Store, error) {
	switch {
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		return postgres.Open(ctx, db)
	case db == "":
		return sqlite.Open(ctx, filepath.Join(dataDir, "silo.db"))
	default:
		return sqlite.Open(ctx, db)
	}
}

func serve(ctx context.Context, e *env, cfg *config.Serve) error {
	log := newLogger(e.stderr, cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	st, err := openStore(ctx, cfg.DB, cfg.DataDir)
	if err != nil {
		return err
	}
	defer st.Close()

	trust, err := openTrust(e, cfg, log)
	if err != nil {
		return err
	}
	defer trust.close()
	tpm, err := openAttester(cfg, log)
	if err != nil {
		return err
	}
	var loaded func(name, path string) error
	if tpm != nil {
		defer tpm.Close()
		loaded = func(name, _ string) error {
			sum, err := trust.store.Digest(name)
			if err != nil {
				return err
			}
			return tpm.Measure(attest.Event{Kind: attest.KindModel, Name: name, SHA256: sum})
		}
	}
	b, err := builtinEngine(cfg, log, trust.checker.Verify, loaded)
	if err != nil {
		return err
	}
	engines := []engine.Engine{b}
	if len(cfg.Upstreams) > 0 {
		var backends []upstream.Backend
		for _, u := range cfg.Upstreams {
			backends = append(backends, upstream.Backend{Name: u.Name, URL: u.URL, APIKey: u.APIKey, Models: u.Models})
		}
		pool, err := upstream.New(upstream.Config{Backends: backends, IdleTimeout: cfg.UpstreamIdle, Logger: log.With("component", "upstream")})
		if err != nil {
			return err
		}
		engines = append(engines, pool)
	}
	sched := engine.NewScheduler(engine.NewRouter(engines...), engine.SchedulerConfig{
		Limits: engine.Limits{MaxConcurrent: cfg.MaxConcurrent, MaxQueue: cfg.MaxQueue},
	})
	defer sched.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := engine.RegisterMetrics(reg, sched); err != nil {
		return err
	}
	// The HPKE transport key is the server's own (it opens requests sealed
	// in transit); it is kept so clients can pin its fingerprint.
	transit, err := seal.LoadOrCreateServerKey(filepath.Join(cfg.DataDir, "transit.pem"))
	if err != nil {
		return err
	}
	// With port 0 the port is known only once listening, and the passkeys'
	// default origin names it: listen first.
	var ln net.Listener
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "0" {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
		}
		defer ln.Close() // a no-op once served
		_, bound, _ := net.SplitHostPort(ln.Addr().String())
		for i, o := range cfg.WebOrigins {
			if rest, ok := strings.CutSuffix(o, ":0"); ok {
				cfg.WebOrigins[i] = rest + ":" + bound
			}
		}
	}
	var cert *tls.Certificate
	if !cfg.PlainHTTP {
		c, err := server.LoadTLS(filepath.Join(cfg.DataDir, "tls"), cfg.TLSCert, cfg.TLSKey, cfg.TLSHosts)
		if err != nil {
			return err
		}
		cert = &c
	}
	opts := server.Options{
		Store: st, Engine: sched, Log: log, Registry: reg, TransitKey: transit,
		Passkeys:     identity.PasskeyConfig{RPID: cfg.WebDomain, RPName: "silo", Origins: cfg.WebOrigins},
		MaxBodyBytes: cfg.MaxBodyBytes, MetricsToken: cfg.MetricsToken, Version: Version,
		Models: trust.store, Trust: trust.checker, CertLog: trust.log,
	}
	if tpm != nil {
		opts.Attest = tpm
		if cert != nil {
			if opts.TLSKey, err = tlsKeyHash(cert); err != nil {
				return err
			}
		}
	}
	srv, err := server.New(opts)
	if err != nil {
		return err
	}
	token, err := identity.EnsureBootstrapToken(ctx, st)
	if err != nil {
		return err
	}
	lo := server.ListenOptions{
		Addr: cfg.Addr, Listener: ln, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
		IdleTimeout: cfg.IdleTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
	}
	lo.TLS = cert
	lo.Ready = func(serveURL string) {
		fmt.Fprintf(e.stdout, "silo: serving on %s\n", serveURL)
		if lo.TLS != nil && cfg.TLSCert == "" {
			fmt.Fprintf(e.stdout, "silo: self-signed certificate %s (sha256 %s)\n",
				filepath.Join(cfg.DataDir, "tls", "cert.pem"), server.CertFingerprint(*lo.TLS))
		}
		if u, err := url.Parse(serveURL); err == nil && u.Scheme == "https" {
			// Passkeys are bound to the domain: the browser must use it.
			fmt.Fprintf(e.stdout, "silo: web app at https://%s/\n", net.JoinHostPort(cfg.WebDomain, u.Port()))
		}
		if token != "" {
			// Printed to the console for the operator, never to the log.
			fmt.Fprintf(e.stdout, "silo: no admin yet; create one with this one-time token:\n"+
				"silo:   silo bootstrap --server %s --token %s --name admin\n", serveURL, token)
		}
	}
	log.Info("starting", "addr", cfg.Addr, "data_dir", cfg.DataDir, "engines", len(engines), "version", Version)
	return server.Serve(ctx, srv, lo)
}

// openAttester opens the TPM of --tpm, if any, and measures the running
// binary and the configuration (secrets left out) into it.
func openAttester(cfg *config.Serve, log *slog.Logger) (*attest.TPM, error) {
	if cfg.TPM == "" {
		return nil, nil
	}
	tpm, err := attest.Open(cfg.TPM)
	if err != nil {
		return nil, withHint(err, "check --tpm (a TPM device such as /dev/tpmrm0, readable by this user, or a swtpm socket)")
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	var bin string
	if err == nil {
		bin, err = fileSHA256(exe)
	}
	if err == nil {
		err = tpm.Measure(attest.Event{Kind: attest.KindBinary, Name: filepath.Base(exe), SHA256: bin})
	}
	if err == nil {
		c := sha256.Sum256(attestedConfig(cfg))
		err = tpm.Measure(attest.Event{Kind: attest.KindConfig, Name: "serve", SHA256: hex.EncodeToString(c[:])})
	}
	if err != nil {
		tpm.Close()
		return nil, fmt.Errorf("attestation: %w", err)
	}
	log.Info("attestation: TPM open", "tpm", cfg.TPM, "ak_fingerprint", tpm.AKFingerprint(), "pcr", attest.PCR)
	return tpm, nil
}

// attestedConfig is the configuration silo measures: the effective
// settings as JSON, with secrets (tokens, API keys, database passwords)
// replaced by whether they are set.
func attestedConfig(cfg *config.Serve) []byte {
	c := *cfg
	set := func(s string) string {
		if s == "" {
			return ""
		}
		return "(set)"
	}
	c.MetricsToken = set(c.MetricsToken)
	c.DB = redactURL(c.DB)
	c.UpstreamFlags = nil // parsed into Upstreams
	c.Upstreams = append([]config.Upstream(nil), c.Upstreams...)
	for i := range c.Upstreams {
		c.Upstreams[i].APIKey = set(c.Upstreams[i].APIKey)
		c.Upstreams[i].URL = redactURL(c.Upstreams[i].URL)
	}
	b, _ := json.Marshal(c)
	return b
}

// redactURL hides a URL's password, in its user info or as a password
// query parameter (PostgreSQL accepts both).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return s
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// tlsKeyHash is attest.TLSKey of cert's leaf.
func tlsKeyHash(cert *tls.Certificate) ([32]byte, error) {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return [32]byte{}, fmt.Errorf("TLS certificate: %w", err)
		}
	}
	return attest.TLSKey(leaf), nil
}
