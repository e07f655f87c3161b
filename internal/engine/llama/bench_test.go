package llama_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/llama"
)

// BenchmarkAttention measures one decode step at a long context on a
// one-layer model with the attention shape of the 1B benchmark model (32
// heads of 64, 8 KV heads) and a small FFN, so that attention dominates.
func BenchmarkAttention(b *testing.B) {
	m := loadModel(b, genmodel.Options{Arch: genmodel.ArchLlama, Hidden: 2048, Layers: 1, Heads: 32, KVHeads: 8,
		FFN: 256, Context: 4096, Type: ggml.Q4_0, Seed: 1})
	for _, cache := range []llama.CacheType{llama.CacheF32, llama.CacheF16} {
		for _, ctxLen := range []int{256, 2048} {
			b.Run(fmt.Sprintf("%s/ctx=%d", cache, ctxLen), func(b *testing.B) {
				r := m.NewRunner()
				seq := m.NewSequence(cache, 0)
				ctx := context.Background()
				batch := make([]llama.Token, 256)
				for seq.Len() < ctxLen {
					for i := range batch {
						batch[i] = llama.Token{Seq: seq, ID: (seq.Len() + i) % 1000}
					}
					if _, err := r.Forward(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				for b.Loop() {
					seq.Truncate(ctxLen)
					if _, err := r.Forward(ctx, []llama.Token{{Seq: seq, ID: 5}}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
