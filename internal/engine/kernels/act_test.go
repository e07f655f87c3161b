package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestRoundAway checks roundAway against math.Round on halves, values next
// to halves and random values in the range activations are quantized to.
func TestRoundAway(t *testing.T) {
	var xs []float32
	for i := -128; i <= 128; i++ {
		h := float32(i) + 0.5
		xs = append(xs, float32(i), h, math.Nextafter32(h, 0), math.Nextafter32(h, 200), math.Nextafter32(h, -200))
	}
	r := rand.New(rand.NewPCG(1, 1))
	for range 10000 {
		xs = append(xs, float32(r.NormFloat64()*50))
	}
	for _, x := range xs {
		if got, want := roundAway(x), int32(math.Round(float64(x))); got != want {
			t.Fatalf("roundAway(%v) = %d, want %d", x, got, want)
		}
	}
}
