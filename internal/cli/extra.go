package cli

import "github.com/spf13/cobra"

// extraCommands are the developer commands of the built-in engine.
func extraCommands(e *env) []*cobra.Command {
	return nil
}
