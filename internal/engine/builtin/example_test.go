package builtin_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
)

func Example() {
	dir, _ := os.MkdirTemp("", "models")
	defer os.RemoveAll(dir)
	// A tiny generated model: its text is random, but it is served like any
	// GGUF file: by its file name.
	if err := genmodel.WriteFile(filepath.Join(dir, "tiny.gguf"), genmodel.Options{Type: ggml.Q8_0}); err != nil {
		fmt.Println(err)
		return
	}
	e, err := builtin.New(builtin.Options{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	seed := int64(1)
	req := &engine.Request{Model: "tiny", Messages: []engine.Message{{Role: "user", Content: "Hello"}},
		MaxTokens: 5, Seed: &seed}
	res, err := e.Generate(context.Background(), req, func(c engine.Chunk) error {
		fmt.Print(c.Text) // streamed text, whole UTF-8 characters
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println()
	fmt.Println(res.FinishReason, res.Usage.CompletionTokens)
}
