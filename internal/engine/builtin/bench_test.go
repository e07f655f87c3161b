package builtin

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
)

// benchModel runs Bench on a generated ~1B-parameter model of type t and
// reports its figures.
func benchModel(b *testing.B, t ggml.Type) {
	path := filepath.Join(b.TempDir(), "bench.gguf")
	if err := genmodel.WriteFile(path, genmodel.Llama1B(t)); err != nil {
		b.Fatal(err)
	}
	var r *BenchResult
	for b.Loop() {
		var err error
		if r, err = Bench(context.Background(), path, BenchOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(r.PrefillTPS, "prefill-tok/s")
	b.ReportMetric(r.DecodeTPS, "decode-tok/s")
	b.ReportMetric(r.RooflineTPS, "roofline-tok/s")
	b.ReportMetric(r.RooflineRatio, "roofline-ratio")
	b.ReportMetric(r.BandwidthBPS/1e9, "GB/s")
	b.ReportMetric(float64(r.ResidentBytes)/(1<<20), "RSS-MiB")
	b.Logf("\n%s", r)
}

// BenchmarkLlama1BQ8_0 and BenchmarkLlama1BQ4_0 generate the issue's
// benchmark shape (hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192,
// vocabulary 32000) and measure prefill of 128 tokens and decode from an
// empty context against the memory-bandwidth roofline.
func BenchmarkLlama1BQ8_0(b *testing.B) { benchModel(b, ggml.Q8_0) }

func BenchmarkLlama1BQ4_0(b *testing.B) { benchModel(b, ggml.Q4_0) }
