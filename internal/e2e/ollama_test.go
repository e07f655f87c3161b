package e2e

import "testing"

// TestOllamaJS runs tests/js/ollama.mjs, the official npm ollama package
// (ollama-js) under node, against silo serve in front of the double.
func TestOllamaJS(t *testing.T) {
	t.Parallel()
	runNodeScript(t, "ollama.mjs", "ollama")
}
