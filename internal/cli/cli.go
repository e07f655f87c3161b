// Package cli is the `silo` command line: the server (`silo serve`) and
// the commands that manage and use one. The CLI framework (cobra) lives
// only here; commands call into internal packages for everything else.
//
// Errors print as `silo: error: ...`, with `silo: hint: ...` where a next
// step helps, and exit with status 1.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// hinted is an error with a next step for the user.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func withHint(err error, hint string) error { return &hinted{err, hint} }

// env gives commands their streams and environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	environ        []string
}

// Main runs the CLI and returns the process exit code; environ as for Run.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	if err := Run(ctx, args, stdin, stdout, stderr, environ); err != nil {
		fmt.Fprintf(stderr, "silo: error: %v\n", err)
		var h *hinted
		if errors.As(err, &h) {
			fmt.Fprintf(stderr, "silo: hint: %s\n", h.hint)
		}
		return 1
	}
	return 0
}

// Run runs one command line. environ overrides the process environment
// (nil: os.Environ()), so tests can run commands side by side.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, environ: environOr(environ)}
	root := &cobra.Command{
		Use:           "silo",
		Short:         "silo: a private AI server you can verify",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		serveCmd(e),
		versionCmd(e),
		loginCmd(e),
		bootstrapCmd(e),
		chatCmd(e),
		modelsCmd(e),
		usersCmd(e),
		keysCmd(e),
		limitsCmd(e),
		usageCmd(e),
		auditCmd(e),
		adminCmd(e),
		devicesCmd(e),
		exportCmd(e),
	)
	root.AddCommand(certCmd(e), verifyCmd(e), logCmd(e), catalogCmd(e), attestCmd(e))
	root.AddCommand(extraCommands(e)...)
	return root.ExecuteContext(ctx)
}

func versionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print silo's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v += "+" + s.Value
					}
				}
			}
			fmt.Fprintf(e.stdout, "silo %s\n", v)
			return nil
		},
	}
}

func environOr(environ []string) []string {
	if environ == nil {
		return os.Environ()
	}
	return environ
}
