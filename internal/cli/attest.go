package cli

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/client"
)

func attestCmd(e *env) *cobra.Command {
	var f remoteFlags
	var ak, expectBinary, logKey string
	var asJSON, release bool
	cmd := &cobra.Command{
		Use:   "attest",
		Short: "Check what a silo server runs: a TPM quote for a fresh nonce, bound to this TLS connection",
		Long: `Ask the server (silo serve --tpm) for a TPM 2.0 quote over PCR 23 for a fresh random
nonce, and check it: signed by the server's attestation key, for this nonce and the TLS key of
this very connection (so no other server relayed it), and matching the event log of what the
server measured: its binary, its configuration and each model it has loaded.

The attestation key is pinned on first use, per server URL, in the CLI's config directory
(known_aks.json); a later change is an error. --ak gives the fingerprint to expect instead.
--expect-binary checks the binary's SHA-256; --release checks that it is a silo release
published in the server's transparency log (silo log release), proving the record's
inclusion under a checkpoint consistent with the last one seen.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := e.resolve(&f)
			cl, err := client.New(cfg.Server, cfg.APIKey, cfg.CA)
			if err != nil {
				return err
			}
			nonce := make([]byte, 32)
			rand.Read(nonce)
			a, err := cl.Attestation(cmd.Context(), nonce)
			if err != nil {
				return err
			}
			fp, err := attest.Verify(&a.Evidence, nonce, a.ConnTLSKey)
			if err != nil {
				return fmt.Errorf("the attestation does not verify: %w", err)
			}
			pin, err := e.checkAK(cfg.Server, fp, ak)
			if err != nil {
				return err
			}
			var bin *attest.Event
			for i, ev := range a.Events {
				if ev.Kind == attest.KindBinary {
					bin = &a.Events[i]
				}
			}
			if (expectBinary != "" || release) && bin == nil {
				return errors.New("the server measured no binary")
			}
			if expectBinary != "" && bin.SHA256 != strings.ToLower(expectBinary) {
				return fmt.Errorf("the server runs binary %s (%s), not %s", bin.SHA256, bin.Name, expectBinary)
			}
			if release {
				tv, _, _, err := e.logVerifier(cmd.Context(), cl, logKey)
				if err != nil {
					return err
				}
				if _, err := tv.Update(); err != nil {
					return fmt.Errorf("the server's log: %w", err)
				}
				if err := e.verifyReleaseDigest(tv, logFetch(cmd.Context(), cl), bin.SHA256, "the server's binary "+bin.Name); err != nil {
					return err
				}
			}
			bound := "this connection's TLS key"
			if a.ConnTLSKey == ([32]byte{}) {
				bound = "no TLS key (plain HTTP: a proxy could relay another server's quote)"
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(map[string]any{
					"verified": true, "ak_fingerprint": fp, "ak": pin, "pcr": attest.PCR, "events": a.Events,
					"tls_bound": a.ConnTLSKey != ([32]byte{}),
				})
			}
			fmt.Fprintf(e.stdout, "verified: a TPM quote of PCR %d for a fresh nonce, bound to %s\n", attest.PCR, bound)
			fmt.Fprintf(e.stdout, "attestation key %s (%s)\n", fp, pin)
			for _, ev := range a.Events {
				fmt.Fprintf(e.stdout, "%-7s %s  %s\n", ev.Kind, ev.SHA256, ev.Name)
			}
			return nil
		},
	}
	addRemoteFlags(cmd, &f)
	cmd.Flags().StringVar(&ak, "ak", "", "attestation key fingerprint to expect (default: the one pinned on first use)")
	cmd.Flags().StringVar(&expectBinary, "expect-binary", "", "SHA-256 the server's binary must have")
	cmd.Flags().BoolVar(&release, "release", false, "check that the server's binary is a release published in its log")
	cmd.Flags().StringVar(&logKey, "log-key", "", "the log's verifier key (default: remembered, or trusted on first use)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// checkAK compares an attestation key's fingerprint with want, or with the
// one pinned for server (pinning it on first use). It says which.
func (e *env) checkAK(server, fp, want string) (string, error) {
	if want != "" {
		if !strings.EqualFold(fp, want) {
			return "", fmt.Errorf("the server's attestation key is %s, not %s", fp, want)
		}
		return "as given", nil
	}
	path := filepath.Join(e.configDir(), "known_aks.json")
	known := map[string]string{}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &known); err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	switch old := known[server]; {
	case old == fp:
		return "pinned", nil
	case old != "":
		return "", withHint(fmt.Errorf("the attestation key of %s changed: pinned %s, now %s (another TPM, or another server)", server, old, fp),
			"if the server's TPM was replaced, remove its entry from "+path)
	}
	known[server] = fp
	b, _ := json.MarshalIndent(known, "", "  ")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return "", err
	}
	return "first use: pinned in " + path, nil
}
