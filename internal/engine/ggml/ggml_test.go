package ggml

import "testing"

func TestGeometry(t *testing.T) {
	// Block sizes and bytes per block from ggml-common.h's static_asserts.
	tests := []struct {
		t           Type
		id          uint32
		name        string
		block, size int
	}{
		{F32, 0, "F32", 1, 4},
		{F16, 1, "F16", 1, 2},
		{Q4_0, 2, "Q4_0", 32, 18},
		{Q4_1, 3, "Q4_1", 32, 20},
		{Q5_0, 6, "Q5_0", 32, 22},
		{Q5_1, 7, "Q5_1", 32, 24},
		{Q8_0, 8, "Q8_0", 32, 34},
		{Q8_1, 9, "Q8_1", 32, 36},
		{Q2_K, 10, "Q2_K", 256, 84},
		{Q3_K, 11, "Q3_K", 256, 110},
		{Q4_K, 12, "Q4_K", 256, 144},
		{Q5_K, 13, "Q5_K", 256, 176},
		{Q6_K, 14, "Q6_K", 256, 210},
		{Q8_K, 15, "Q8_K", 256, 292},
		{IQ2_XXS, 16, "IQ2_XXS", 256, 66},
		{IQ2_XS, 17, "IQ2_XS", 256, 74},
		{IQ3_XXS, 18, "IQ3_XXS", 256, 98},
		{IQ1_S, 19, "IQ1_S", 256, 50},
		{IQ4_NL, 20, "IQ4_NL", 32, 18},
		{IQ3_S, 21, "IQ3_S", 256, 110},
		{IQ2_S, 22, "IQ2_S", 256, 82},
		{IQ4_XS, 23, "IQ4_XS", 256, 136},
		{I8, 24, "I8", 1, 1},
		{I16, 25, "I16", 1, 2},
		{I32, 26, "I32", 1, 4},
		{I64, 27, "I64", 1, 8},
		{F64, 28, "F64", 1, 8},
		{IQ1_M, 29, "IQ1_M", 256, 56},
		{BF16, 30, "BF16", 1, 2},
		{TQ1_0, 34, "TQ1_0", 256, 54},
		{TQ2_0, 35, "TQ2_0", 256, 66},
		{MXFP4, 39, "MXFP4", 32, 17},
		{NVFP4, 40, "NVFP4", 64, 36},
		{Q1_0, 41, "Q1_0", 128, 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if uint32(tt.t) != tt.id {
				t.Errorf("id = %d, want %d", uint32(tt.t), tt.id)
			}
			if got := tt.t.String(); got != tt.name {
				t.Errorf("String = %q, want %q", got, tt.name)
			}
			if got := tt.t.BlockSize(); got != tt.block {
				t.Errorf("BlockSize = %d, want %d", got, tt.block)
			}
			if got := tt.t.TypeSize(); got != tt.size {
				t.Errorf("TypeSize = %d, want %d", got, tt.size)
			}
			if !tt.t.Valid() {
				t.Errorf("Valid = false")
			}
			p, err := ParseType(tt.name)
			if err != nil || p != tt.t {
				t.Errorf("ParseType(%q) = %v, %v", tt.name, p, err)
			}
		})
	}
}

func TestRemovedAndUnknown(t *testing.T) {
	for _, id := range []uint32{4, 5, 31, 32, 33, 36, 37, 38, 42, 1000} {
		ty := Type(id)
		if ty.Valid() || ty.Supported() || ty.BlockSize() != 0 || ty.TypeSize() != 0 {
			t.Errorf("Type(%d) has traits", id)
		}
		if _, err := ty.RowSize(32); err == nil {
			t.Errorf("Type(%d).RowSize succeeded", id)
		}
	}
	if got := Type(4).String(); got != "Type(4)" {
		t.Errorf("String = %q", got)
	}
	if _, err := ParseType("q9_9"); err == nil {
		t.Error("ParseType(q9_9) succeeded")
	}
}

func TestSupported(t *testing.T) {
	want := map[Type]bool{F32: true, F16: true, BF16: true, Q4_0: true, Q4_1: true, Q5_0: true,
		Q5_1: true, Q8_0: true, Q4_K: true, Q5_K: true, Q6_K: true}
	for ty := range table {
		if ty.Supported() != want[ty] {
			t.Errorf("%v.Supported() = %v", ty, ty.Supported())
		}
	}
}

func TestRowSize(t *testing.T) {
	tests := []struct {
		t       Type
		n, want int
		ok      bool
	}{
		{F32, 7, 28, true},
		{Q8_0, 2048, 2176, true},
		{Q4_0, 64, 36, true},
		{Q4_K, 512, 288, true},
		{Q6_K, 256, 210, true},
		{Q8_0, 0, 0, true},
		{Q8_0, 33, 0, false},
		{Q4_K, 128, 0, false},
		{F16, -2, 0, false},
		{F64, maxInt / 4, 0, false},
	}
	for _, tt := range tests {
		got, err := tt.t.RowSize(tt.n)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%v.RowSize(%d) = %d, %v; want %d, ok=%v", tt.t, tt.n, got, err, tt.want, tt.ok)
		}
	}
}
