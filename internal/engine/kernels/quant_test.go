package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// Known-answer tests: blocks built byte by byte from ggml's block layouts,
// with expected values computed by hand.
func TestDequantizeKnownAnswers(t *testing.T) {
	nib := func(n int) []byte { // byte j = j (low nibble) | 15-j (high nibble)
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(j%16) | byte(15-j%16)<<4
		}
		return b
	}
	cat := func(parts ...[]byte) []byte {
		var out []byte
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	q8 := make([]byte, 32)
	for j := range q8 {
		q8[j] = byte(int8(j*8 - 128))
	}
	// Q4_K/Q5_K scales: sc = [1 2 3 4 19 0 2 1], m = [5 6 7 8 33 0 15 1].
	kScales := []byte{1 | 1<<6, 2, 3, 4, 5 | 2<<6, 6, 7, 8, 0x13, 0x00, 0xf2, 0x11}
	q5kHigh := make([]byte, 32)
	q5kHigh[0] = 0xff
	q6ql := make([]byte, 128)
	for j := range q6ql {
		q6ql[j] = 0x21
	}
	q6qh := make([]byte, 64)
	q6qh[0] = 0b11_10_01_00
	q6sc := make([]byte, 16)
	for k := range q6sc {
		q6sc[k] = byte(int8(k - 8))
	}
	tests := []struct {
		t    ggml.Type
		data []byte
		n    int
		want map[int]float32
	}{
		{ggml.F32, []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0}, 2, map[int]float32{0: 1, 1: -2}},
		{ggml.F16, []byte{0, 0x3c, 0, 0xc0, 0, 0x38, 1, 0}, 4, map[int]float32{0: 1, 1: -2, 2: 0.5, 3: 1.0 / (1 << 24)}},
		{ggml.BF16, []byte{0x80, 0x3f, 0x00, 0xc0, 0x49, 0x40}, 3, map[int]float32{0: 1, 1: -2, 2: 3.140625}},
		{ggml.Q8_0, cat([]byte{0x00, 0x34}, q8), 32, map[int]float32{0: -32, 1: -30, 16: 0, 31: 30}},
		{ggml.Q4_0, cat([]byte{0x00, 0x40}, nib(16)), 32, map[int]float32{0: -16, 1: -14, 15: 14, 16: 14, 31: -16}},
		{ggml.Q4_1, cat([]byte{0x00, 0x38, 0x00, 0xbc}, nib(16)), 32, map[int]float32{0: -1, 5: 1.5, 16: 6.5, 31: -1}},
		{ggml.Q5_0, cat([]byte{0x00, 0x3c, 0x01, 0x00, 0x10, 0x00}, nib(16)), 32,
			map[int]float32{0: 0, 1: -15, 15: -1, 16: -1, 20: 11, 31: -16}},
		{ggml.Q5_1, cat([]byte{0x00, 0x38, 0x00, 0x3c, 0x08, 0x00, 0x00, 0x80}, nib(16)), 32,
			map[int]float32{0: 1, 3: 10.5, 16: 8.5, 31: 9}},
		{ggml.Q4_K, cat([]byte{0x00, 0x3c, 0x00, 0x38}, kScales, nib(128)), 256,
			map[int]float32{0: -2.5, 1: -1.5, 32: 27, 69: 11.5, 131: 40.5, 160: 0, 207: 22.5, 241: 13.5}},
		{ggml.Q5_K, cat([]byte{0x00, 0x3c, 0x00, 0x38}, kScales, q5kHigh, nib(128)), 256,
			map[int]float32{0: 13.5, 1: -1.5, 32: 59, 33: 25, 128: 287.5, 224: 30.5}},
		{ggml.Q6_K, cat(q6ql, q6qh, q6sc, []byte{0x00, 0x38}), 256,
			map[int]float32{0: 124, 32: 45, 64: -4, 96: -18, 17: 108.5, 128: 0, 212: -75, 255: -105}},
	}
	for _, tt := range tests {
		t.Run(tt.t.String(), func(t *testing.T) {
			if len(tt.data) != tt.t.TypeSize()*tt.n/tt.t.BlockSize() {
				t.Fatalf("test block is %d bytes", len(tt.data))
			}
			y := make([]float32, tt.n)
			if err := DequantizeRow(tt.t, tt.data, y); err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if y[i] != want {
					t.Errorf("element %d = %g, want %g", i, y[i], want)
				}
			}
		})
	}
}

func TestDequantizeErrors(t *testing.T) {
	y := make([]float32, 32)
	if err := DequantizeRow(ggml.Q8_0, make([]byte, 33), y); err == nil {
		t.Error("short input accepted")
	}
	if err := DequantizeRow(ggml.Q4_K, make([]byte, 144), y); err == nil {
		t.Error("32 elements of Q4_K accepted")
	}
	if err := DequantizeRow(ggml.Q2_K, make([]byte, 84), make([]float32, 256)); err == nil {
		t.Error("Q2_K accepted")
	}
	if _, err := Quantize(ggml.Q8_0, make([]float32, 31)); err == nil {
		t.Error("quantizing 31 elements to Q8_0 succeeded")
	}
	if _, err := Quantize(ggml.IQ2_XS, make([]float32, 256)); err == nil {
		t.Error("quantizing to IQ2_XS succeeded")
	}
}

// quantTypes are all supported types with the relative RMS error their
// quantize/dequantize round trip must stay under on Gaussian data.
var quantTypes = []struct {
	t      ggml.Type
	relRMS float64
}{
	{ggml.F32, 0},
	{ggml.F16, 1e-3},
	{ggml.BF16, 4e-3},
	{ggml.Q8_0, 0.01},
	{ggml.Q6_K, 0.03},
	{ggml.Q5_0, 0.06},
	{ggml.Q5_1, 0.06},
	{ggml.Q5_K, 0.06},
	{ggml.Q4_0, 0.12},
	{ggml.Q4_1, 0.12},
	{ggml.Q4_K, 0.12},
}

func gaussian(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func TestQuantizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x := gaussian(r, 4096)
	// A block of zeros and a block of one repeated value too.
	for i := 256; i < 512; i++ {
		x[i] = 0
	}
	for i := 512; i < 768; i++ {
		x[i] = -3.5
	}
	for _, q := range quantTypes {
		t.Run(q.t.String(), func(t *testing.T) {
			b, err := Quantize(q.t, x)
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := q.t.RowSize(len(x)); len(b) != want {
				t.Fatalf("%d bytes, want %d", len(b), want)
			}
			y := make([]float32, len(x))
			if err := DequantizeRow(q.t, b, y); err != nil {
				t.Fatal(err)
			}
			var se, sx float64
			for i := range x {
				d := float64(x[i] - y[i])
				se += d * d
				sx += float64(x[i]) * float64(x[i])
			}
			rel := math.Sqrt(se / sx)
			if rel > q.relRMS || (q.relRMS == 0 && se != 0) {
				t.Errorf("relative RMS error %.4g, want <= %g", rel, q.relRMS)
			}
			for i := 256; i < 512; i++ {
				if y[i] != 0 {
					t.Fatalf("zero block element %d = %g", i, y[i])
				}
			}
			for i := 512; i < 768; i++ {
				if math.Abs(float64(y[i])+3.5) > 3.5*q.relRMS*2 {
					t.Fatalf("constant block element %d = %g, want about -3.5", i, y[i])
				}
			}
			// Quantizing is deterministic.
			b2, _ := Quantize(q.t, x)
			if string(b2) != string(b) {
				t.Error("Quantize is not deterministic")
			}
		})
	}
}

// TestQuantizeQ8_0Exact checks a block whose ggml encoding is known: the
// largest magnitude maps to ±127 and d = amax/127.
func TestQuantizeQ8_0Exact(t *testing.T) {
	x := make([]float32, 32)
	for i := range x {
		x[i] = float32(i - 16) // amax 16 at i=0
	}
	b, err := Quantize(ggml.Q8_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if d := fp16ToF32(le16(b)); d != fp16ToF32(f32ToFP16(16.0/127)) {
		t.Errorf("d = %g", d)
	}
	if int8(b[2]) != -127 || int8(b[2+16]) != 0 || int8(b[2+31]) != int8(math.Round(15*127.0/16)) {
		t.Errorf("quants %v", b[2:])
	}
}

// TestQuantizeQ4_0Exact checks ggml's Q4_0 rule: d = max/-8 where max is
// the signed value of largest magnitude, q = min(15, trunc(x/d + 8.5)).
func TestQuantizeQ4_0Exact(t *testing.T) {
	x := make([]float32, 32)
	x[0] = -8 // max = -8, d = 1
	x[1] = 7
	x[2] = 3.4
	x[17] = -2.6
	b, err := Quantize(ggml.Q4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	if le16(b) != 0x3c00 {
		t.Errorf("d = %#04x, want 1.0", le16(b))
	}
	// q0=0, q1=15, q2=trunc(11.9)=11, q17=trunc(5.9)=5, zeros -> 8.
	if b[2] != 0x80 || b[3] != 0x5f || b[4] != 0x8b || b[5] != 0x88 {
		t.Errorf("qs = % x", b[2:6])
	}
}
