package kernels

import (
	"fmt"
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// DequantizeRow converts src, holding len(dst) elements of type t, to
// float32 in dst. len(dst) must be a multiple of t's block size and src
// exactly the matching row size.
func DequantizeRow(t ggml.Type, src []byte, dst []float32) error {
	if !t.Supported() {
		return fmt.Errorf("kernels: dequantize: unsupported type %v", t)
	}
	size, err := t.RowSize(len(dst))
	if err != nil {
		return fmt.Errorf("kernels: dequantize: %w", err)
	}
	if len(src) != size {
		return fmt.Errorf("kernels: dequantize: %d bytes for %d %v elements, want %d", len(src), len(dst), t, size)
	}
	bs, ts := t.BlockSize(), t.TypeSize()
	if bs == 1 {
		switch t {
		case ggml.F32:
			for i := range dst {
				dst[i] = math.Float32frombits(le32(src[4*i:]))
			}
		case ggml.F16:
			for i := range dst {
				dst[i] = fp16ToF32(le16(src[2*i:]))
			}
		case ggml.BF16:
			for i := range dst {
				dst[i] = bf16ToF32(le16(src[2*i:]))
			}
		}
		return nil
	}
	f := dequantizers[t]
	for b := 0; b < len(dst)/bs; b++ {
		f(src[b*ts:(b+1)*ts], dst[b*bs:(b+1)*bs])
	}
	return nil
}

var dequantizers = map[ggml.Type]func(b []byte, y []float32){
	ggml.Q4_0: dequantQ4_0,
	ggml.Q4_1: dequantQ4_1,
	ggml.Q5_0: dequantQ5_0,
	ggml.Q5_1: dequantQ5_1,
	ggml.Q8_0: dequantQ8_0,
	ggml.Q4_K: dequantQ4_K,
	ggml.Q5_K: dequantQ5_K,
	ggml.Q6_K: dequantQ6_K,
}

func le16(p []byte) uint16 { return uint16(p[0]) | uint16(p[1])<<8 }
func le32(p []byte) uint32 {
	return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
}

// block_q4_0: fp16 d; 16 bytes of nibbles. Byte j holds element j in its
// low nibble and element j+16 in its high nibble; x = d*(q-8).
func dequantQ4_0(b []byte, y []float32) {
	d := fp16ToF32(le16(b))
	qs := b[2:18]
	for j := 0; j < 16; j++ {
		y[j] = float32(int(qs[j]&0xf)-8) * d
		y[j+16] = float32(int(qs[j]>>4)-8) * d
	}
}

// block_q4_1: fp16 d, fp16 m; nibbles as Q4_0; x = d*q + m.
func dequantQ4_1(b []byte, y []float32) {
	d, m := fp16ToF32(le16(b)), fp16ToF32(le16(b[2:]))
	qs := b[4:20]
	for j := 0; j < 16; j++ {
		y[j] = float32(qs[j]&0xf)*d + m
		y[j+16] = float32(qs[j]>>4)*d + m
	}
}

// block_q5_0: fp16 d; uint32 qh (bit j is element j's fifth bit); nibbles
// as Q4_0; x = d*(q-16).
func dequantQ5_0(b []byte, y []float32) {
	d := fp16ToF32(le16(b))
	qh := le32(b[2:])
	qs := b[6:22]
	for j := 0; j < 16; j++ {
		h0 := (qh >> j << 4) & 0x10
		h1 := (qh >> (j + 12)) & 0x10
		y[j] = float32(int32(uint32(qs[j]&0xf)|h0)-16) * d
		y[j+16] = float32(int32(uint32(qs[j]>>4)|h1)-16) * d
	}
}

// block_q5_1: fp16 d, fp16 m; qh; nibbles; x = d*q + m.
func dequantQ5_1(b []byte, y []float32) {
	d, m := fp16ToF32(le16(b)), fp16ToF32(le16(b[2:]))
	qh := le32(b[4:])
	qs := b[8:24]
	for j := 0; j < 16; j++ {
		h0 := (qh >> j << 4) & 0x10
		h1 := (qh >> (j + 12)) & 0x10
		y[j] = float32(uint32(qs[j]&0xf)|h0)*d + m
		y[j+16] = float32(uint32(qs[j]>>4)|h1)*d + m
	}
}

// block_q8_0: fp16 d; 32 int8; x = d*q.
func dequantQ8_0(b []byte, y []float32) {
	d := fp16ToF32(le16(b))
	for j := 0; j < 32; j++ {
		y[j] = float32(int8(b[2+j])) * d
	}
}

// scaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block
// (ggml's get_scale_min_k4).
func scaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// block_q4_K: fp16 d, fp16 dmin; 12 bytes of 6-bit scales and mins for
// eight 32-element sub-blocks; 128 bytes of nibbles, each 32-byte group
// holding sub-block 2i in low nibbles and 2i+1 in high nibbles;
// x = d*sc*q - dmin*m.
func dequantQ4_K(b []byte, y []float32) {
	d, dmin := fp16ToF32(le16(b)), fp16ToF32(le16(b[2:]))
	scales := b[4:16]
	q := b[16:144]
	for j := 0; j < 4; j++ {
		sc, m := scaleMinK4(2*j, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(2*j+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		qq, yy := q[32*j:32*j+32], y[64*j:64*j+64]
		for l := 0; l < 32; l++ {
			yy[l] = d1*float32(qq[l]&0xf) - m1
			yy[l+32] = d2*float32(qq[l]>>4) - m2
		}
	}
}

// block_q5_K: as Q4_K plus 32 bytes qh after the scales: bit 2i of qh[l] is
// the fifth bit of element l of sub-block 2i, bit 2i+1 that of sub-block 2i+1.
func dequantQ5_K(b []byte, y []float32) {
	d, dmin := fp16ToF32(le16(b)), fp16ToF32(le16(b[2:]))
	scales := b[4:16]
	qh := b[16:48]
	ql := b[48:176]
	for j := 0; j < 4; j++ {
		sc, m := scaleMinK4(2*j, scales)
		d1, m1 := d*float32(sc), dmin*float32(m)
		sc, m = scaleMinK4(2*j+1, scales)
		d2, m2 := d*float32(sc), dmin*float32(m)
		u1, u2 := byte(1)<<(2*j), byte(2)<<(2*j)
		qq, yy := ql[32*j:32*j+32], y[64*j:64*j+64]
		for l := 0; l < 32; l++ {
			h1, h2 := 0, 0
			if qh[l]&u1 != 0 {
				h1 = 16
			}
			if qh[l]&u2 != 0 {
				h2 = 16
			}
			yy[l] = d1*float32(int(qq[l]&0xf)+h1) - m1
			yy[l+32] = d2*float32(int(qq[l]>>4)+h2) - m2
		}
	}
}

// block_q6_K: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16
// int8 scales (one per 16 elements), fp16 d; x = d*sc*(q-32).
func dequantQ6_K(b []byte, y []float32) {
	d := fp16ToF32(le16(b[208:]))
	for n := 0; n < 2; n++ {
		ql, qh, sc := b[64*n:64*n+64], b[128+32*n:128+32*n+32], b[192+8*n:192+8*n+8]
		yy := y[128*n : 128*n+128]
		for l := 0; l < 32; l++ {
			is := l / 16
			q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
			q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
			q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
			q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
			yy[l] = d * float32(int8(sc[is])) * float32(q1)
			yy[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
			yy[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
			yy[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
		}
	}
}
