#include "textflag.h"

// Integer dot products of one weight row with 8-bit quantized activations
// (32-element blocks: int8 quants y, float32 scale d). Every kernel keeps
// eight float32 lane accumulators: per block, lane k gets the exact int32
// dot product of elements 4k..4k+3, converted to float, multiplied by
// fp16(weight scale)*d (one rounding) and added (a second rounding; no FMA).
// The lanes are summed at the end as hsum8 does. dot.go's generic kernels
// compute exactly the same.

// ONES16 sets Y15 to sixteen int16 ones (for VPMADDWD pair sums).
#define ONES16 \
	MOVL $0x00010001, AX \
	VMOVD AX, X15 \
	VPBROADCASTD X15, Y15

// HSUM8 sums the eight lanes of Y4 into X4's low float, as hsum8 does.
#define HSUM8 \
	VEXTRACTF128 $1, Y4, X5 \
	VADDPS X5, X4, X4 \
	VMOVHLPS X4, X4, X5 \
	VADDPS X5, X4, X4 \
	VMOVSHDUP X4, X5 \
	VADDSS X5, X4, X4

// HSUM8TO sums the lanes of Yacc into out+off(BX).
#define HSUM8TO(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X9 \
	VADDPS X9, xacc, xacc \
	VMOVHLPS xacc, xacc, X9 \
	VADDPS X9, xacc, xacc \
	VMOVSHDUP xacc, X9 \
	VADDSS X9, xacc, xacc \
	VMOVSS xacc, off(BX)

// func dotQ8_0AVX2(w *byte, y *int8, d *float32, nb int) float32
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-36
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	ONES16
	VXORPS Y4, Y4, Y4

q8loop:
	VMOVDQU 2(SI), Y1          // weight quants
	VMOVDQU (DI), Y2           // activation quants
	VPABSB Y1, Y0              // |w|
	VPSIGNB Y1, Y2, Y2         // y * sign(w)
	VPMADDUBSW Y2, Y0, Y2      // pairwise |w|*y', int16 (no saturation: |y| <= 127)
	VPMADDWD Y15, Y2, Y2       // int32 lanes of four products
	VCVTDQ2PS Y2, Y2
	MOVWLZX (SI), AX
	VMOVD AX, X3
	VCVTPH2PS X3, X3
	VMULSS (DX), X3, X3        // fp16(dw) * d
	VBROADCASTSS X3, Y3
	VMULPS Y3, Y2, Y2
	VADDPS Y2, Y4, Y4
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q8loop

	HSUM8
	VMOVSS X4, ret+32(FP)
	VZEROUPPER
	RET

// Per activation row j of the x4 kernels: quants at DI + j*ystride, scale
// at DX + j*dstride. R9, R10, R11 = 1, 2, 3 * ystride; R12, R13 = 1, 3 * dstride.
#define Q8ROW(yaddr, daddr, acc) \
	VMOVDQU yaddr, Y2 \
	VPSIGNB Y1, Y2, Y2 \
	VPMADDUBSW Y2, Y0, Y2 \
	VPMADDWD Y15, Y2, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VMULSS daddr, X3, X8 \
	VBROADCASTSS X8, Y8 \
	VMULPS Y8, Y2, Y2 \
	VADDPS Y2, acc, acc

// func dotQ8_0x4AVX2(w *byte, y *int8, d *float32, nb, ystride, dstride int, out *[4]float32)
TEXT ·dotQ8_0x4AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ nb+24(FP), CX
	MOVQ ystride+32(FP), R9
	MOVQ dstride+40(FP), R12
	LEAQ (R9)(R9*1), R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R12)(R12*2), R13
	ONES16
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

q8x4loop:
	VMOVDQU 2(SI), Y1
	VPABSB Y1, Y0
	MOVWLZX (SI), AX
	VMOVD AX, X3
	VCVTPH2PS X3, X3
	Q8ROW((DI), (DX), Y4)
	Q8ROW((DI)(R9*1), (DX)(R12*1), Y5)
	Q8ROW((DI)(R10*1), (DX)(R12*2), Y6)
	Q8ROW((DI)(R11*1), (DX)(R13*1), Y7)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $4, DX
	DECQ CX
	JNZ q8x4loop

	MOVQ out+48(FP), BX
	HSUM8TO(Y4, X4, 0)
	HSUM8TO(Y5, X5, 4)
	HSUM8TO(Y6, X6, 8)
	HSUM8TO(Y7, X7, 12)
	VZEROUPPER
	RET

// NIBBLES loads the 16 quant bytes of a Q4_0 block at SI into Y0 as 32
// unsigned nibbles in element order (low nibbles, then high nibbles).
// Y14 holds 0x0f bytes.
#define NIBBLES \
	VMOVDQU 2(SI), X0 \
	VPSRLW $4, X0, X1 \
	VINSERTI128 $1, X1, Y0, Y0 \
	VPAND Y14, Y0, Y0

#define MASK0F \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14

// func dotQ4_0AVX2(w *byte, y *int8, d *float32, neg *int32, nb int) float32
// neg holds, per block and lane, -8 times the lane's activation sum, so
// that adding it to the unsigned-nibble products gives the products with
// the nibbles minus 8, exactly.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ neg+24(FP), R8
	MOVQ nb+32(FP), CX
	ONES16
	MASK0F
	VXORPS Y4, Y4, Y4

q4loop:
	NIBBLES
	VPMADDUBSW (DI), Y0, Y2
	VPMADDWD Y15, Y2, Y2
	VPADDD (R8), Y2, Y2
	VCVTDQ2PS Y2, Y2
	MOVWLZX (SI), AX
	VMOVD AX, X3
	VCVTPH2PS X3, X3
	VMULSS (DX), X3, X3
	VBROADCASTSS X3, Y3
	VMULPS Y3, Y2, Y2
	VADDPS Y2, Y4, Y4
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q4loop

	HSUM8
	VMOVSS X4, ret+40(FP)
	VZEROUPPER
	RET

#define Q4ROW(yaddr, naddr, daddr, acc) \
	VPMADDUBSW yaddr, Y0, Y2 \
	VPMADDWD Y15, Y2, Y2 \
	VPADDD naddr, Y2, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VMULSS daddr, X3, X8 \
	VBROADCASTSS X8, Y8 \
	VMULPS Y8, Y2, Y2 \
	VADDPS Y2, acc, acc

// func dotQ4_0x4AVX2(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)
// The neg rows have the same stride in bytes as the quant rows.
TEXT ·dotQ4_0x4AVX2(SB), NOSPLIT, $0-64
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ neg+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ ystride+40(FP), R9
	MOVQ dstride+48(FP), R12
	LEAQ (R9)(R9*1), R10
	LEAQ (R10)(R9*1), R11
	LEAQ (R12)(R12*2), R13
	ONES16
	MASK0F
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

q4x4loop:
	NIBBLES
	MOVWLZX (SI), AX
	VMOVD AX, X3
	VCVTPH2PS X3, X3
	Q4ROW((DI), (R8), (DX), Y4)
	Q4ROW((DI)(R9*1), (R8)(R9*1), (DX)(R12*1), Y5)
	Q4ROW((DI)(R10*1), (R8)(R10*1), (DX)(R12*2), Y6)
	Q4ROW((DI)(R11*1), (R8)(R11*1), (DX)(R13*1), Y7)
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q4x4loop

	MOVQ out+56(FP), BX
	HSUM8TO(Y4, X4, 0)
	HSUM8TO(Y5, X5, 4)
	HSUM8TO(Y6, X6, 8)
	HSUM8TO(Y7, X7, 12)
	VZEROUPPER
	RET
