package builtin

import (
	"context"
	"path/filepath"
	"strings"
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
	b.ReportMetric(r.BatchDecodeTPS, "batch4-decode-tok/s")
	b.ReportMetric(r.RooflineTPS, "roofline-tok/s")
	b.ReportMetric(r.RooflineRatio, "roofline-ratio")
	b.ReportMetric(r.BandwidthBPS/1e9, "GB/s")
	b.ReportMetric(r.ReadBandwidthBPS/1e9, "read-GB/s")
	b.ReportMetric(r.ReadRooflineRatio, "read-roofline-ratio")
	b.ReportMetric(float64(r.ResidentBytes)/(1<<20), "RSS-MiB")
	b.Logf("\n%s", r)
}

// BenchmarkLlama1BQ8_0 and BenchmarkLlama1BQ4_0 generate the issue's
// benchmark shape (hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192,
// vocabulary 32000) and measure prefill of 128 tokens and decode from an
// empty context against the memory-bandwidth roofline.
func BenchmarkLlama1BQ8_0(b *testing.B) { benchModel(b, ggml.Q8_0) }

func BenchmarkLlama1BQ4_0(b *testing.B) { benchModel(b, ggml.Q4_0) }

func TestBench(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := genmodel.WriteFile(path, genmodel.Options{Type: ggml.Q8_0, Context: 256}); err != nil {
		t.Fatal(err)
	}
	r, err := Bench(context.Background(), path, BenchOptions{PrefillTokens: 16, DecodeTokens: 8, CopyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.PrefillTPS <= 0 || r.DecodeTPS <= 0 || r.BatchDecodeTPS <= 0 || r.BandwidthBPS <= 0 || r.RooflineTPS <= 0 ||
		r.RooflineRatio <= 0 || r.ReadBandwidthBPS <= 0 || r.ReadRooflineTPS <= 0 || r.ReadRooflineRatio <= 0 || r.BytesPerToken <= 0 || r.Params <= 0 || r.WeightType != "Q8_0" || r.Arch != "llama" {
		t.Errorf("incomplete result %+v", r)
	}
	if _, err := Bench(context.Background(), path, BenchOptions{PrefillTokens: 1000}); err == nil {
		t.Error("prefill longer than the context accepted")
	}
	if !strings.Contains(r.String(), "roofline") {
		t.Errorf("String() = %q", r.String())
	}
}
