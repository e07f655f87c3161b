#include "textflag.h"

// AVX2 dot products of float weight rows (F32, F16 with F16C, BF16) with
// float32 activations, bit-identical to dotFloatRow: thirty-two
// accumulators in Y0..Y3 (element k in lane k%32), each product rounded
// before it is added (no FMA).

// FLOATSETUP loads the arguments (w, x, n, acc) and the accumulators.
#define FLOATSETUP \
	MOVQ w+0(FP), SI \
	MOVQ x+8(FP), DI \
	MOVQ n+16(FP), CX \
	MOVQ acc+24(FP), BX \
	VMOVUPS 0(BX), Y0 \
	VMOVUPS 32(BX), Y1 \
	VMOVUPS 64(BX), Y2 \
	VMOVUPS 96(BX), Y3

// FMULADD adds the eight weights in w (as float32) times activations
// 8k..8k+7 of the group to acc.
#define FMULADD(k, w, acc) \
	VMULPS (32*k)(DI), w, w \
	VADDPS w, acc, acc

// FLOATNEXT moves to the next group of 32 (wstep bytes of weights) and
// counts it.
#define FLOATNEXT(wstep) \
	ADDQ $wstep, SI \
	ADDQ $128, DI \
	DECQ CX

// FLOATSTORE stores the accumulators back.
#define FLOATSTORE \
	VMOVUPS Y0, 0(BX) \
	VMOVUPS Y1, 32(BX) \
	VMOVUPS Y2, 64(BX) \
	VMOVUPS Y3, 96(BX) \
	VZEROUPPER

// func dotF32AVX2(w *byte, x *float32, n int, acc *[32]float32)
// func dotF16AVX2(w *byte, x *float32, n int, acc *[32]float32)
// func dotBF16AVX2(w *byte, x *float32, n int, acc *[32]float32)
// add the products of n groups of 32 elements to acc.

TEXT ·dotF32AVX2(SB), NOSPLIT, $0-32
	FLOATSETUP

dotF32AVX2loop:
	VMOVUPS 0(SI), Y4
	FMULADD(0, Y4, Y0)
	VMOVUPS 32(SI), Y5
	FMULADD(1, Y5, Y1)
	VMOVUPS 64(SI), Y6
	FMULADD(2, Y6, Y2)
	VMOVUPS 96(SI), Y7
	FMULADD(3, Y7, Y3)
	FLOATNEXT(128)
	JNZ dotF32AVX2loop
	FLOATSTORE
	RET

TEXT ·dotF16AVX2(SB), NOSPLIT, $0-32
	FLOATSETUP

dotF16AVX2loop:
	VCVTPH2PS 0(SI), Y4
	FMULADD(0, Y4, Y0)
	VCVTPH2PS 16(SI), Y5
	FMULADD(1, Y5, Y1)
	VCVTPH2PS 32(SI), Y6
	FMULADD(2, Y6, Y2)
	VCVTPH2PS 48(SI), Y7
	FMULADD(3, Y7, Y3)
	FLOATNEXT(64)
	JNZ dotF16AVX2loop
	FLOATSTORE
	RET

TEXT ·dotBF16AVX2(SB), NOSPLIT, $0-32
	FLOATSETUP

dotBF16AVX2loop:
	VPMOVZXWD 0(SI), Y4
	VPSLLD $16, Y4, Y4
	FMULADD(0, Y4, Y0)
	VPMOVZXWD 16(SI), Y5
	VPSLLD $16, Y5, Y5
	FMULADD(1, Y5, Y1)
	VPMOVZXWD 32(SI), Y6
	VPSLLD $16, Y6, Y6
	FMULADD(2, Y6, Y2)
	VPMOVZXWD 48(SI), Y7
	VPSLLD $16, Y7, Y7
	FMULADD(3, Y7, Y3)
	FLOATNEXT(64)
	JNZ dotBF16AVX2loop
	FLOATSTORE
	RET
