package cli

import (
	"context"
	"log/slog"

	"github.com/silo-ai/silo/internal/config"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
)

// builtinEngine is the embedded GGUF engine over the models directory;
// verify (the trust policy check, see models.go) decides which models it
// may list and load.
func builtinEngine(cfg *config.Serve, log *slog.Logger, verify func(ctx context.Context, name, path string) error,
	loaded func(name, path string) error) (engine.Engine, error) {
	return builtin.New(builtin.Options{Dir: cfg.ModelsDir, Logger: log.With("component", "builtin"), Verify: verify, Loaded: loaded})
}
