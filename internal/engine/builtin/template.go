package builtin

import "github.com/silo-ai/silo/internal/engine"

// renderTemplate renders msgs with the model's chat template; ok is false
// when the model has none or it cannot be rendered.
func (m *model) renderTemplate(msgs []engine.Message) (string, bool) {
	return "", false
}
