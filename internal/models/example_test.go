package models_test

import (
	"fmt"

	"github.com/silo-ai/silo/internal/models"
)

// ExampleResolveURL shows how pull sources map to download URLs.
func ExampleResolveURL() {
	for _, src := range []string{
		"hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf",
		"hf://org/repo@v1.0/sub/model.gguf",
		"https://example.org/model.gguf",
	} {
		u, err := models.ResolveURL(src)
		fmt.Println(u, err)
	}
	// Output:
	// https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q8_0.gguf <nil>
	// https://huggingface.co/org/repo/resolve/v1.0/sub/model.gguf <nil>
	// https://example.org/model.gguf <nil>
}

// ExampleValidName shows which model names the store accepts.
func ExampleValidName() {
	for _, n := range []string{"qwen2.5-0.5b-instruct-q8_0", "../etc/passwd", ".hidden", "a b"} {
		fmt.Println(n, models.ValidName(n))
	}
	// Output:
	// qwen2.5-0.5b-instruct-q8_0 true
	// ../etc/passwd false
	// .hidden false
	// a b false
}
