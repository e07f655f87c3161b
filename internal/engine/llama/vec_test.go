package llama

import (
	"math"
	"testing"
)

// TestVectorRoutines checks the SIMD routines against plain loops, for
// lengths around the unrolling boundaries.
func TestVectorRoutines(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 64, 100, 128} {
		a := make([]float32, n)
		b := make([]float32, n)
		h := make([]uint16, n)
		for i := range a {
			a[i] = float32(math.Sin(float64(i)))
			b[i] = float32(math.Cos(float64(3 * i)))
			h[i] = f32ToF16(b[i] * 100)
		}
		want := 0.0
		for i := range a {
			want += float64(a[i]) * float64(b[i])
		}
		if got := dot(a, b); math.Abs(float64(got)-want) > 1e-4 {
			t.Errorf("n=%d: dot %v, want %v", n, got, want)
		}
		y := append([]float32(nil), b...)
		axpy(0.5, a, y)
		for i := range y {
			if w := b[i] + 0.5*a[i]; math.Abs(float64(y[i]-w)) > 1e-6 {
				t.Fatalf("n=%d: axpy[%d] = %v, want %v", n, i, y[i], w)
			}
		}
		f := make([]float32, n)
		f16ToF32s(f, h)
		for i := range f {
			if f[i] != f16ToF32(h[i]) {
				t.Fatalf("n=%d: f16 %#x -> %v, want %v", n, h[i], f[i], f16ToF32(h[i]))
			}
		}
	}
}

func TestF16Vector(t *testing.T) {
	// Values around every rounding case: halfway points, subnormals,
	// overflow, infinities, signed zeros.
	var src []float32
	for _, base := range []float32{1, 1.5, 65504, 65520, 6.1035156e-05, 5.9604645e-08, 2.9802322e-08, 1e-10, 1e5} {
		for _, d := range []float32{0, 1.0 / 2048, 1.0 / 4096, 3.0 / 4096, -1.0 / 4096} {
			src = append(src, base*(1+d), -base*(1+d))
		}
	}
	src = append(src, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)))
	for len(src)%8 != 3 {
		src = append(src, 0.333)
	}
	got := make([]uint16, len(src))
	f32ToF16s(got, src)
	for i, x := range src {
		if want := f32ToF16(x); got[i] != want {
			t.Errorf("half(%v) = %#x, want %#x", x, got[i], want)
		}
	}
}

func TestF16Conversion(t *testing.T) {
	for _, x := range []float32{0, 1, -1, 0.5, 65504, 1e-8, 6.1e-5, 3.14159, -2.5e-6, 1e6} {
		h := f32ToF16(x)
		back := f16ToF32(h)
		switch {
		case x > 65504:
			if !math.IsInf(float64(back), 1) {
				t.Errorf("%v -> %v, want +Inf", x, back)
			}
		case math.Abs(float64(back-x)) > math.Abs(float64(x))*1e-3+6e-8:
			t.Errorf("%v -> %#x -> %v", x, h, back)
		}
	}
	// Round to nearest even: 1 + 2^-11 is halfway between 1 and 1+2^-10.
	if h := f32ToF16(1 + 1.0/2048); h != 0x3c00 {
		t.Errorf("1+2^-11 -> %#x, want 0x3c00", h)
	}
	if h := f32ToF16(1 + 3.0/2048); h != 0x3c02 {
		t.Errorf("1+3*2^-11 -> %#x, want 0x3c02", h)
	}
}

func TestExpf(t *testing.T) {
	for x := float32(-100); x < 88; x += 0.37 {
		got, want := float64(expf(x)), math.Exp(float64(x))
		if math.Abs(got-want) > want*3e-7+1e-44 { // subnormals keep fewer bits
			t.Fatalf("expf(%v) = %v, want %v", x, got, want)
		}
	}
	if expf(-200) != 0 || !math.IsInf(float64(expf(100)), 1) {
		t.Error("expf limits")
	}
}

func TestSoftmax(t *testing.T) {
	for _, n := range []int{1, 5, 8, 13, 64, 100} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7)) * 30
		}
		x[n/2] = -1000 // far below the max: exp underflows
		want := make([]float64, n)
		m, sum := math.Inf(-1), 0.0
		for _, v := range x {
			m = max(m, float64(v))
		}
		for i, v := range x {
			want[i] = math.Exp(float64(v) - m)
			sum += want[i]
		}
		softmaxInPlace(x)
		for i := range x {
			if w := want[i] / sum; math.Abs(float64(x[i])-w) > 3e-6*w+1e-30 {
				t.Fatalf("n=%d: softmax[%d] = %v, want %v", n, i, x[i], w)
			}
		}
	}
}

func TestSwiGLU(t *testing.T) {
	n := 37
	g := make([]float32, n)
	u := make([]float32, n)
	for i := range g {
		g[i] = float32(i-18) * 7.3 // includes large magnitudes both ways
		u[i] = float32(math.Cos(float64(i)))
	}
	g[0], g[1] = -200, 200
	want := make([]float64, n)
	for i := range g {
		x := float64(g[i])
		want[i] = x / (1 + math.Exp(-x)) * float64(u[i])
	}
	swiglu(g, u)
	for i := range g {
		if math.Abs(float64(g[i])-want[i]) > 1e-6*math.Abs(want[i])+1e-30 {
			t.Errorf("swiglu[%d] = %v, want %v", i, g[i], want[i])
		}
	}
}
