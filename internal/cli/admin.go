package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/audit"
	"github.com/silo-ai/silo/internal/client"
)

// remoteCmd builds a client command with the connection flags.
func remoteCmd(e *env, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, cl *client.Client, args []string) error) *cobra.Command {
	var f remoteFlags
	cmd := &cobra.Command{
		Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			cl, err := e.client(&f, true)
			if err != nil {
				return err
			}
			return run(cmd.Context(), cl, a)
		},
	}
	addRemoteFlags(cmd, &f)
	return cmd
}

func (e *env) table(header string, rows func(tw *tabwriter.Writer)) {
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	rows(tw)
	tw.Flush()
}

// findUser resolves a user name or id to its id.
func findUser(ctx context.Context, cl *client.Client, nameOrID string) (userOut, error) {
	var list struct {
		Users []userOut `json:"users"`
	}
	if err := cl.Do(ctx, "GET", "/api/v1/users", nil, &list); err != nil {
		return userOut{}, err
	}
	for _, u := range list.Users {
		if u.Name == nameOrID || u.ID == nameOrID {
			return u, nil
		}
	}
	return userOut{}, fmt.Errorf("no user %q", nameOrID)
}

func usersCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users (admin)"}
	cmd.AddCommand(
		remoteCmd(e, "ls", "List users", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
			var list struct {
				Users []userOut `json:"users"`
			}
			if err := cl.Do(ctx, "GET", "/api/v1/users", nil, &list); err != nil {
				return err
			}
			e.table("ID\tNAME\tROLE\tEMAIL\tDISABLED", func(tw *tabwriter.Writer) {
				for _, u := range list.Users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", u.ID, u.Name, u.Role, u.Email, u.Disabled)
				}
			})
			return nil
		}),
		func() *cobra.Command {
			var role, email string
			c := remoteCmd(e, "create NAME", "Create a user", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
				in := map[string]string{"name": a[0], "role": role}
				if email != "" {
					in["email"] = email
				}
				var u userOut
				if err := cl.Do(ctx, "POST", "/api/v1/users", in, &u); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "created user %s (%s) %s\n", u.Name, u.Role, u.ID)
				return nil
			})
			c.Flags().StringVar(&role, "role", "user", "admin or user")
			c.Flags().StringVar(&email, "email", "", "e-mail address")
			return c
		}(),
		func() *cobra.Command {
			var role string
			var disable, enable bool
			c := remoteCmd(e, "set NAME", "Change a user's role or disable/enable them", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
				u, err := findUser(ctx, cl, a[0])
				if err != nil {
					return err
				}
				in := map[string]any{}
				if role != "" {
					in["role"] = role
				}
				if disable || enable {
					in["disabled"] = disable
				}
				if err := cl.Do(ctx, "PATCH", "/api/v1/users/"+u.ID, in, &u); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "user %s: role %s, disabled %v\n", u.Name, u.Role, u.Disabled)
				return nil
			})
			c.Flags().StringVar(&role, "role", "", "admin or user")
			c.Flags().BoolVar(&disable, "disable", false, "disable the user")
			c.Flags().BoolVar(&enable, "enable", false, "enable the user")
			c.MarkFlagsMutuallyExclusive("disable", "enable")
			return c
		}(),
		remoteCmd(e, "rm NAME", "Delete a user and their API keys", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			u, err := findUser(ctx, cl, a[0])
			if err != nil {
				return err
			}
			if err := cl.Do(ctx, "DELETE", "/api/v1/users/"+u.ID, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted user %s\n", u.Name)
			return nil
		}),
	)
	return cmd
}

func keysCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Manage API keys"}
	var all bool
	ls := remoteCmd(e, "ls", "List your API keys (admins: --all)", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
		path := "/api/v1/keys"
		if all {
			path += "?all=true"
		}
		var list struct {
			Keys []keyOut `json:"keys"`
		}
		if err := cl.Do(ctx, "GET", path, nil, &list); err != nil {
			return err
		}
		e.table("ID\tNAME\tPREFIX\tUSER\tCREATED\tLAST USED\tREVOKED", func(tw *tabwriter.Writer) {
			for _, k := range list.Keys {
				last := "never"
				if k.LastUsedAt != nil {
					last = *k.LastUsedAt
				}
				fmt.Fprintf(tw, "%s\t%s\t%s…\t%s\t%s\t%s\t%v\n", k.ID, k.Name, k.Prefix, k.UserID, k.CreatedAt, last, k.Revoked)
			}
		})
		return nil
	})
	ls.Flags().BoolVar(&all, "all", false, "every user's keys (admin)")
	var forUser string
	create := remoteCmd(e, "create NAME", "Create an API key; it is shown once", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
		in := map[string]string{"name": a[0]}
		if forUser != "" {
			u, err := findUser(ctx, cl, forUser)
			if err != nil {
				return err
			}
			in["user_id"] = u.ID
		}
		var out keyCreatedOut
		if err := cl.Do(ctx, "POST", "/api/v1/keys", in, &out); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "API key %s (%s) created; it is shown once, store it now:\n", out.Key.Name, out.Key.ID)
		fmt.Fprintln(e.stdout, out.Secret)
		return nil
	})
	create.Flags().StringVar(&forUser, "user", "", "create the key for this user (admin)")
	cmd.AddCommand(ls, create, backupCmd(e), rewrapCmd(e),
		remoteCmd(e, "revoke ID", "Revoke an API key", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
			if err := cl.Do(ctx, "DELETE", "/api/v1/keys/"+url.PathEscape(a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked key %s\n", a[0])
			return nil
		}))
	return cmd
}

type limitsOut struct {
	UserID            string `json:"user_id"`
	TokensPerDay      int64  `json:"tokens_per_day"`
	RequestsPerMinute int64  `json:"requests_per_minute"`
	TokensUsedToday   int64  `json:"tokens_used_today"`
}

func limitsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "limits", Short: "Show or set a user's token quota and rate limit"}
	show := func(l limitsOut) {
		fmt.Fprintf(e.stdout, "tokens per day: %d (used today: %d)\nrequests per minute: %d\n(0 means unlimited)\n",
			l.TokensPerDay, l.TokensUsedToday, l.RequestsPerMinute)
	}
	var tokens, rpm int64
	set := remoteCmd(e, "set USER", "Set a user's limits (admin)", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
		u, err := findUser(ctx, cl, a[0])
		if err != nil {
			return err
		}
		var l limitsOut
		if err := cl.Do(ctx, "PUT", "/api/v1/users/"+u.ID+"/limits", map[string]int64{"tokens_per_day": tokens, "requests_per_minute": rpm}, &l); err != nil {
			return err
		}
		show(l)
		return nil
	})
	set.Flags().Int64Var(&tokens, "tokens-per-day", 0, "daily token quota (0: unlimited)")
	set.Flags().Int64Var(&rpm, "requests-per-minute", 0, "request rate limit (0: unlimited)")
	cmd.AddCommand(set, remoteCmd(e, "get USER", "Show a user's limits", cobra.ExactArgs(1), func(ctx context.Context, cl *client.Client, a []string) error {
		u, err := findUser(ctx, cl, a[0])
		if err != nil {
			return err
		}
		var l limitsOut
		if err := cl.Do(ctx, "GET", "/api/v1/users/"+u.ID+"/limits", nil, &l); err != nil {
			return err
		}
		show(l)
		return nil
	}))
	return cmd
}

func usageCmd(e *env) *cobra.Command {
	return remoteCmd(e, "usage", "Token usage by user and model", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
		var out struct {
			Usage []struct {
				UserID           string `json:"user_id"`
				Model            string `json:"model"`
				Requests         int64  `json:"requests"`
				PromptTokens     int64  `json:"prompt_tokens"`
				CompletionTokens int64  `json:"completion_tokens"`
			} `json:"usage"`
		}
		if err := cl.Do(ctx, "GET", "/api/v1/usage", nil, &out); err != nil {
			return err
		}
		e.table("USER\tMODEL\tREQUESTS\tPROMPT\tCOMPLETION", func(tw *tabwriter.Writer) {
			for _, u := range out.Usage {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", u.UserID, u.Model, u.Requests, u.PromptTokens, u.CompletionTokens)
			}
		})
		return nil
	})
}

func auditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the hash-chained audit log (admin)"}
	var after int64
	ls := remoteCmd(e, "ls", "List audit entries", cobra.NoArgs, func(ctx context.Context, cl *client.Client, _ []string) error {
		var out struct {
			Entries []struct {
				Seq     int64           `json:"seq"`
				Time    string          `json:"time"`
				ActorID string          `json:"actor_id"`
				Action  string          `json:"action"`
				Target  string          `json:"target"`
				Detail  json.RawMessage `json:"detail"`
			} `json:"entries"`
		}
		if err := cl.Do(ctx, "GET", fmt.Sprintf("/api/v1/audit?after=%d&limit=1000", after), nil, &out); err != nil {
			return err
		}
		e.table("SEQ\tTIME\tACTOR\tACTION\tTARGET\tDETAIL", func(tw *tabwriter.Writer) {
			for _, a := range out.Entries {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.Seq, a.Time, a.ActorID, a.Action, a.Target, a.Detail)
			}
		})
		return nil
	})
	ls.Flags().Int64Var(&after, "after", 0, "list entries after this sequence number")

	var f remoteFlags
	var db, dataDir string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the whole chain and name the first broken entry",
		Long: `Verify the whole audit chain. By default the server verifies it (admin key
needed); with --db the chain is read straight from the database, which is the
way to check a server you do not trust.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ok bool
			var entries, broken int64
			var reason string
			if db != "" || dataDir != "" {
				st, err := openStore(cmd.Context(), db, dataDir)
				if err != nil {
					return err
				}
				defer st.Close()
				v, err := audit.New(st).Verify(cmd.Context())
				if err != nil {
					return err
				}
				ok, entries, broken, reason = v.OK(), v.Entries, v.BrokenSeq, v.Reason
			} else {
				cl, err := e.client(&f, true)
				if err != nil {
					return err
				}
				var out struct {
					OK        bool   `json:"ok"`
					Entries   int64  `json:"entries"`
					BrokenSeq int64  `json:"broken_seq"`
					Reason    string `json:"reason"`
				}
				if err := cl.Do(cmd.Context(), "GET", "/api/v1/audit/verify", nil, &out); err != nil {
					return err
				}
				ok, entries, broken, reason = out.OK, out.Entries, out.BrokenSeq, out.Reason
			}
			if !ok {
				return fmt.Errorf("audit chain broken at entry %d: %s", broken, reason)
			}
			fmt.Fprintf(e.stdout, "audit chain ok: %d entries\n", entries)
			return nil
		},
	}
	addRemoteFlags(verify, &f)
	verify.Flags().StringVar(&db, "db", "", "verify this database directly: a SQLite file or a postgres:// URL")
	verify.Flags().StringVar(&dataDir, "data-dir", "", "verify the SQLite database in this data dir directly")
	cmd.AddCommand(ls, verify)
	return cmd
}
