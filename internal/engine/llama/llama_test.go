package llama_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
)

func loadModel(t testing.TB, o genmodel.Options) *llama.Model {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.gguf")
	if err := genmodel.WriteFile(path, o); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := llama.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// tiny returns a small model shape; K-quants need rows of 256 elements. It
// uses the 259-token byte vocabulary: the forward pass does not depend on
// the vocabulary, and small output matrices keep the float64 reference
// (and the race detector) quick. TestForwardVariants has a model with a
// real vocabulary.
func tiny(arch string, typ ggml.Type) genmodel.Options {
	o := genmodel.Options{Arch: arch, Type: typ, Hidden: 64, Heads: 4, KVHeads: 2, FFN: 96, Layers: 2, Seed: 3, Context: 256,
		Vocab: byteVocab()}
	if typ.BlockSize() > 32 {
		// K-quants need rows of 256; keep the vocabulary-sized matrices in
		// Q8_0 (as llama.cpp's mixes often do) so that tests stay quick.
		o.Hidden, o.FFN, o.EmbedType = 256, 512, ggml.Q8_0
	}
	if arch == genmodel.ArchQwen3 {
		o.HeadDim = o.Hidden / 2 // qwen3 heads are wider than hidden/heads
	}
	return o
}

var prompt = []int{1, 41, 29, 96, 28, 114, 205, 13, 225, 1, 0, 258}

// relErr is the root mean square of got-want relative to that of want.
func relErr(got []float32, want []float64) float64 {
	ss, se := 0.0, 0.0
	for i, w := range want {
		ss += w * w
		e := float64(got[i]) - w
		se += e * e
	}
	return math.Sqrt(se / ss)
}

// tolerance is the largest relErr of the logits accepted per weight type.
// The reference computes with the same dequantized weights in float64. Float
// types must match to float32 rounding. Quantized types use activations
// quantized to 8 bits in their dot products (as ggml does), which adds
// rounding of about 1% at each matmul; a bug (a wrong rotation, norm or
// head layout) gives errors of order one.
var tolerance = map[ggml.Type]float64{
	ggml.F32:  1e-5,
	ggml.F16:  1e-5,
	ggml.Q8_0: 3e-2,
	ggml.Q4_0: 3e-2,
	ggml.Q4_K: 3e-2,
	ggml.Q6_K: 3e-2,
}

func TestForwardMatchesReference(t *testing.T) {
	types := []ggml.Type{ggml.F32, ggml.F16, ggml.Q8_0, ggml.Q4_0, ggml.Q4_K, ggml.Q6_K}
	for _, arch := range []string{genmodel.ArchLlama, genmodel.ArchQwen2, genmodel.ArchQwen3} {
		for _, typ := range types {
			t.Run(arch+"/"+typ.String(), func(t *testing.T) {
				m := loadModel(t, tiny(arch, typ))
				checkPrefill(t, m, tolerance[typ], llama.CacheF32)
			})
		}
	}
}

func TestForwardVariants(t *testing.T) {
	bias := true
	tests := []struct {
		name  string
		opts  genmodel.Options
		cache llama.CacheType
		tol   float64
	}{
		{"real vocabulary", func() genmodel.Options { o := tiny("llama", ggml.Q4_0); o.Vocab = nil; return o }(), llama.CacheF32, 3e-2},
		{"tied", func() genmodel.Options { o := tiny("llama", ggml.F32); o.Tied = true; return o }(), llama.CacheF32, 1e-5},
		{"llama3 rope", func() genmodel.Options {
			o := tiny("llama", ggml.F32)
			o.Llama3Rope, o.RopeBase = true, 500000
			return o
		}(), llama.CacheF32, 1e-5},
		{"linear rope", func() genmodel.Options {
			o := tiny("llama", ggml.F32)
			o.RopeScaling, o.RopeFactor = "linear", 4
			return o
		}(), llama.CacheF32, 1e-5},
		{"yarn rope", func() genmodel.Options {
			o := tiny("qwen2", ggml.F32)
			o.RopeScaling, o.RopeFactor, o.RopeOrigContext = "yarn", 4, 64
			return o
		}(), llama.CacheF32, 1e-5},
		{"llama with bias", func() genmodel.Options { o := tiny("llama", ggml.F32); o.Bias = &bias; return o }(), llama.CacheF32, 1e-5},
		{"multi-query", func() genmodel.Options { o := tiny("llama", ggml.F32); o.KVHeads = 1; return o }(), llama.CacheF32, 1e-5},
		{"f16 cache", tiny("qwen3", ggml.F32), llama.CacheF16, 2e-3},
		{"f16 cache q8_0", tiny("llama", ggml.Q8_0), llama.CacheF16, 3e-2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkPrefill(t, loadModel(t, tc.opts), tc.tol, tc.cache)
		})
	}
	// The plain-Go vector routines (used on CPUs without AVX2).
	for _, cache := range []llama.CacheType{llama.CacheF32, llama.CacheF16} {
		t.Run("generic vectors/"+cache.String(), func(t *testing.T) {
			defer llama.SetGeneric(true)()
			tol := 1e-5
			if cache == llama.CacheF16 {
				tol = 2e-3
			}
			checkPrefill(t, loadModel(t, tiny("qwen3", ggml.F32)), tol, cache)
		})
	}
}

// checkPrefill runs prompt as one batch and compares every position's
// logits with the reference.
func checkPrefill(t *testing.T, m *llama.Model, tol float64, cache llama.CacheType) {
	t.Helper()
	want := newRef(t, m).forward(prompt)
	r := m.NewRunner()
	seq := m.NewSequence(cache, 0)
	batch := make([]llama.Token, len(prompt))
	for i, id := range prompt {
		batch[i] = llama.Token{Seq: seq, ID: id, Logits: true}
	}
	out, err := r.Forward(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range prompt {
		e := relErr(out.Logits[i], want[i])
		worst = max(worst, e)
		if e > tol {
			t.Errorf("position %d: relative error %.3g > %.3g", i, e, tol)
		}
	}
	t.Logf("worst relative error %.3g (tolerance %.3g)", worst, tol)
	if seq.Len() != len(prompt) {
		t.Errorf("sequence length %d, want %d", seq.Len(), len(prompt))
	}
}

// TestBatching checks that chunked prefill and batched decoding of several
// sequences give the same logits as the reference run of each sequence.
func TestBatching(t *testing.T) {
	m := loadModel(t, tiny("qwen2", ggml.F32))
	ref := newRef(t, m)
	r := m.NewRunner()
	ctx := context.Background()
	seqs := [][]int{prompt, {5, 6, 7}, {250, 42}}
	states := make([]*llama.Sequence, len(seqs))
	for i := range seqs {
		states[i] = m.NewSequence(llama.CacheF32, 0)
	}
	// Prefill all but the last token of each: the first in two chunks, and
	// the other two together in one batch.
	var batch []llama.Token
	for _, id := range prompt[:5] {
		batch = append(batch, llama.Token{Seq: states[0], ID: id})
	}
	if _, err := r.Forward(ctx, batch); err != nil {
		t.Fatal(err)
	}
	batch = batch[:0]
	for _, id := range prompt[5 : len(prompt)-1] {
		batch = append(batch, llama.Token{Seq: states[0], ID: id})
	}
	for i := 1; i < len(seqs); i++ {
		for _, id := range seqs[i][:len(seqs[i])-1] {
			batch = append(batch, llama.Token{Seq: states[i], ID: id})
		}
	}
	if _, err := r.Forward(ctx, batch); err != nil {
		t.Fatal(err)
	}
	// One decode step for all three.
	batch = batch[:0]
	for i, s := range seqs {
		batch = append(batch, llama.Token{Seq: states[i], ID: s[len(s)-1], Logits: true, Hidden: i == 1})
	}
	out, err := r.Forward(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seqs {
		want := ref.forward(s)
		if e := relErr(out.Logits[i], want[len(s)-1]); e > 1e-5 {
			t.Errorf("sequence %d: relative error %.3g", i, e)
		}
		if states[i].Len() != len(s) {
			t.Errorf("sequence %d: length %d, want %d", i, states[i].Len(), len(s))
		}
	}
	wantHidden := ref.hiddenStates(seqs[1])
	if e := relErr(out.Hidden[1], wantHidden[len(seqs[1])-1]); e > 1e-5 {
		t.Errorf("hidden state: relative error %.3g", e)
	}
	if out.Hidden[0] != nil || out.Logits == nil {
		t.Errorf("outputs not asked for were returned")
	}
}

func TestForwardErrors(t *testing.T) {
	m := loadModel(t, tiny("llama", ggml.F32))
	r := m.NewRunner()
	seq := m.NewSequence(llama.CacheF32, 3)
	batch := []llama.Token{{Seq: seq, ID: 1}, {Seq: seq, ID: 2}, {Seq: seq, ID: 3}, {Seq: seq, ID: 4}}
	if _, err := r.Forward(context.Background(), batch); !errors.Is(err, llama.ErrContextFull) {
		t.Errorf("over the limit: err = %v, want ErrContextFull", err)
	}
	if seq.Len() != 0 {
		t.Errorf("failed batch changed the sequence length to %d", seq.Len())
	}
	if _, err := r.Forward(context.Background(), []llama.Token{{Seq: seq, ID: m.Config.Vocab}}); err == nil {
		t.Error("token id out of range accepted")
	}
	other := loadModel(t, tiny("llama", ggml.F32))
	if _, err := r.Forward(context.Background(), []llama.Token{{Seq: other.NewSequence(llama.CacheF32, 0), ID: 1}}); err == nil {
		t.Error("sequence of another model accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Forward(ctx, batch[:2]); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
	if seq.Len() != 0 {
		t.Errorf("cancelled batch changed the sequence length to %d", seq.Len())
	}
	steps := r.Steps
	if _, err := r.Forward(context.Background(), batch[:2]); err != nil || seq.Len() != 2 || r.Steps != steps+1 {
		t.Errorf("forward after errors: err %v, len %d, steps %d", err, seq.Len(), r.Steps-steps)
	}
}

func TestLoadRejects(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := genmodel.WriteFile(path, tiny("qwen3", ggml.F32)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	// Damage one tensor's shape: Load must say which.
	for i := range f.Tensors {
		if f.Tensors[i].Name == "blk.1.attn_k.weight" {
			f.Tensors[i].Dims = []uint64{f.Tensors[i].Dims[0]}
		}
	}
	if _, err := llama.Load(f); err == nil {
		t.Fatal("bad tensor shape accepted")
	} else if want := "blk.1.attn_k.weight"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
}
