package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/config"
)

// cliConfig is what `silo login` and `silo bootstrap` remember, in
// $XDG_CONFIG_HOME/silo/cli.json (0600: it holds an API key).
type cliConfig struct {
	Server string `json:"server"`
	APIKey string `json:"api_key"`
	CA     string `json:"ca,omitempty"`
}

// getenv looks k up in the command's environment; as with os/exec, the
// last of duplicate entries wins.
func (e *env) getenv(k string) string {
	for i := len(e.environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e.environ[i], k+"="); ok {
			return v
		}
	}
	return ""
}

func (e *env) configDir() string {
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "silo")
	}
	if h := e.getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "silo")
	}
	return filepath.Dir(config.DefaultConfigFile())
}

func (e *env) cliConfigPath() string { return filepath.Join(e.configDir(), "cli.json") }

func (e *env) loadCLIConfig() cliConfig {
	var c cliConfig
	if b, err := os.ReadFile(e.cliConfigPath()); err == nil {
		json.Unmarshal(b, &c)
	}
	return c
}

func (e *env) saveCLIConfig(c cliConfig) error {
	if err := os.MkdirAll(e.configDir(), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp := e.cliConfigPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, e.cliConfigPath())
}

// remoteFlags are the connection flags of every client command.
type remoteFlags struct {
	server, apiKey, ca string
}

func addRemoteFlags(cmd *cobra.Command, f *remoteFlags) {
	cmd.Flags().StringVar(&f.server, "server", "", "server URL (env SILO_SERVER; default from silo login, else https://"+config.DefaultAddr+")")
	cmd.Flags().StringVar(&f.apiKey, "api-key", "", "API key (env SILO_API_KEY; default from silo login)")
	cmd.Flags().StringVar(&f.ca, "ca", "", "PEM certificate to trust (env SILO_CA; default: the local server's self-signed certificate)")
}

// resolve merges flags, environment and the saved CLI config.
func (e *env) resolve(f *remoteFlags) cliConfig {
	saved := e.loadCLIConfig()
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	c := cliConfig{
		Server: pick(f.server, e.getenv("SILO_SERVER"), saved.Server, "https://"+config.DefaultAddr),
		APIKey: pick(f.apiKey, e.getenv("SILO_API_KEY"), saved.APIKey),
		CA:     pick(f.ca, e.getenv("SILO_CA"), saved.CA),
	}
	if c.CA == "" && strings.HasPrefix(c.Server, "https://") {
		dataDir := config.DefaultDataDir()
		if d := e.getenv("SILO_DATA_DIR"); d != "" {
			dataDir = d
		}
		if p := filepath.Join(dataDir, "tls", "cert.pem"); fileExists(p) {
			c.CA = p
		}
	}
	return c
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (e *env) client(f *remoteFlags, needKey bool) (*client.Client, error) {
	c := e.resolve(f)
	if needKey && c.APIKey == "" {
		return nil, withHint(errors.New("no API key"), "run `silo login --server URL --api-key KEY`, or set SILO_API_KEY")
	}
	return client.New(c.Server, c.APIKey, c.CA)
}

func loginCmd(e *env) *cobra.Command {
	var f remoteFlags
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Remember a server and API key for the other commands",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := e.resolve(&f)
			if c.APIKey == "" {
				return withHint(errors.New("no API key given"), "pass --api-key KEY")
			}
			cl, err := client.New(c.Server, c.APIKey, c.CA)
			if err != nil {
				return err
			}
			var me userOut
			if err := cl.Do(cmd.Context(), "GET", "/api/v1/me", nil, &me); err != nil {
				return err
			}
			if err := e.saveCLIConfig(c); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "logged in to %s as %s (%s)\n", c.Server, me.Name, me.Role)
			return nil
		},
	}
	addRemoteFlags(cmd, &f)
	return cmd
}

type userOut struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

type keyOut struct {
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	CreatedAt  string  `json:"created_at"`
	LastUsedAt *string `json:"last_used_at"`
	Revoked    bool    `json:"revoked"`
}

type keyCreatedOut struct {
	Key    keyOut `json:"key"`
	Secret string `json:"secret"`
}

func bootstrapCmd(e *env) *cobra.Command {
	var f remoteFlags
	var token, name, email string
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create the first admin with the one-time token `silo serve` printed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := e.client(&f, false)
			if err != nil {
				return err
			}
			in := map[string]string{"token": token, "name": name}
			if email != "" {
				in["email"] = email
			}
			var out struct {
				User userOut       `json:"user"`
				Key  keyCreatedOut `json:"key"`
			}
			if err := cl.Do(cmd.Context(), "POST", "/api/v1/bootstrap", in, &out); err != nil {
				return err
			}
			c := e.resolve(&f)
			c.APIKey = out.Key.Secret
			if err := e.saveCLIConfig(c); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created admin %s; its API key is saved in %s\n", out.User.Name, e.cliConfigPath())
			fmt.Fprintf(e.stdout, "API key (shown once): %s\n", out.Key.Secret)
			return nil
		},
	}
	addRemoteFlags(cmd, &f)
	cmd.Flags().StringVar(&token, "token", "", "the one-time bootstrap token")
	cmd.Flags().StringVar(&name, "name", "admin", "the admin's login name")
	cmd.Flags().StringVar(&email, "email", "", "the admin's e-mail")
	cmd.MarkFlagRequired("token")
	return cmd
}
