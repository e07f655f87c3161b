#include "textflag.h"

// AVX2 activation quantization, bit-identical to act.go's
// quantQ8BlocksGeneric for blocks whose absolute maximum amax is finite
// and at least 2^-100 (so that 1/(amax/127) is finite). The other blocks
// are left to the Go code: their scale is set to NaN and counted.
//
// Rounding halves away from zero is done exactly in float32: t =
// trunc(p), and p-t (exact) of magnitude >= 0.5 moves t one away from
// zero.

// Dword order that undoes the lane interleaving of VPACKSSDW+VPACKSSWB.
DATA quantperm<>+0(SB)/4, $0
DATA quantperm<>+4(SB)/4, $4
DATA quantperm<>+8(SB)/4, $1
DATA quantperm<>+12(SB)/4, $5
DATA quantperm<>+16(SB)/4, $2
DATA quantperm<>+20(SB)/4, $6
DATA quantperm<>+24(SB)/4, $3
DATA quantperm<>+28(SB)/4, $7
GLOBL quantperm<>(SB), RODATA|NOPTR, $32

// ROUND(r) sets r (float32 p) to the int32 round(p), halves away from
// zero, with Y7 = 1/d. Clobbers Y8, Y9, Y10.
#define ROUND(r) \
	VMULPS Y7, r, r \
	VROUNDPS $3, r, Y8 \
	VSUBPS Y8, r, Y9 \
	VANDPS Y15, Y9, Y9 \
	VCMPPS $13, Y14, Y9, Y9 \
	VANDNPS r, Y15, Y10 \
	VORPS Y13, Y10, Y10 \
	VANDPS Y9, Y10, Y10 \
	VADDPS Y10, Y8, r \
	VCVTTPS2DQ r, r

// func quantQ8ActAVX2(x *float32, q *int8, d *float32, ysum *int32, nb int) (bad int)
TEXT ·quantQ8ActAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ nb+32(FP), CX
	XORQ R9, R9
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x3f000000, AX // 0.5
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU quantperm<>(SB), Y12
	MOVL $0x42fe0000, AX // 127.0
	VMOVD AX, X11

loop:
	VMOVDQU 0(SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	// amax: the absolute values' bits order like the values (NaNs last).
	VPAND Y15, Y0, Y4
	VPAND Y15, Y1, Y5
	VPAND Y15, Y2, Y6
	VPAND Y15, Y3, Y7
	VPMAXSD Y5, Y4, Y4
	VPMAXSD Y7, Y6, Y6
	VPMAXSD Y6, Y4, Y4
	VEXTRACTI128 $1, Y4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPMAXSD X5, X4, X4
	VMOVD X4, AX
	CMPL AX, $0x0d800000 // 2^-100
	JB bad
	CMPL AX, $0x7f800000
	JAE bad
	VDIVSS X11, X4, X5 // d = amax/127
	VMOVSS X5, (DX)
	VDIVSS X5, X13, X6 // 1/d
	VBROADCASTSS X6, Y7
	ROUND(Y0)
	ROUND(Y1)
	ROUND(Y2)
	ROUND(Y3)
	// Quant sum.
	VPADDD Y1, Y0, Y8
	VPADDD Y3, Y2, Y9
	VPADDD Y9, Y8, Y8
	VEXTRACTI128 $1, Y8, X9
	VPADDD X9, X8, X8
	VPSHUFD $0x4e, X8, X9
	VPADDD X9, X8, X8
	VPSHUFD $0xb1, X8, X9
	VPADDD X9, X8, X8
	VMOVD X8, (R8)
	// Pack to bytes, in order.
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y12, Y0
	VMOVDQU Y0, (DI)

next:
	ADDQ $128, SI
	ADDQ $32, DI
	ADDQ $4, DX
	ADDQ $4, R8
	DECQ CX
	JNZ loop
	MOVQ R9, bad+40(FP)
	VZEROUPPER
	RET

bad:
	MOVL $0x7fc00000, (DX)
	INCQ R9
	JMP next

// func quantQ8KAVX2(x *float32, q *int8, bs *int16, d *float32, nb int) (bad int)
// ggml's quantize_row_q8_K_ref (act.go's quantQ8K) for nb blocks of 256,
// bit-identical for blocks whose absolute maximum is finite and at least
// 2^-100; the others get a NaN scale and are left to the Go code. The
// quants are round-to-nearest-even (VCVTPS2DQ, as nearestInt) of
// iscale*x, iscale = -127/mx with mx the first element of largest
// magnitude, capped at 127.
TEXT ·quantQ8KAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), SI
	MOVQ q+8(FP), DI
	MOVQ bs+16(FP), R8
	MOVQ d+24(FP), DX
	MOVQ nb+32(FP), CX
	XORQ R11, R11
	MOVL $0x7fffffff, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $127, AX
	VMOVD AX, X14
	VPBROADCASTD X14, Y14
	MOVL $0x80808080, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU quantperm<>(SB), Y12
	VPXOR Y11, Y11, Y11
	MOVL $0xc2fe0000, AX // -127.0
	VMOVD AX, X10
	MOVL $0x3f800000, AX // 1.0
	VMOVD AX, X9

kblock:
	// amax as the largest absolute value's bits.
	MOVQ SI, BX
	MOVQ $8, R9
	VPXOR Y4, Y4, Y4

kmax:
	VPAND 0(BX), Y15, Y0
	VPAND 32(BX), Y15, Y1
	VPAND 64(BX), Y15, Y2
	VPAND 96(BX), Y15, Y3
	VPMAXSD Y0, Y4, Y4
	VPMAXSD Y1, Y4, Y4
	VPMAXSD Y2, Y4, Y4
	VPMAXSD Y3, Y4, Y4
	ADDQ $128, BX
	DECQ R9
	JNZ kmax
	VEXTRACTI128 $1, Y4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0x4e, X4, X5
	VPMAXSD X5, X4, X4
	VPSHUFD $0xb1, X4, X5
	VPMAXSD X5, X4, X4
	VMOVD X4, AX
	CMPL AX, $0x0d800000 // 2^-100
	JB kbad
	CMPL AX, $0x7f800000
	JAE kbad

	// mx: the first element whose magnitude is amax.
	VPBROADCASTD X4, Y5
	MOVQ SI, BX

kfind:
	VPAND (BX), Y15, Y0
	VPCMPEQD Y5, Y0, Y0
	VMOVMSKPS Y0, AX
	TESTL AX, AX
	JNZ kfound
	ADDQ $32, BX
	JMP kfind

kfound:
	BSFL AX, AX
	VMOVSS (BX)(AX*4), X6
	VDIVSS X6, X10, X7 // iscale = -127/mx
	VDIVSS X7, X9, X8  // d = 1/iscale
	VMOVSS X8, (DX)
	VBROADCASTSS X7, Y7
	MOVQ SI, BX
	MOVQ DI, R10
	MOVQ R8, R12
	MOVQ $8, R9

kquant:
	VMULPS 0(BX), Y7, Y0
	VMULPS 32(BX), Y7, Y1
	VMULPS 64(BX), Y7, Y2
	VMULPS 96(BX), Y7, Y3
	VCVTPS2DQ Y0, Y0
	VCVTPS2DQ Y1, Y1
	VCVTPS2DQ Y2, Y2
	VCVTPS2DQ Y3, Y3
	VPMINSD Y14, Y0, Y0
	VPMINSD Y14, Y1, Y1
	VPMINSD Y14, Y2, Y2
	VPMINSD Y14, Y3, Y3
	VPACKSSDW Y1, Y0, Y0
	VPACKSSDW Y3, Y2, Y2
	VPACKSSWB Y2, Y0, Y0
	VPERMD Y0, Y12, Y0
	VMOVDQU Y0, (R10)
	// The sums of the two groups of 16: with 128 added to each quant,
	// VPSADBW sums eight at a time.
	VPXOR Y13, Y0, Y1
	VPSADBW Y11, Y1, Y1
	VPSHUFD $0x4e, Y1, Y2
	VPADDQ Y2, Y1, Y1
	VMOVD X1, AX
	SUBL $2048, AX
	MOVW AX, (R12)
	VEXTRACTI128 $1, Y1, X2
	VMOVD X2, AX
	SUBL $2048, AX
	MOVW AX, 2(R12)
	ADDQ $128, BX
	ADDQ $32, R10
	ADDQ $4, R12
	DECQ R9
	JNZ kquant

knext:
	ADDQ $1024, SI
	ADDQ $256, DI
	ADDQ $32, R8
	ADDQ $4, DX
	DECQ CX
	JNZ kblock
	MOVQ R11, bad+40(FP)
	VZEROUPPER
	RET

kbad:
	MOVL $0x7fc00000, (DX)
	INCQ R11
	JMP knext
