package genmodel_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
)

func ExampleWriteFile() {
	dir, _ := os.MkdirTemp("", "genmodel")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	err := genmodel.WriteFile(path, genmodel.Options{Arch: genmodel.ArchQwen3, Hidden: 64, Layers: 2,
		Heads: 4, KVHeads: 2, Type: ggml.Q8_0, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := gguf.Open(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	arch, _ := f.String("general.architecture")
	t, _ := f.Tensor("blk.0.attn_q.weight")
	fmt.Println(arch, len(f.Tensors), t.Type, t.Dims)
	// Output: qwen3 25 Q8_0 [64 64]
}
