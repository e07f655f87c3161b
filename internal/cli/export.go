package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
)

type conversationOut struct {
	ID        string `json:"id"`
	UserID    string `json:"user_id"`
	CreatedAt string `json:"created_at"`
}

type sealedMessageOut struct {
	ID         string   `json:"id"`
	Seq        int64    `json:"seq"`
	Role       string   `json:"role"`
	Version    int64    `json:"version"`
	Sealed     []byte   `json:"sealed"`
	Recipients []string `json:"recipients"`
	CreatedAt  string   `json:"created_at"`
}

// fetchMessages lists every sealed message of a conversation, page by page.
func fetchMessages(ctx context.Context, cl *client.Client, conv string) ([]sealedMessageOut, error) {
	var all []sealedMessageOut
	after := int64(0)
	for {
		var page struct {
			Messages []sealedMessageOut `json:"messages"`
		}
		path := fmt.Sprintf("/api/v1/conversations/%s/messages?after=%d&limit=1000", conv, after)
		if err := cl.Do(ctx, "GET", path, nil, &page); err != nil {
			return nil, err
		}
		if len(page.Messages) == 0 {
			return all, nil
		}
		all = append(all, page.Messages...)
		after = page.Messages[len(page.Messages)-1].Seq
	}
}

func exportCmd(e *env) *cobra.Command {
	var (
		all   bool
		convs []string
	)
	cmd := remoteCmd(e, "export DIR", "Write stored chats as sealed .age files, one per message, that the age tool opens with the admin or a backup key",
		cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			dir := a[0]
			if len(convs) == 0 {
				path := "/api/v1/conversations"
				if all {
					path += "?all=true"
				}
				var list struct {
					Conversations []conversationOut `json:"conversations"`
				}
				if err := cl.Do(ctx, "GET", path, nil, &list); err != nil {
					return err
				}
				for _, c := range list.Conversations {
					convs = append(convs, c.ID)
				}
			}
			files := 0
			for _, c := range convs {
				if _, err := uuid.Parse(c); err != nil {
					return fmt.Errorf("conversation %q is not a UUID", c)
				}
				ms, err := fetchMessages(ctx, cl, c)
				if err != nil {
					return fmt.Errorf("conversation %s: %w", c, err)
				}
				sub := filepath.Join(dir, c)
				if err := os.MkdirAll(sub, 0o700); err != nil {
					return err
				}
				for _, m := range ms {
					if m.Role != "user" && m.Role != "assistant" {
						return fmt.Errorf("conversation %s: message %d has an unknown role", c, m.Seq)
					}
					name := filepath.Join(sub, fmt.Sprintf("%06d-%s.age", m.Seq, m.Role))
					if err := os.WriteFile(name, m.Sealed, 0o600); err != nil {
						return err
					}
					files++
				}
			}
			fmt.Fprintf(e.stdout, "wrote %d sealed messages of %d conversations to %s\n", files, len(convs), dir)
			fmt.Fprintf(e.stderr, "open one with: age -d -i ADMIN_OR_BACKUP.key %s\n", filepath.Join(dir, "CONVERSATION", "000001-user.age"))
			return nil
		})
	cmd.Flags().BoolVar(&all, "all", false, "every user's conversations (admin)")
	cmd.Flags().StringSliceVar(&convs, "conversation", nil, "export only these conversation IDs")
	return cmd
}
