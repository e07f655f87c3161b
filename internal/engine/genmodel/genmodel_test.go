package genmodel_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

func small(arch string) genmodel.Options {
	return genmodel.Options{Arch: arch, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 96, Layers: 2, Type: ggml.Q8_0, Seed: 9}
}

func write(t *testing.T, o genmodel.Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := genmodel.Write(&buf, o); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	o := small(genmodel.ArchQwen2)
	a, b := write(t, o), write(t, o)
	if !bytes.Equal(a, b) {
		t.Fatal("same options gave different files")
	}
	o.Seed++
	if bytes.Equal(a, write(t, o)) {
		t.Fatal("different seeds gave the same file")
	}
	// WriteFile writes the same bytes.
	path := filepath.Join(t.TempDir(), "m.gguf")
	o.Seed--
	if err := genmodel.WriteFile(path, o); err != nil {
		t.Fatal(err)
	}
	c, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, c) {
		t.Fatal("WriteFile and Write differ")
	}
}

func TestArchitectures(t *testing.T) {
	for _, arch := range []string{genmodel.ArchLlama, genmodel.ArchQwen2, genmodel.ArchQwen3} {
		t.Run(arch, func(t *testing.T) {
			o := small(arch)
			if arch == genmodel.ArchQwen3 {
				o.HeadDim = 32
			}
			f, err := gguf.Parse(write(t, o))
			if err != nil {
				t.Fatal(err)
			}
			m, err := llama.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			c := m.Config
			want := llama.Config{Arch: arch, Layers: 2, Hidden: 64, FFN: 96, Heads: 4, KVHeads: 2, HeadDim: 16,
				ValDim: 16, Vocab: 32000, Context: 2048, NormEps: 1e-6, RopeBase: 10000, RopeDims: 16,
				RopeScaling: llama.RopeScalingNone, RopeAttnFactor: 1}
			if arch != genmodel.ArchLlama {
				want.RopeNeoX, want.RopeBase = true, 1e6
			}
			if arch == genmodel.ArchQwen3 {
				want.HeadDim, want.ValDim, want.RopeDims = 32, 32, 32
			}
			if c != want {
				t.Errorf("config\n got %+v\nwant %+v", c, want)
			}
			hasBias := m.Layers[0].QBias != nil
			if hasBias != (arch == genmodel.ArchQwen2) {
				t.Errorf("attention bias present = %v", hasBias)
			}
			if (m.Layers[1].QNorm != nil) != (arch == genmodel.ArchQwen3) {
				t.Errorf("q norm present = %v", m.Layers[1].QNorm != nil)
			}
			if m.Embd.Type != ggml.Q8_0 || m.Tied {
				t.Errorf("embedding type %s, tied %v", m.Embd.Type, m.Tied)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	o := small(genmodel.ArchLlama)
	o.Tied, o.Llama3Rope, o.EmbedType = true, true, ggml.F16
	f, err := gguf.Parse(write(t, o))
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Tied || m.Embd.Type != ggml.F16 || len(m.RopeFreqs) != 8 {
		t.Errorf("tied %v, embedding %s, %d rope factors", m.Tied, m.Embd.Type, len(m.RopeFreqs))
	}
	bad := []genmodel.Options{
		{Arch: "gpt2"},
		{Type: ggml.Q4_K, Hidden: 64},
		{Heads: 3, KVHeads: 2},
		{Hidden: 64, Heads: 4, HeadDim: 15},
		{Type: ggml.Q8_1},
	}
	for _, b := range bad {
		if _, err := genmodel.Write(&bytes.Buffer{}, b); err == nil {
			t.Errorf("options %+v accepted", b)
		}
	}
}

func TestLlama3FreqFactors(t *testing.T) {
	// Llama 3.1 8B: head dim 128, base 500000; the first pairs (high
	// frequency) are unscaled, the last (low frequency) divided by 8.
	f := genmodel.Llama3FreqFactors(128, 500000, 8, 1, 4, 8192)
	if len(f) != 64 || f[0] != 1 || f[63] != 8 {
		t.Fatalf("factors %v", f)
	}
	for i := 1; i < len(f); i++ {
		if f[i] < f[i-1] {
			t.Fatalf("factors not increasing at %d: %v", i, f)
		}
	}
}

// TestVocabRoundTrip checks that a vocabulary written as GGUF metadata reads
// back (llama.ReadVocab) equal, and tokenizes the reference vectors.
func TestVocabRoundTrip(t *testing.T) {
	qwen, err := genmodel.VocabFromFiles("testdata/qwen3/tokenizer.json.gz", "testdata/qwen3/tokenizer_config.json")
	if err != nil {
		t.Fatal(err)
	}
	spm, err := genmodel.DefaultVocab()
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]*tokenize.Vocab{"qwen3": qwen, "spm32k": spm} {
		t.Run(name, func(t *testing.T) {
			o := small(genmodel.ArchLlama)
			o.Type, o.Hidden, o.Heads, o.KVHeads, o.FFN, o.Layers = ggml.Q4_0, 32, 1, 1, 32, 1
			o.Vocab = v
			f, err := gguf.Parse(write(t, o))
			if err != nil {
				t.Fatal(err)
			}
			got, err := llama.ReadVocab(f)
			if err != nil {
				t.Fatal(err)
			}
			want := *v
			if want.Pre == "" {
				want.Pre = "default"
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("vocabulary changed through GGUF:\n got %+v\nwant %+v", summary(got), summary(&want))
			}
			if name != "qwen3" {
				return
			}
			tok, err := tokenize.New(got)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile("testdata/qwen3/vectors.json")
			if err != nil {
				t.Fatal(err)
			}
			var vectors []struct {
				Text string  `json:"text"`
				IDs  []int32 `json:"ids"`
			}
			if err := json.Unmarshal(data, &vectors); err != nil {
				t.Fatal(err)
			}
			for _, vec := range vectors {
				if ids := tok.Encode(vec.Text, false); !slices.Equal(ids, vec.IDs) {
					t.Errorf("Encode(%q) = %v, want %v", vec.Text, ids, vec.IDs)
				}
			}
		})
	}
}

func summary(v *tokenize.Vocab) map[string]any {
	return map[string]any{"model": v.Model, "pre": v.Pre, "tokens": len(v.Tokens), "scores": len(v.Scores),
		"types": len(v.Types), "merges": len(v.Merges), "bos": v.BOS, "eos": v.EOS, "unk": v.UNK, "pad": v.PAD,
		"eot": v.EOT, "eom": v.EOM, "eog": v.EOG, "addBOS": v.AddBOS, "addEOS": v.AddEOS,
		"space": v.AddSpacePrefix, "template": len(v.ChatTemplate)}
}
