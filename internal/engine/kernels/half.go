package kernels

import "math"

// fp16ToF32 converts an IEEE 754 half-precision value to float32 exactly.
func fp16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0:
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	}
	f := float32(mant) * (1.0 / (1 << 24)) // subnormal
	if sign != 0 {
		return -f
	}
	return f
}

// f32ToFP16 converts a float32 to half precision, rounding to nearest even
// (as F16C's VCVTPS2PH and ggml's reference conversion do). NaNs become a
// quiet NaN; values too large become infinity.
func f32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}
	e := exp - 112
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		s := uint32(126 - exp)
		if s > 24 {
			return sign
		}
		m := mant | 0x800000
		q := m >> s
		rem := m & (1<<s - 1)
		half := uint32(1) << (s - 1)
		if rem > half || rem == half && q&1 == 1 {
			q++
		}
		return sign | uint16(q)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && h&1 == 1 {
		h++
	}
	return sign | uint16(h)
}

// bf16ToF32 converts a bfloat16 value to float32 exactly.
func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 converts a float32 to bfloat16 rounding to nearest even, as
// ggml's ggml_compute_fp32_to_bf16 does (NaNs are quieted).
func f32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

// nearestInt rounds to the nearest integer, ties to even, like ggml's
// nearest_int (valid for |f| <= 4194303).
func nearestInt(f float32) int {
	return int(math.RoundToEven(float64(f)))
}
