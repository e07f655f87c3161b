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

// TestQuantQ8MatchesGeneric checks the SIMD activation quantizers against
// quantQ8BlocksGeneric bit for bit, on random blocks and on blocks with
// exact halves, zeros, tiny and subnormal values, infinities and NaNs.
func TestQuantQ8MatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var x []float32
	block := func(f func(j int) float32) {
		for j := 0; j < 32; j++ {
			x = append(x, f(j))
		}
	}
	for range 200 {
		scale := float32(math.Exp(r.NormFloat64() * 3))
		block(func(int) float32 { return float32(r.NormFloat64()) * scale })
	}
	for range 50 {
		// amax 127 makes the scale 1: every x.5 is a tie.
		block(func(j int) float32 {
			if j == 5 {
				return -127
			}
			return float32(r.IntN(254)-127) + 0.5
		})
	}
	block(func(int) float32 { return 0 })
	block(func(j int) float32 { return float32(j) * 1e-40 })
	block(func(j int) float32 { return float32(j-16) * 1e-31 })
	block(func(j int) float32 { return float32(j-16) * 1e-29 })
	block(func(j int) float32 { return math.MaxFloat32 / float32(j+1) })
	block(func(j int) float32 {
		if j == 7 {
			return float32(math.Inf(-1))
		}
		return float32(j)
	})
	block(func(j int) float32 {
		if j == 30 {
			return float32(math.NaN())
		}
		return float32(j)
	})
	block(func(j int) float32 { return math.Nextafter32(float32(j-16)+0.5, 0) })
	nb := len(x) / 32
	for _, set := range kernelSets {
		if !set.supported || set.quant == nil {
			continue
		}
		t.Run(set.name, func(t *testing.T) {
			q0, q1 := make([]int8, len(x)), make([]int8, len(x))
			d0, d1 := make([]float32, nb), make([]float32, nb)
			s0, s1 := make([]int32, nb), make([]int32, nb)
			quantQ8BlocksGeneric(x, q0, d0, s0)
			set.quant(x, q1, d1, s1)
			for b := 0; b < nb; b++ {
				if math.Float32bits(d0[b]) != math.Float32bits(d1[b]) || s0[b] != s1[b] {
					t.Fatalf("block %d: scale %g sum %d, want %g and %d", b, d1[b], s1[b], d0[b], s0[b])
				}
				for j := b * 32; j < b*32+32; j++ {
					if q0[j] != q1[j] {
						t.Fatalf("block %d: quant %d of %g is %d, want %d", b, j%32, x[j], q1[j], q0[j])
					}
				}
			}
		})
	}
}

// TestQuantQ8KMatchesGeneric checks the SIMD Q8_K activation quantizers
// against quantQ8KBlocksGeneric bit for bit: random blocks, exact ties,
// the largest magnitude twice with either sign first, zeros, tiny values,
// infinities and NaNs.
func TestQuantQ8KMatchesGeneric(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	var x []float32
	block := func(f func(j int) float32) {
		for j := 0; j < 256; j++ {
			x = append(x, f(j))
		}
	}
	for range 40 {
		scale := float32(math.Exp(r.NormFloat64() * 3))
		block(func(int) float32 { return float32(r.NormFloat64()) * scale })
	}
	for _, sign := range []float32{1, -1} {
		// mx = ∓127 makes iscale ±1: every x.5 is a tie.
		block(func(j int) float32 {
			switch j {
			case 100:
				return -127 * sign
			case 103, 200:
				return 127 * sign
			}
			return float32(r.IntN(254)-127) + 0.5
		})
	}
	block(func(int) float32 { return 0 })
	block(func(j int) float32 { return float32(j) * 1e-40 })
	block(func(j int) float32 { return float32(j-128) * 1e-31 })
	block(func(j int) float32 { return math.MaxFloat32 / float32(j+1) })
	block(func(j int) float32 {
		if j == 77 {
			return float32(math.Inf(1))
		}
		return float32(j)
	})
	block(func(j int) float32 {
		if j == 250 {
			return float32(math.NaN())
		}
		return float32(j)
	})
	nb := len(x) / 256
	for _, set := range kernelSets {
		if !set.supported || set.quantK == nil {
			continue
		}
		t.Run(set.name, func(t *testing.T) {
			q0, q1 := make([]int8, len(x)), make([]int8, len(x))
			s0, s1 := make([]int16, nb*16), make([]int16, nb*16)
			d0, d1 := make([]float32, nb), make([]float32, nb)
			quantQ8KBlocksGeneric(x, q0, s0, d0)
			set.quantK(x, q1, s1, d1)
			for b := 0; b < nb; b++ {
				if math.Float32bits(d0[b]) != math.Float32bits(d1[b]) {
					t.Fatalf("block %d: scale %g, want %g", b, d1[b], d0[b])
				}
				for g := b * 16; g < b*16+16; g++ {
					if s0[g] != s1[g] {
						t.Fatalf("block %d: sum %d is %d, want %d", b, g%16, s1[g], s0[g])
					}
				}
				for j := b * 256; j < b*256+256; j++ {
					if q0[j] != q1[j] {
						t.Fatalf("block %d: quant %d of %g is %d, want %d", b, j%256, x[j], q1[j], q0[j])
					}
				}
			}
		})
	}
}
