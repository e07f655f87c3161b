// Command silo is a private AI server you can verify. See `silo --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/silo-ai/silo/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil)
	stop()
	os.Exit(code)
}
