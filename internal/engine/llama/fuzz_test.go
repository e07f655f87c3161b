package llama_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

// byteVocab is a 259-token SentencePiece vocabulary (unk, bos, eos and the
// 256 byte tokens): enough for a model file small enough to fuzz.
func byteVocab() *tokenize.Vocab {
	v := &tokenize.Vocab{Model: tokenize.ModelSPM, Pre: "default", BOS: 1, EOS: 2, UNK: 0, PAD: -1, EOT: -1, EOM: -1,
		AddBOS: true, AddSpacePrefix: true}
	v.Tokens = []string{"<unk>", "<s>", "</s>"}
	v.Types = []int32{tokenize.TypeUnknown, tokenize.TypeControl, tokenize.TypeControl}
	for b := range 256 {
		v.Tokens = append(v.Tokens, fmt.Sprintf("<0x%02X>", b))
		v.Types = append(v.Types, tokenize.TypeByte)
	}
	v.Scores = make([]float32, len(v.Tokens))
	return v
}

// fuzzSeed is a complete, valid model of each architecture, a few KiB.
func fuzzSeed(arch string) []byte {
	var buf bytes.Buffer
	_, err := genmodel.Write(&buf, genmodel.Options{Arch: arch, Hidden: 32, Layers: 1, Heads: 2, KVHeads: 1,
		FFN: 32, Context: 16, Type: ggml.Q8_0, Seed: 1, Vocab: byteVocab()})
	if err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// FuzzLoad feeds mutated model files to Load, ReadVocab and a forward pass:
// whatever the bytes, they return errors, never panic.
func FuzzLoad(f *testing.F) {
	for _, arch := range []string{"llama", "qwen2", "qwen3"} {
		f.Add(fuzzSeed(arch))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := gguf.Parse(data)
		if err != nil {
			return
		}
		if v, err := llama.ReadVocab(file); err == nil {
			if tok, err := tokenize.New(v); err == nil {
				tok.Encode("fuzz <s> text", true)
			}
		}
		m, err := llama.Load(file)
		if err != nil {
			return
		}
		if m.Config.Hidden*m.Config.FFN > 1<<20 || m.Config.Layers > 8 {
			return // valid but too big to run quickly
		}
		seq := m.NewSequence(llama.CacheF16, 4)
		batch := []llama.Token{{Seq: seq, ID: 0}, {Seq: seq, ID: m.Config.Vocab - 1, Logits: true, Hidden: true}}
		if _, err := m.NewRunner().Forward(context.Background(), batch); err != nil {
			t.Fatalf("forward on a loaded model: %v", err)
		}
	})
}
