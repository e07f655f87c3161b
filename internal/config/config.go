// Package config resolves `silo serve` settings from, in order of
// precedence: command-line flags, then SILO_* environment variables, then
// a YAML config file. Every setting is a flag documented in `--help`; its
// environment name is SILO_ followed by the flag name in capitals with
// dashes as underscores (--data-dir: SILO_DATA_DIR).
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// DefaultPort is silo's fixed default port.
const DefaultPort = 8443

// DefaultAddr listens on loopback only: silo is reachable from other
// machines only once an address is configured.
var DefaultAddr = fmt.Sprintf("127.0.0.1:%d", DefaultPort)

// Upstream is one OpenAI-compatible server of the pool.
type Upstream struct {
	Name   string            `koanf:"name"`
	URL    string            `koanf:"url"`
	APIKey string            `koanf:"api_key"`
	Models map[string]string `koanf:"models"`
}

// Serve holds `silo serve` settings.
type Serve struct {
	ConfigFile      string        `koanf:"config"`
	Addr            string        `koanf:"addr"`
	DataDir         string        `koanf:"data-dir"`
	DB              string        `koanf:"db"`
	ModelsDir       string        `koanf:"models-dir"`
	Policy          string        `koanf:"policy"`
	LogWitnesses    []string      `koanf:"log-witness"`
	TLSCert         string        `koanf:"tls-cert"`
	TLSKey          string        `koanf:"tls-key"`
	TLSHosts        []string      `koanf:"tls-hosts"`
	PlainHTTP       bool          `koanf:"plain-http"`
	UpstreamFlags   []string      `koanf:"upstream"`
	Upstreams       []Upstream    `koanf:"upstreams"`
	MaxConcurrent   int           `koanf:"max-concurrent"`
	UpstreamIdle    time.Duration `koanf:"upstream-idle-timeout"`
	WebDomain       string        `koanf:"web-domain"`
	WebOrigins      []string      `koanf:"web-origins"`
	MaxQueue        int           `koanf:"max-queue"`
	MetricsToken    string        `koanf:"metrics-token"`
	TPM             string        `koanf:"tpm"`
	MaxBodyBytes    int64         `koanf:"max-body-bytes"`
	ReadTimeout     time.Duration `koanf:"read-timeout"`
	WriteTimeout    time.Duration `koanf:"write-timeout"`
	IdleTimeout     time.Duration `koanf:"idle-timeout"`
	ShutdownTimeout time.Duration `koanf:"shutdown-timeout"`
	LogLevel        string        `koanf:"log-level"`
	LogFormat       string        `koanf:"log-format"`
}

// DefaultDataDir is $XDG_DATA_HOME/silo, or ~/.local/share/silo.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "silo")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".", "silo-data")
	}
	return filepath.Join(home, ".local", "share", "silo")
}

// DefaultConfigFile is $XDG_CONFIG_HOME/silo/silo.yaml (read if present).
func DefaultConfigFile() string {
	d := os.Getenv("XDG_CONFIG_HOME")
	if d == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		d = filepath.Join(home, ".config")
	}
	return filepath.Join(d, "silo", "silo.yaml")
}

// ServeFlags declares every `silo serve` setting on fs.
func ServeFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "YAML config file (default "+DefaultConfigFile()+" if it exists)")
	fs.String("addr", DefaultAddr, "address to listen on; loopback by default, e.g. 0.0.0.0:8443 to serve the network")
	fs.String("data-dir", DefaultDataDir(), "directory for the database, TLS pair and models")
	fs.String("db", "", "database: empty for SQLite in the data dir, or a postgres:// URL")
	fs.String("models-dir", "", "directory of GGUF models for the built-in engine (default <data-dir>/models)")
	fs.StringArray("log-witness", nil, "a witness trusted to cosign the certificate log, as NAME=PUBLIC-KEY (repeatable; key as ed25519:<base64> or an ssh-ed25519 line)")
	fs.String("policy", "", "trust policy file (JSON, see internal/provenance): its mode enforce refuses models without valid signed provenance; without one, models load unverified")
	fs.String("tls-cert", "", "TLS certificate file (PEM); default: a self-signed pair made in <data-dir>/tls on first start")
	fs.String("tls-key", "", "TLS private key file (PEM), with --tls-cert")
	fs.StringSlice("tls-hosts", nil, "extra host names or IPs for the self-signed certificate")
	fs.Bool("plain-http", false, "serve plain HTTP without TLS (only behind a TLS-terminating proxy you trust)")
	fs.StringArray("upstream", nil, "an OpenAI-compatible engine as NAME=URL (repeatable), e.g. vllm=http://gpu1:8000")
	fs.String("web-domain", "localhost", "the domain browsers reach silo at: the passkeys' relying party ID")
	fs.StringSlice("web-origins", nil, "origins allowed to use passkeys (default https://<web-domain> and https://<web-domain>:<port of --addr>)")
	fs.Int("max-concurrent", 8, "requests running at once per model (the built-in engine decodes up to 8 together)")
	fs.Duration("upstream-idle-timeout", time.Minute, "longest silence between two events of an upstream stream before it counts as dead")
	fs.Int("max-queue", 64, "requests waiting per model before 429 with Retry-After")
	fs.String("metrics-token", "", "bearer token for /metrics from non-loopback clients (empty: loopback only)")
	fs.String("tpm", "", "TPM 2.0 to attest with: a device such as /dev/tpmrm0 or a swtpm Unix socket (empty: no attestation)")
	fs.Int64("max-body-bytes", 8<<20, "largest accepted request body")
	fs.Duration("read-timeout", time.Minute, "time to read a whole request")
	fs.Duration("write-timeout", 15*time.Minute, "time to write a whole response, streams included")
	fs.Duration("idle-timeout", 2*time.Minute, "keep-alive idle timeout")
	fs.Duration("shutdown-timeout", 30*time.Second, "how long in-flight streams may drain on shutdown")
	fs.String("log-level", "info", "debug, info, warn or error")
	fs.String("log-format", "text", "text or json")
}

// LoadServe resolves settings from fs (already parsed), the environment
// and the config file.
func LoadServe(fs *pflag.FlagSet, environ []string) (*Serve, error) {
	k := koanf.New("::")
	envProvider := env.Provider("::", env.Opt{
		Prefix:      "SILO_",
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(key, v string) (string, any) {
			key = strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(key, "SILO_"), "_", "-"))
			if fs.Lookup(key) == nil {
				return "", nil
			}
			switch fs.Lookup(key).Value.Type() {
			case "stringSlice", "stringArray":
				return key, strings.Split(v, ",")
			}
			return key, v
		},
	})
	// The config file may be named by flag or environment.
	path, explicit := "", false
	if f := fs.Lookup("config"); f != nil && f.Changed {
		path, explicit = f.Value.String(), true
	} else if v := lookupEnv(environ, "SILO_CONFIG"); v != "" {
		path, explicit = v, true
	} else {
		path = DefaultConfigFile()
	}
	if path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			if explicit || !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("config: read %s: %w", path, err)
			}
		}
	}
	if err := k.Load(envProvider, nil); err != nil {
		return nil, fmt.Errorf("config: environment: %w", err)
	}
	if err := k.Load(posflag.Provider(fs, "::", k), nil); err != nil {
		return nil, fmt.Errorf("config: flags: %w", err)
	}
	var c Serve
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return &c, nil
}

// lookupEnv finds key in environ; as with os/exec, the last of duplicate
// entries wins (the CLI resolves its own variables the same way).
func lookupEnv(environ []string, key string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// finish fills derived defaults and checks the settings.
func (c *Serve) finish() error {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir()
	}
	if c.ModelsDir == "" {
		c.ModelsDir = filepath.Join(c.DataDir, "models")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("config: addr %q: %w", c.Addr, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("config: --tls-cert and --tls-key go together")
	}
	if c.PlainHTTP && c.TLSCert != "" {
		return errors.New("config: --plain-http and --tls-cert exclude each other")
	}
	for _, s := range c.UpstreamFlags {
		name, u, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return fmt.Errorf("config: upstream %q: want NAME=URL", s)
		}
		c.Upstreams = append(c.Upstreams, Upstream{Name: name, URL: u})
	}
	names := map[string]bool{}
	for _, up := range c.Upstreams {
		pu, err := url.Parse(up.URL)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return fmt.Errorf("config: upstream %q: URL %q is not an http(s) URL", up.Name, up.URL)
		}
		if names[up.Name] {
			return fmt.Errorf("config: upstream name %q used twice", up.Name)
		}
		names[up.Name] = true
	}
	if len(c.WebOrigins) == 0 {
		_, port, _ := net.SplitHostPort(c.Addr)
		c.WebOrigins = []string{"https://" + c.WebDomain, "https://" + net.JoinHostPort(c.WebDomain, port)}
	}
	for _, o := range c.WebOrigins {
		if u, err := url.Parse(o); err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" {
			return fmt.Errorf("config: web origin %q: want scheme://host[:port]", o)
		}
	}
	if c.UpstreamIdle <= 0 {
		return errors.New("config: upstream-idle-timeout must be positive")
	}
	if c.MaxConcurrent < 1 {
		return errors.New("config: max-concurrent must be at least 1")
	}
	if c.MaxQueue < 0 {
		return errors.New("config: max-queue must not be negative")
	}
	if c.MaxBodyBytes < 1024 {
		return errors.New("config: max-body-bytes must be at least 1024")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log-format %q: want text or json", c.LogFormat)
	}
	return nil
}
