package gguf_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
)

func Example() {
	w := gguf.NewWriter()
	if err := w.AddKV("general.architecture", "llama"); err != nil {
		log.Fatal(err)
	}
	if err := w.AddKV("llama.block_count", uint32(16)); err != nil {
		log.Fatal(err)
	}
	// A 2x4 F32 matrix: rows of 4 elements, so Dims = {4, 2}.
	if err := w.AddTensor("m.weight", ggml.F32, []uint64{4, 2}, make([]byte, 32)); err != nil {
		log.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	arch, _ := f.String("general.architecture")
	layers, _ := f.Uint("llama.block_count")
	t, _ := f.Tensor("m.weight")
	fmt.Println(arch, layers, t.Type, t.Dims, len(f.TensorData(t)))
	// Output: llama 16 F32 [4 2] 32
}
