package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/seal"
)

// The organisation's admin key and the backup keys are made here, on the
// admin's machine; the server only ever receives their public halves.

// newIdentityFile makes an identity and writes it to a new 0600 file; it
// never overwrites one.
func newIdentityFile(path string) (seal.Identity, error) {
	id, err := seal.GenerateIdentity()
	if err != nil {
		return seal.Identity{}, err
	}
	if err := seal.WriteIdentityFile(path, id); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return seal.Identity{}, withHint(fmt.Errorf("%s exists already", path), "name a new file; an existing key is never overwritten")
		}
		return seal.Identity{}, err
	}
	return id, nil
}

func adminCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Organisation setup (admin)"}
	var identity string
	initCmd := remoteCmd(e, "init", "Make the organisation's admin key here and upload its public half",
		cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			// An existing file is reused, so a failed upload can be retried.
			var id seal.Identity
			ids, err := loadIdentityFile(identity)
			switch {
			case err == nil:
				id = ids[0]
				fmt.Fprintf(e.stderr, "using the existing admin key in %s\n", identity)
			case errors.Is(err, fs.ErrNotExist):
				if id, err = newIdentityFile(identity); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "made the admin key in %s (mode 0600)\n", identity)
			default:
				return err
			}
			var k sealKeyOut
			if err := cl.Do(ctx, "PUT", "/api/v1/keys/admin", map[string]string{"recipient": id.Recipient().String()}, &k); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "admin key %s is set; every stored chat is sealed to it\n", k.Fingerprint)
			fmt.Fprintf(e.stderr, "keep %s offline and safe: it opens every stored chat (`age -d -i %s FILE.age`), and the server cannot\n", identity, identity)
			return nil
		})
	initCmd.Flags().StringVar(&identity, "identity", "", "file for the admin's private key (made 0600 if missing; never overwritten)")
	initCmd.MarkFlagRequired("identity")
	cmd.AddCommand(initCmd)
	return cmd
}

// backupCmd is `silo keys backup`.
func backupCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "backup", Short: "Backup sealing keys: made offline, every stored chat is sealed to the live ones (admin)"}
	var out string
	create := remoteCmd(e, "create NAME", "Make a backup key here, write and print its private half, upload its public half",
		cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			id, err := newIdentityFile(out)
			if err != nil {
				return err
			}
			var k sealKeyOut
			if err := cl.Do(ctx, "POST", "/api/v1/keys/backup", map[string]string{"name": a[0], "recipient": id.Recipient().String()}, &k); err != nil {
				return fmt.Errorf("upload the backup key (its private half is in %s): %w", out, err)
			}
			fmt.Fprintf(e.stderr, "backup key %s (%s) registered; its private half is in %s and below.\n", k.Name, k.ID, out)
			fmt.Fprintln(e.stderr, "Print or copy it to offline storage, then remove the file from this machine:")
			e.stdout.Write(id.MarshalFile(time.Now()))
			return nil
		})
	create.Flags().StringVar(&out, "out", "", "new file for the private key (mode 0600)")
	create.MarkFlagRequired("out")
	cmd.AddCommand(create,
		remoteCmd(e, "ls", "List backup keys", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			var list struct {
				Keys []sealKeyOut `json:"keys"`
			}
			if err := cl.Do(ctx, "GET", "/api/v1/keys/backup", nil, &list); err != nil {
				return err
			}
			e.printSealKeys(list.Keys)
			return nil
		}),
		remoteCmd(e, "revoke ID", "Revoke a backup key: nothing stored after is sealed to it", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			if err := cl.Do(ctx, "DELETE", "/api/v1/keys/backup/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked backup key %s\n", a[0])
			return nil
		}),
	)
	return cmd
}
