package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
	"github.com/silo-ai/silo/internal/conversation"
	"github.com/silo-ai/silo/internal/seal"
)

// This device's sealing key: an age identity made on first use, kept in a
// 0600 file in the user's config dir, whose public half is registered with
// the server so stored chats are sealed to it. The private key never leaves
// the file.

func (e *env) deviceKeyPath() string { return filepath.Join(e.configDir(), "device.key") }

// loadIdentityFile reads an age identity file, refusing one that others may
// read: a private key readable by the group or the world is a leak.
func loadIdentityFile(path string) ([]seal.Identity, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, withHint(fmt.Errorf("identity file %s is readable by others (mode %v)", path, fi.Mode().Perm()),
			"run `chmod 600 "+path+"`")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, err := seal.ParseIdentities(f)
	if err != nil {
		return nil, fmt.Errorf("read identity file %s: %w", path, err)
	}
	return ids, nil
}

// deviceIdentity loads this device's key, making it on first use.
func (e *env) deviceIdentity() (seal.Identity, error) {
	path := e.deviceKeyPath()
	ids, err := loadIdentityFile(path)
	if err == nil {
		return ids[0], nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return seal.Identity{}, err
	}
	if err := os.MkdirAll(e.configDir(), 0o700); err != nil {
		return seal.Identity{}, err
	}
	id, err := seal.GenerateIdentity()
	if err != nil {
		return seal.Identity{}, err
	}
	if err := seal.WriteIdentityFile(path, id); err != nil {
		if errors.Is(err, fs.ErrExist) { // made by a concurrent first use
			return e.deviceIdentity()
		}
		return seal.Identity{}, err
	}
	fmt.Fprintf(e.stderr, "made this device's sealing key in %s (keep it private; it opens your stored chats)\n", path)
	return id, nil
}

// deviceName is a label for this device: its host name, made to fit the
// API's label pattern.
func deviceName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "device"
	}
	var b strings.Builder
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '.', r == '-', r == '_':
			if b.Len() > 0 {
				b.WriteRune(r)
			}
		}
		if b.Len() >= 64 {
			break
		}
	}
	if b.Len() == 0 {
		return "device"
	}
	return b.String()
}

type sealKeyOut struct {
	ID          string  `json:"id"`
	Kind        string  `json:"kind"`
	UserID      string  `json:"user_id"`
	Name        string  `json:"name"`
	Recipient   string  `json:"recipient"`
	Fingerprint string  `json:"fingerprint"`
	CreatedAt   string  `json:"created_at"`
	RevokedAt   *string `json:"revoked_at"`
	Revoked     bool    `json:"revoked"`
}

// ensureDevice loads (or makes) this device's key and registers its public
// half with the server unless it is registered already.
func (e *env) ensureDevice(ctx context.Context, cl *client.Client) (seal.Identity, error) {
	id, err := e.deviceIdentity()
	if err != nil {
		return seal.Identity{}, err
	}
	var list struct {
		Keys []sealKeyOut `json:"keys"`
	}
	if err := cl.Do(ctx, "GET", "/api/v1/keys/devices", nil, &list); err != nil {
		return seal.Identity{}, err
	}
	fp := id.Recipient().Fingerprint()
	for _, k := range list.Keys {
		if k.Fingerprint != fp {
			continue
		}
		if k.Revoked {
			return seal.Identity{}, withHint(errors.New("this device's sealing key was revoked"),
				"move "+e.deviceKeyPath()+" away (it still opens what was sealed to it before) and run again to make a new key")
		}
		return id, nil
	}
	var k sealKeyOut
	in := map[string]string{"name": deviceName(), "recipient": id.Recipient().String()}
	if err := cl.Do(ctx, "POST", "/api/v1/keys/devices", in, &k); err != nil {
		return seal.Identity{}, fmt.Errorf("register this device's key: %w", err)
	}
	fmt.Fprintf(e.stderr, "registered this device's sealing key %s as %q\n", k.Fingerprint, k.Name)
	return id, nil
}

func (e *env) printSealKeys(keys []sealKeyOut) {
	e.table("ID\tNAME\tFINGERPRINT\tCREATED\tREVOKED", func(tw *tabwriter.Writer) {
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", k.ID, k.Name, k.Fingerprint, k.CreatedAt, k.Revoked)
		}
	})
}

func devicesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "Your devices' sealing keys (stored chats are sealed to them)"}
	cmd.AddCommand(
		remoteCmd(e, "ls", "List your devices' public keys", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			var list struct {
				Keys []sealKeyOut `json:"keys"`
			}
			if err := cl.Do(ctx, "GET", "/api/v1/keys/devices", nil, &list); err != nil {
				return err
			}
			e.printSealKeys(list.Keys)
			return nil
		}),
		remoteCmd(e, "register", "Make this device's key if needed and register its public half", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			id, err := e.ensureDevice(ctx, cl)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "this device's key %s is registered\n", id.Recipient().Fingerprint())
			return nil
		}),
		remoteCmd(e, "revoke ID", "Revoke a device's key: nothing stored after is sealed to it", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			if err := cl.Do(ctx, "DELETE", "/api/v1/keys/devices/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked device key %s\n", a[0])
			return nil
		}),
	)
	return cmd
}

// storedConversation prepares a stored chat: it makes sure this device's
// key is registered (so new turns are sealed to it too), then either starts
// a conversation (resume == "") or fetches one and opens its messages here
// with the device key and the keys of identityFile, if given.
func (e *env) storedConversation(ctx context.Context, cl *client.Client, resume, identityFile string) (string, []client.Message, error) {
	dev, err := e.ensureDevice(ctx, cl)
	if err != nil {
		return "", nil, err
	}
	ids := []seal.Identity{dev}
	if identityFile != "" {
		more, err := loadIdentityFile(identityFile)
		if err != nil {
			return "", nil, err
		}
		ids = append(ids, more...)
	}
	if resume == "" {
		var c conversationOut
		if err := cl.Do(ctx, "POST", "/api/v1/conversations", nil, &c); err != nil {
			return "", nil, err
		}
		fmt.Fprintf(e.stderr, "storing this chat sealed as conversation %s (resume with: silo chat --resume %s)\n", c.ID, c.ID)
		return c.ID, nil, nil
	}
	conv, err := uuid.Parse(resume)
	if err != nil || conv.String() != resume {
		return "", nil, fmt.Errorf("--resume %q is not a lowercase UUID", resume)
	}
	ms, err := fetchMessages(ctx, cl, resume)
	if err != nil {
		return "", nil, err
	}
	var history []client.Message
	for _, m := range ms {
		msg, err := conversation.Open(m.Sealed, conv, m.Role, ids...)
		switch {
		case errors.Is(err, seal.ErrNoIdentity):
			fmt.Fprintf(e.stderr, "(message %d is not sealed to this device's key; pass --identity to open it)\n", m.Seq)
			continue
		case err != nil:
			return "", nil, fmt.Errorf("message %d: %w", m.Seq, err)
		}
		fmt.Fprintf(e.stdout, "%s: %s\n", msg.Role, msg.Content)
		history = append(history, client.Message{Role: msg.Role, Content: msg.Content})
	}
	fmt.Fprintf(e.stderr, "resumed conversation %s: %d messages opened here\n", resume, len(history))
	return resume, history, nil
}
