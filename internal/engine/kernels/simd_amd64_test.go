package kernels

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestTranspose16 checks the register transpose that reads the wide group
// kernels' results back, for every count of activation rows.
func TestTranspose16(t *testing.T) {
	if !cpu.X86.HasAVX512F {
		t.Skip("no AVX-512")
	}
	var res [16][16]float32
	for i := range res {
		for j := range res[i] {
			res[i][j] = float32(100*i + j)
		}
	}
	const stride = 21 // floats between runs of out
	for nj := 1; nj <= 16; nj++ {
		out := make([]float32, 16*stride+1)
		for k := range out {
			out[k] = -1
		}
		transpose16(&res, &out[1], stride*4, nj)
		for j := range 16 {
			for i := range stride {
				want := float32(-1)
				if j < nj && i < 16 {
					want = res[i][j]
				}
				if got := out[1+j*stride+i]; got != want {
					t.Fatalf("nj=%d: out[%d][%d] = %v, want %v", nj, j, i, got, want)
				}
			}
		}
		if out[0] != -1 {
			t.Fatalf("nj=%d: wrote before out", nj)
		}
	}
}
