package cli

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/provenance"
)

// catalogFlags choose the signed catalog and the keys it must be signed
// with: by default the catalog and maintainer keys built into silo.
type catalogFlags struct {
	file string
	keys []string
}

func addCatalogFlags(cmd *cobra.Command, f *catalogFlags) {
	cmd.Flags().StringVar(&f.file, "catalog", "", "signed catalog file (env SILO_CATALOG; default: the catalog built into silo)")
	cmd.Flags().StringArrayVar(&f.keys, "catalog-key", nil, "trust catalogs signed by this public key instead of silo's maintainers (repeatable)")
}

// loadCatalog verifies and parses the chosen catalog.
func (e *env) loadCatalog(f *catalogFlags) (*models.Catalog, error) {
	keys, err := models.MaintainerKeys()
	if err != nil {
		return nil, err
	}
	if len(f.keys) > 0 {
		keys = nil
		for i, k := range f.keys {
			pub, err := provenance.ParsePublicKey(k)
			if err != nil {
				return nil, fmt.Errorf("catalog-key %d: %w", i+1, err)
			}
			keys = append(keys, provenance.PublicKey{Name: fmt.Sprintf("catalog-key-%d", i+1), Key: pub})
		}
	}
	file := f.file
	if file == "" {
		file = e.getenv("SILO_CATALOG")
	}
	env := models.ShippedCatalogEnvelope()
	if file != "" {
		if env, err = os.ReadFile(file); err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
	}
	c, err := models.OpenCatalog(env, keys)
	if err != nil {
		return nil, withHint(err, "a catalog must be signed by a key silo trusts (its maintainers', or one given with --catalog-key)")
	}
	return c, nil
}

// pullEntry pulls a catalog entry (named, or the default) with trust on
// first use, and says plainly what the digest was checked against.
func (e *env) pullEntry(ctx context.Context, st *models.Store, lf *localFlags, cf *catalogFlags, def bool, args []string, o models.PullOptions) error {
	c, err := e.loadCatalog(cf)
	if err != nil {
		return err
	}
	var ent *models.CatalogEntry
	var ok bool
	if def {
		if ent, ok = c.Default(); !ok {
			return fmt.Errorf("pull --default: the catalog has no default model")
		}
	} else if ent, ok = c.Lookup(args[0]); !ok {
		return withHint(fmt.Errorf("pull: %q is not in the catalog", args[0]), "silo models catalog lists the names; or give an http(s):// or hf:// URL")
	}
	entry := *ent
	if o.Name != "" {
		entry.Name = o.Name
	}
	data := e.localDataDir(lf)
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	pins, err := models.OpenPins(filepath.Join(data, models.PinsFile))
	if err != nil {
		return err
	}
	tofu := models.TOFU{Pins: pins, OpenLog: func() (*models.CertLog, error) {
		return models.OpenCertLog(filepath.Join(data, "log"))
	}}
	fmt.Fprintf(e.stderr, "pull %s from %s\n", entry.Name, entry.URL)
	res, err := st.PullEntry(ctx, &entry, tofu, o)
	if err != nil {
		return pullError(err)
	}
	switch res.Source {
	case models.FromCatalog:
		fmt.Fprintf(e.stdout, "verified: sha256 matches the signed catalog\n")
	case models.FromPin, models.FromLog:
		fmt.Fprintf(e.stdout, "verified: sha256 matches the digest pinned on first use (log record %d)\n", res.LogIndex)
	case models.FromFirstUse:
		fmt.Fprintf(e.stdout, "trust on first use: recorded sha256 %s for %s (log record %d); later pulls must match it\n", res.SHA256, entry.Name, res.LogIndex)
	}
	e.printImported(res.Model, st)
	return nil
}

func modelsCatalogCmd(e *env) *cobra.Command {
	var cf catalogFlags
	var lf localFlags
	cmd := &cobra.Command{
		Use: "catalog", Short: "List the models of silo's signed catalog (names for models pull)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.loadCatalog(&cf)
			if err != nil {
				return err
			}
			pins, err := models.OpenPins(filepath.Join(e.localDataDir(&lf), models.PinsFile))
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "catalog of %s, signature verified\n", c.Updated.Format("2006-01-02"))
			e.table("NAME\tDEFAULT\tSIZE\tDIGEST\tURL", func(tw *tabwriter.Writer) {
				for _, m := range c.Models {
					digest := "trust on first use"
					if m.SHA256 != "" {
						digest = "catalog " + m.SHA256[:12]
					} else if p, ok := pins.Get(m.Name); ok {
						digest = "pinned " + p.SHA256[:12]
					}
					size := "-"
					if m.Size > 0 {
						size = human(m.Size)
					}
					d := ""
					if m.Default {
						d = "yes"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Name, d, size, digest, m.URL)
				}
			})
			return nil
		},
	}
	addCatalogFlags(cmd, &cf)
	addLocalFlags(cmd, &lf)
	return cmd
}

func catalogCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "catalog", Short: "Maintain a signed model catalog (sign, show)",
		Long: `A catalog is a JSON list of models (format in internal/models) in a DSSE
envelope signed with Ed25519. silo trusts the catalog built into it, signed by
its maintainers; silo models catalog lists it.`}
	cmd.AddCommand(catalogSignCmd(e), catalogShowCmd(e))
	return cmd
}

func catalogSignCmd(e *env) *cobra.Command {
	var keyFile, out string
	cmd := &cobra.Command{
		Use:   "sign FILE --key KEY",
		Short: "Sign a catalog (its JSON, or a signed catalog to add a signature to)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
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
			signer := provenance.Ed25519Signer{Key: key}
			signed, err := models.SignCatalog(b, signer)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = e.stdout.Write(signed)
				return err
			}
			if err := os.WriteFile(out, signed, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "signed with key %s (%s)\n", signer.KeyID(), provenance.FormatPublicKey(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file (Ed25519: an OpenSSH key, PKCS#8 PEM, or a base64 seed)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the signed catalog here (default stdout)")
	cmd.MarkFlagRequired("key")
	return cmd
}

func catalogShowCmd(e *env) *cobra.Command {
	var cf catalogFlags
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Verify a signed catalog and print its JSON (to edit, then sign again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.loadCatalog(&cf)
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(c, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\n", b)
			return nil
		},
	}
	addCatalogFlags(cmd, &cf)
	return cmd
}
