package cli

import (
	"log/slog"

	"github.com/silo-ai/silo/internal/config"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
)

// builtinEngine is the embedded GGUF engine over the models directory.
func builtinEngine(cfg *config.Serve, log *slog.Logger) (engine.Engine, error) {
	return builtin.New(builtin.Options{Dir: cfg.ModelsDir, Logger: log.With("component", "builtin")})
}
