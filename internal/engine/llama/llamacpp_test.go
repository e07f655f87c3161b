package llama_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
)

// TestLlamaCpp compares the logits of generated models with llama.cpp's own
// (its prebuilt CPU build, driven by testdata/llamacpp/logits.mjs). It
// checks what the float64 reference cannot: that real llama.cpp loads the
// files genmodel writes, and that this package reads the GGUF conventions
// (tensor layouts, RoPE per architecture, rope_freqs, q/k norms, biases)
// as llama.cpp does.
//
// It needs node and `npm install` in testdata/llamacpp, and runs when
// SILO_LLAMACPP is set (to anything); see the README's test section.
func TestLlamaCpp(t *testing.T) {
	if os.Getenv("SILO_LLAMACPP") == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI must run the llama.cpp cross-check: scripts/test.sh installs node-llama-cpp and sets SILO_LLAMACPP")
		}
		t.Skip("llama.cpp cross-check: set SILO_LLAMACPP after `npm install` in internal/engine/llama/testdata/llamacpp")
	}
	script, err := filepath.Abs("testdata/llamacpp/logits.mjs")
	if err != nil {
		t.Fatal(err)
	}
	toks := []int{1, 415, 2936, 9060, 285, 1142, 28705, 13, 22557, 1, 0, 31999}
	tj, _ := json.Marshal(toks)
	// llama.cpp keeps an F16 KV cache and rounds some intermediate values to
	// F16 even for float weights; quantized types differ further by the
	// activation rounding. Measured: 4e-4 (float) and 2e-2 (quantized).
	tolerance := map[ggml.Type]float64{ggml.F32: 2e-3, ggml.F16: 2e-3, ggml.Q8_0: 4e-2, ggml.Q4_0: 4e-2,
		ggml.Q4_K: 4e-2, ggml.Q6_K: 4e-2}
	for _, arch := range []string{genmodel.ArchLlama, genmodel.ArchQwen2, genmodel.ArchQwen3} {
		for _, typ := range []ggml.Type{ggml.F32, ggml.F16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_K, ggml.Q6_K} {
			t.Run(arch+"/"+typ.String(), func(t *testing.T) {
				o := genmodel.Options{Arch: arch, Type: typ, Hidden: 256, Heads: 4, KVHeads: 2, FFN: 512, Layers: 2,
					Seed: 3, Context: 256}
				if arch == genmodel.ArchQwen3 {
					o.HeadDim = 128
				}
				if arch == genmodel.ArchLlama && typ == ggml.F32 {
					o.Llama3Rope, o.RopeBase = true, 500000
				}
				dir := t.TempDir()
				path := filepath.Join(dir, "model.gguf")
				if err := genmodel.WriteFile(path, o); err != nil {
					t.Fatal(err)
				}
				outPath := filepath.Join(dir, "logits.json")
				cmd := exec.Command("node", script, path, string(tj), outPath)
				cmd.Dir = filepath.Dir(script)
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("llama.cpp: %v\n%s", err, out)
				}
				data, err := os.ReadFile(outPath)
				if err != nil {
					t.Fatal(err)
				}
				var want [][]float64
				if err := json.Unmarshal(data, &want); err != nil {
					t.Fatal(err)
				}
				f, err := gguf.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				m, err := llama.Load(f)
				if err != nil {
					t.Fatal(err)
				}
				seq := m.NewSequence(llama.CacheF16, 0)
				var batch []llama.Token
				for _, id := range toks {
					batch = append(batch, llama.Token{Seq: seq, ID: id, Logits: true})
				}
				out, err := m.NewRunner().Forward(context.Background(), batch)
				if err != nil {
					t.Fatal(err)
				}
				worst := 0.0
				for i := range toks {
					worst = max(worst, relErr(out.Logits[i], want[i]))
				}
				if worst > tolerance[typ] {
					t.Errorf("logits differ from llama.cpp's: relative error %.3g > %.3g", worst, tolerance[typ])
				}
				t.Logf("relative error vs llama.cpp %.3g", worst)
			})
		}
	}
}
