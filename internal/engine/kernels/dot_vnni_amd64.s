#include "textflag.h"

// AVX-512 VNNI (256-bit, AVX512VL) versions of the kernels in
// dot_amd64.s, with the same arithmetic and so the same results. VPDPBUSD
// multiplies unsigned by signed bytes; the weights are made unsigned by an
// offset (Q8_0: w+128 via XOR 0x80; Q4_0: the raw nibbles, w+8) and each
// lane's accumulator starts at -offset * (sum of the lane's activations),
// read from neg, which makes every lane sum exact.

// SCALE sets all lanes of Y3 to fp16(weight scale at SI).
#define SCALE \
	VPBROADCASTW (SI), X3 \
	VCVTPH2PS X3, Y3

#define HSUM8TO(acc, xacc, off) \
	VEXTRACTF128 $1, acc, X9 \
	VADDPS X9, xacc, xacc \
	VMOVHLPS xacc, xacc, X9 \
	VADDPS X9, xacc, xacc \
	VMOVSHDUP xacc, X9 \
	VADDSS X9, xacc, xacc \
	VMOVSS xacc, off(BX)

// ROW accumulates one activation row: quants at yaddr, neg at naddr, scale
// at daddr, weights (unsigned) in Y0, weight scale in Y3.
#define ROW(yaddr, naddr, daddr, acc) \
	VMOVDQU naddr, Y2 \
	VPDPBUSD yaddr, Y0, Y2 \
	VCVTDQ2PS Y2, Y2 \
	VMULPS.BCST daddr, Y3, Y8 \
	VMULPS Y8, Y2, Y2 \
	VADDPS Y2, acc, acc

#define MASK80 \
	MOVL $0x80808080, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14

#define MASK0F \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X14 \
	VPBROADCASTD X14, Y14

#define Q8W \
	VPXOR 2(SI), Y14, Y0

#define Q4W \
	VMOVDQU 2(SI), X0 \
	VPSRLW $4, X0, X1 \
	VINSERTI128 $1, X1, Y0, Y0 \
	VPAND Y14, Y0, Y0

// X4PROLOGUE loads the arguments of the x4 kernels. Per activation row j:
// quants at DI + j*ystride, neg at R8 + j*ystride (same stride in bytes),
// scale at DX + j*dstride. R9, R10, R11 = 1, 2, 3 * ystride; R12, R13 = 1,
// 3 * dstride.
#define X4PROLOGUE \
	MOVQ w+0(FP), SI \
	MOVQ y+8(FP), DI \
	MOVQ d+16(FP), DX \
	MOVQ neg+24(FP), R8 \
	MOVQ nb+32(FP), CX \
	MOVQ ystride+40(FP), R9 \
	MOVQ dstride+48(FP), R12 \
	LEAQ (R9)(R9*1), R10 \
	LEAQ (R10)(R9*1), R11 \
	LEAQ (R12)(R12*2), R13 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7

#define X4ROWS \
	ROW((DI), (R8), (DX), Y4) \
	ROW((DI)(R9*1), (R8)(R9*1), (DX)(R12*1), Y5) \
	ROW((DI)(R10*1), (R8)(R10*1), (DX)(R12*2), Y6) \
	ROW((DI)(R11*1), (R8)(R11*1), (DX)(R13*1), Y7)

#define X4EPILOGUE \
	MOVQ out+56(FP), BX \
	HSUM8TO(Y4, X4, 0) \
	HSUM8TO(Y5, X5, 4) \
	HSUM8TO(Y6, X6, 8) \
	HSUM8TO(Y7, X7, 12) \
	VZEROUPPER \
	RET

// func dotQ8_0VNNI(w *byte, y *int8, d *float32, neg *int32, nb int) float32
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ neg+24(FP), R8
	MOVQ nb+32(FP), CX
	MASK80
	VXORPS Y4, Y4, Y4

q8loop:
	Q8W
	SCALE
	ROW((DI), (R8), (DX), Y4)
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q8loop

	LEAQ ret+40(FP), BX
	HSUM8TO(Y4, X4, 0)
	VZEROUPPER
	RET

// func dotQ4_0VNNI(w *byte, y *int8, d *float32, neg *int32, nb int) float32
TEXT ·dotQ4_0VNNI(SB), NOSPLIT, $0-44
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ neg+24(FP), R8
	MOVQ nb+32(FP), CX
	MASK0F
	VXORPS Y4, Y4, Y4

q4loop:
	Q4W
	SCALE
	ROW((DI), (R8), (DX), Y4)
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q4loop

	LEAQ ret+40(FP), BX
	HSUM8TO(Y4, X4, 0)
	VZEROUPPER
	RET

// func dotQ8_0x4VNNI(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)
TEXT ·dotQ8_0x4VNNI(SB), NOSPLIT, $0-64
	X4PROLOGUE
	MASK80

q8x4loop:
	Q8W
	SCALE
	X4ROWS
	ADDQ $34, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q8x4loop
	X4EPILOGUE

// func dotQ4_0x4VNNI(w *byte, y *int8, d *float32, neg *int32, nb, ystride, dstride int, out *[4]float32)
TEXT ·dotQ4_0x4VNNI(SB), NOSPLIT, $0-64
	X4PROLOGUE
	MASK0F

q4x4loop:
	Q4W
	SCALE
	X4ROWS
	ADDQ $18, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ q4x4loop
	X4EPILOGUE
