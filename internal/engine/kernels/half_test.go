package kernels

import (
	"math"
	"testing"
)

func TestFP16(t *testing.T) {
	known := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},
		{65520, 0x7c00},                 // rounds up to infinity
		{float32(math.Inf(-1)), 0xfc00}, //
		{1.0 / (1 << 24), 0x0001},       // smallest subnormal
		{1.0 / (1 << 25), 0x0000},       // tie rounds to even (0)
		{3.0 / (1 << 25), 0x0002},       // tie rounds to even (2)
		{1.0 / (1 << 14), 0x0400},       // smallest normal
		{1 + 1.0/(1<<11), 0x3c00},       // tie to even
		{1 + 3.0/(1<<11), 0x3c02},       // tie to even
		{1 + 1.0/(1<<11) + 1.0/(1<<20), 0x3c01},
		{1e-10, 0x0000},
	}
	for _, k := range known {
		if got := f32ToFP16(k.f); got != k.h {
			t.Errorf("f32ToFP16(%g) = %#04x, want %#04x", k.f, got, k.h)
		}
	}
	if h := f32ToFP16(float32(math.NaN())); h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
		t.Errorf("f32ToFP16(NaN) = %#04x", h)
	}
	// Every finite half converts to float32 and back unchanged.
	for h := 0; h < 1<<16; h++ {
		f := fp16ToF32(uint16(h))
		if h&0x7c00 == 0x7c00 && h&0x3ff != 0 {
			if !math.IsNaN(float64(f)) {
				t.Fatalf("fp16ToF32(%#04x) = %g, want NaN", h, f)
			}
			continue
		}
		if back := f32ToFP16(f); back != uint16(h) {
			t.Fatalf("fp16 %#04x -> %g -> %#04x", h, f, back)
		}
	}
	if f := fp16ToF32(0x0001); f != 1.0/(1<<24) {
		t.Errorf("fp16ToF32(1) = %g", f)
	}
}

func TestBF16(t *testing.T) {
	known := []struct {
		f float32
		h uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie to even
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie to even
		{math.Float32frombits(0x3f808001), 0x3f81},
	}
	for _, k := range known {
		if got := f32ToBF16(k.f); got != k.h {
			t.Errorf("f32ToBF16(%g) = %#04x, want %#04x", k.f, got, k.h)
		}
		if k.f == 1 || k.f == -2 {
			if back := bf16ToF32(k.h); back != k.f {
				t.Errorf("bf16ToF32(%#04x) = %g", k.h, back)
			}
		}
	}
	if h := f32ToBF16(float32(math.NaN())); !math.IsNaN(float64(bf16ToF32(h))) {
		t.Errorf("NaN became %#04x", h)
	}
}
