package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/conversation"
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
	var (
		identity string
		replace  bool
	)
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
			var prev sealKeyOut
			if replace {
				// Revoke the live key first (at most one is live): until the
				// new one is set, chats are refused rather than stored to a
				// key the organisation no longer trusts.
				if err := cl.Do(ctx, "GET", "/api/v1/keys/admin", nil, &prev); err != nil {
					return err
				}
				if prev.Fingerprint == id.Recipient().Fingerprint() {
					return withHint(fmt.Errorf("%s holds the admin key that is set now", identity), "name a new file for the new admin key")
				}
				if err := cl.Do(ctx, "DELETE", "/api/v1/keys/admin", nil, nil); err != nil {
					return err
				}
			}
			var k sealKeyOut
			if err := cl.Do(ctx, "PUT", "/api/v1/keys/admin", map[string]string{"recipient": id.Recipient().String()}, &k); err != nil {
				if replace {
					return withHint(fmt.Errorf("the old admin key %s is revoked, but setting the new one failed: %w", prev.Fingerprint, err),
						"run the same command again without --replace to set it; chats are refused until then")
				}
				return err
			}
			fmt.Fprintf(e.stdout, "admin key %s is set; every stored chat is sealed to it\n", k.Fingerprint)
			if replace {
				fmt.Fprintf(e.stdout, "the admin key %s is revoked; move stored chats to the new key with:\n  silo keys rewrap --identity %s --old-identity OLD-ADMIN-KEY-FILE\n", prev.Fingerprint, identity)
			}
			fmt.Fprintf(e.stderr, "keep %s offline and safe: it opens every stored chat (`age -d -i %s FILE.age`), and the server cannot\n", identity, identity)
			return nil
		})
	initCmd.Flags().StringVar(&identity, "identity", "", "file for the admin's private key (made 0600 if missing; never overwritten)")
	initCmd.Flags().BoolVar(&replace, "replace", false, "replace the live admin key (lost or exposed) with a new one; then run `silo keys rewrap --old-identity`")
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

// rewrapCmd is `silo keys rewrap`: run on the admin's machine (only a
// private key opens old data), it seals every stored message whose
// recipients are not the owner's live keys anew, to exactly those keys.
// Each message is replaced on the server in one transaction, after its new
// blob was checked to open with the admin key, so stopping at any point
// leaves every message openable by every live key, and running again
// continues where it stopped (done messages are no longer stale).
func rewrapCmd(e *env) *cobra.Command {
	var (
		identity string
		previous []string
		maxN     int
	)
	cmd := remoteCmd(e, "rewrap", "Seal stored chats anew without revoked keys (admin, on the admin's machine)",
		cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			ids, err := loadIdentityFile(identity)
			if err != nil {
				return err
			}
			admin := ids[0]
			// Messages stored before the admin key was replaced open with
			// the replaced key's identity only.
			var older []seal.Identity
			for _, p := range previous {
				ids, err := loadIdentityFile(p)
				if err != nil {
					return err
				}
				older = append(older, ids...)
			}
			var ak sealKeyOut
			if err := cl.Do(ctx, "GET", "/api/v1/keys/admin", nil, &ak); err != nil {
				return err
			}
			if ak.Fingerprint != admin.Recipient().Fingerprint() {
				return fmt.Errorf("%s is not the organisation's admin key (%s)", identity, ak.Fingerprint)
			}
			shared := []seal.Recipient{admin.Recipient()}
			var backups struct {
				Keys []sealKeyOut `json:"keys"`
			}
			if err := cl.Do(ctx, "GET", "/api/v1/keys/backup", nil, &backups); err != nil {
				return err
			}
			if shared, err = appendLive(shared, backups.Keys); err != nil {
				return err
			}
			var list struct {
				Conversations []conversationOut `json:"conversations"`
			}
			if err := cl.Do(ctx, "GET", "/api/v1/conversations?all=true", nil, &list); err != nil {
				return err
			}
			liveOf := map[string][]seal.Recipient{} // owner -> live set
			done := 0
			for i, c := range list.Conversations {
				live, ok := liveOf[c.UserID]
				if !ok {
					var devs struct {
						Keys []sealKeyOut `json:"keys"`
					}
					if err := cl.Do(ctx, "GET", "/api/v1/keys/devices?user_id="+url.QueryEscape(c.UserID), nil, &devs); err != nil {
						return err
					}
					if live, err = appendLive(slices.Clone(shared), devs.Keys); err != nil {
						return err
					}
					liveOf[c.UserID] = live
				}
				want := seal.Fingerprints(live)
				ms, err := fetchMessages(ctx, cl, c.ID)
				if err != nil {
					return err
				}
				conv, err := uuid.Parse(c.ID)
				if err != nil {
					return fmt.Errorf("conversation %q is not a UUID", c.ID)
				}
				for _, m := range ms {
					if slices.Equal(m.Recipients, want) {
						continue
					}
					if maxN > 0 && done >= maxN {
						fmt.Fprintf(e.stderr, "\n")
						fmt.Fprintf(e.stdout, "stopped after %d messages (--max); run again to continue\n", done)
						return nil
					}
					blob, err := conversation.Reseal(m.Sealed, conv, m.Role, admin, live, older...)
					if err != nil {
						return fmt.Errorf("conversation %s, message %d: %w", c.ID, m.Seq, err)
					}
					in := map[string]any{"message_id": m.ID, "version": m.Version, "sealed": blob, "recipients": want}
					if err := cl.Do(ctx, "POST", "/api/v1/conversations/"+c.ID+"/reseal", in, nil); err != nil {
						return withHint(fmt.Errorf("conversation %s, message %d: %w", c.ID, m.Seq, err),
							"keys or messages changed meanwhile; run `silo keys rewrap` again, it continues where it stopped")
					}
					done++
				}
				fmt.Fprintf(e.stderr, "\rrewrap: %d/%d conversations, %d messages sealed anew", i+1, len(list.Conversations), done)
			}
			fmt.Fprintf(e.stderr, "\n")
			fmt.Fprintf(e.stdout, "rewrapped %d messages; every stored message is sealed to exactly the live keys\n", done)
			return nil
		})
	cmd.Flags().StringVar(&identity, "identity", "", "the admin's identity file (from silo admin init)")
	cmd.Flags().StringArrayVar(&previous, "old-identity", nil, "identity file of a replaced admin key, to open what was sealed to it (repeatable)")
	cmd.Flags().IntVar(&maxN, "max", 0, "stop after this many messages (0: no limit); run again to continue")
	cmd.MarkFlagRequired("identity")
	return cmd
}

// appendLive adds the keys of ks that are not revoked to rs.
func appendLive(rs []seal.Recipient, ks []sealKeyOut) ([]seal.Recipient, error) {
	for _, k := range ks {
		if k.Revoked {
			continue
		}
		r, err := seal.ParseRecipient(k.Recipient)
		if err != nil {
			return nil, fmt.Errorf("key %s from the server: %w", k.ID, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}
