package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/client"
)

func chatCmd(e *env) *cobra.Command {
	var (
		f         remoteFlags
		model     string
		system    string
		maxTokens int
		temp      float64
		seed      int64
		save      bool
		resume    string
		identity  string
		plain     bool
	)
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat with a model in the terminal, answers streamed",
		Long: `Chat with a model. Each line you type is one turn; the answer streams back.
The conversation is kept on your side and resent with each turn, as OpenAI
clients do. Type /reset to start over, /exit (or end the input) to leave.

With --save the turns are also stored on the server, sealed to this
device's key (made and registered on first use), the organisation's admin
key and the backup keys; the server cannot read them back. --resume ID
fetches a stored conversation, opens it here and continues it.

Requests are sealed end to end (HPKE) to the server's published transport
key and answers sealed back, under TLS; --plain sends them with TLS only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := e.client(&f, true)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if model == "" {
				if model, err = firstModel(ctx, cl); err != nil {
					return err
				}
			}
			var o client.ChatOptions
			if cmd.Flags().Changed("temperature") {
				o.Temperature = &temp
			}
			if cmd.Flags().Changed("seed") {
				o.Seed = &seed
			}
			o.MaxTokens = maxTokens
			o.Sealed = !plain
			var history []client.Message
			if save || resume != "" {
				if o.Conversation, history, err = e.storedConversation(ctx, cl, resume, identity); err != nil {
					return err
				}
			}
			return e.chatLoop(ctx, cl, model, system, o, history)
		},
	}
	addRemoteFlags(cmd, &f)
	cmd.Flags().StringVarP(&model, "model", "m", "", "model to chat with (default: the first the server lists)")
	cmd.Flags().StringVar(&system, "system", "", "system prompt")
	cmd.Flags().IntVar(&maxTokens, "max-tokens", 0, "most tokens per answer (0: the server's default)")
	cmd.Flags().Float64Var(&temp, "temperature", 0.7, "sampling temperature")
	cmd.Flags().Int64Var(&seed, "seed", 0, "sampling seed, for repeatable answers")
	cmd.Flags().BoolVar(&save, "save", false, "store this chat on the server, sealed (see above)")
	cmd.Flags().StringVar(&resume, "resume", "", "continue the stored conversation with this ID")
	cmd.Flags().StringVar(&identity, "identity", "", "also open stored messages with the keys in this age identity file")
	cmd.Flags().BoolVar(&plain, "plain", false, "send requests with TLS only, not also sealed end to end to the server's key (HPKE)")
	cmd.MarkFlagsMutuallyExclusive("save", "resume")
	return cmd
}

func firstModel(ctx context.Context, cl *client.Client) (string, error) {
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := cl.Do(ctx, "GET", "/v1/models", nil, &out); err != nil {
		return "", err
	}
	if len(out.Data) == 0 {
		return "", withHint(errors.New("the server serves no model"), "import a GGUF model into the server's models directory")
	}
	return out.Data[0].ID, nil
}

func (e *env) chatLoop(ctx context.Context, cl *client.Client, model, system string, o client.ChatOptions, earlier []client.Message) error {
	var history []client.Message
	reset := func() {
		history = history[:0]
		if system != "" {
			history = append(history, client.Message{Role: "system", Content: system})
		}
	}
	reset()
	history = append(history, earlier...)
	fmt.Fprintf(e.stderr, "chatting with %s; /reset starts over, /exit leaves\n", model)
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for {
		fmt.Fprint(e.stderr, "> ")
		if !in.Scan() {
			fmt.Fprintln(e.stderr)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		switch line {
		case "":
			continue
		case "/exit", "/quit":
			return nil
		case "/reset":
			reset()
			continue
		}
		history = append(history, client.Message{Role: "user", Content: line})
		answer, err := cl.ChatStream(ctx, model, history, o, func(s string) { fmt.Fprint(e.stdout, s) })
		fmt.Fprintln(e.stdout)
		if err != nil {
			history = history[:len(history)-1]
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(e.stderr, "silo: error: %v\n", err)
			continue
		}
		history = append(history, client.Message{Role: "assistant", Content: answer})
	}
}
