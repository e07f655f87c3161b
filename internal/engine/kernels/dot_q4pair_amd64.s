#include "textflag.h"

// The Q4_0 group kernel of the AVX-512 VNNI set for two weight rows at a
// time. Each weight row of a chunk is first unpacked (unpackQ4_0) into 40
// bytes a block: the 32 quants minus 8 as int8, in element order, then
// -128*sum(quants-8) as int32 and the fp16 scale as float32. The kernel
// then multiplies the eight activation rows of a group (acts.tq, made
// unsigned by adding 128) by four broadcast weight quants per VPDPBUSD:
// the weight unpacking, done once per row instead of once per group, and
// the activations, loaded once for both rows, leave little more than the
// multiplications in the loop. The integer sums come out exact,
// sum((y+128)*(q-8)) - 128*sum(q-8) = sum(y*(q-8)), and the float steps
// are GROUPSTEP's (dot_vnni_amd64.s), so the results are those of
// dotQ4_0x8VNNI bit for bit.

// func unpackQ4_0(w *byte, nb int, out *byte)
TEXT ·unpackQ4_0(SB), NOSPLIT, $0-24
	MOVQ w+0(FP), SI
	MOVQ nb+8(FP), CX
	MOVQ out+16(FP), DI
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x08080808, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VPXOR Y11, Y11, Y11

unpackQ4_0loop:
	VMOVDQU 2(SI), X0
	VPSRLW $4, X0, X1
	VINSERTI128 $1, X1, Y0, Y0
	VPAND Y13, Y0, Y0
	VPSADBW Y11, Y0, Y1
	VPSUBB Y12, Y0, Y0
	VMOVDQU Y0, (DI)
	VEXTRACTI128 $1, Y1, X2
	VPADDQ X2, X1, X1
	VPSHUFD $0x4e, X1, X2
	VPADDQ X2, X1, X1
	VMOVD X1, AX
	NEGL AX
	ADDL $256, AX
	SHLL $7, AX
	MOVL AX, 32(DI)
	MOVWLZX (SI), AX
	VMOVD AX, X3
	VCVTPH2PS X3, X3
	VMOVSS X3, 36(DI)
	ADDQ $18, SI
	ADDQ $40, DI
	DECQ CX
	JNZ unpackQ4_0loop
	VZEROUPPER
	RET

// Q4PAIRBLK adds one block of weight rows A (at SI) and B (at SI+R10),
// unpacked, times the group's eight activation rows (at DI, scales at DX)
// to accA and accB.
#define Q4PAIRBLK(accA, accB) \
	VPXORD 0(DI), Y13, Y0 \
	VPXORD 32(DI), Y13, Y1 \
	VPXORD 64(DI), Y13, Y2 \
	VPXORD 96(DI), Y13, Y3 \
	VPXORD 128(DI), Y13, Y4 \
	VPXORD 160(DI), Y13, Y5 \
	VPXORD 192(DI), Y13, Y6 \
	VPXORD 224(DI), Y13, Y7 \
	VPBROADCASTD 32(SI), Y8 \
	VPXOR Y9, Y9, Y9 \
	VPBROADCASTD 32(SI)(R10*1), Y10 \
	VPXOR Y11, Y11, Y11 \
	VPDPBUSD.BCST 0(SI), Y0, Y8 \
	VPDPBUSD.BCST 0(SI)(R10*1), Y0, Y10 \
	VPDPBUSD.BCST 4(SI), Y1, Y9 \
	VPDPBUSD.BCST 4(SI)(R10*1), Y1, Y11 \
	VPDPBUSD.BCST 8(SI), Y2, Y8 \
	VPDPBUSD.BCST 8(SI)(R10*1), Y2, Y10 \
	VPDPBUSD.BCST 12(SI), Y3, Y9 \
	VPDPBUSD.BCST 12(SI)(R10*1), Y3, Y11 \
	VPDPBUSD.BCST 16(SI), Y4, Y8 \
	VPDPBUSD.BCST 16(SI)(R10*1), Y4, Y10 \
	VPDPBUSD.BCST 20(SI), Y5, Y9 \
	VPDPBUSD.BCST 20(SI)(R10*1), Y5, Y11 \
	VPDPBUSD.BCST 24(SI), Y6, Y8 \
	VPDPBUSD.BCST 24(SI)(R10*1), Y6, Y10 \
	VPDPBUSD.BCST 28(SI), Y7, Y9 \
	VPDPBUSD.BCST 28(SI)(R10*1), Y7, Y11 \
	VMOVUPS (DX), Y12 \
	VPADDD Y9, Y8, Y8 \
	VPADDD Y11, Y10, Y10 \
	VCVTDQ2PS Y8, Y8 \
	VCVTDQ2PS Y10, Y10 \
	VMULPS.BCST 36(SI), Y12, Y9 \
	VMULPS.BCST 36(SI)(R10*1), Y12, Y11 \
	VMULPS Y9, Y8, Y8 \
	VMULPS Y11, Y10, Y10 \
	VADDPS Y8, accA, accA \
	VADDPS Y10, accB, accB \
	ADDQ $40, SI \
	ADDQ $256, DI \
	ADDQ $32, DX

// PAIRFINISH stores at BX the row sums of the accumulators a0..a7 in
// hsum8's order (FINISH8).
#define PAIRFINISH(a0, a1, a2, a3, a4, a5, a6, a7) \
	VADDPS a4, a0, Y0 \
	VADDPS a5, a1, Y1 \
	VADDPS a6, a2, Y2 \
	VADDPS a7, a3, Y3 \
	VADDPS Y2, Y0, Y0 \
	VADDPS Y3, Y1, Y1 \
	VADDPS Y1, Y0, Y0 \
	VMOVUPS Y0, (BX)

// func dotQ4_0x8x2VNNI(u *byte, ustride int, t *int8, d *float32, nb int, accA, accB *[64]float32, resA, resB *[8]float32)
TEXT ·dotQ4_0x8x2VNNI(SB), NOSPLIT, $0-72
	MOVQ u+0(FP), SI
	MOVQ ustride+8(FP), R10
	MOVQ t+16(FP), DI
	MOVQ d+24(FP), DX
	MOVQ nb+32(FP), CX
	MOVQ accA+40(FP), BX
	MOVQ accB+48(FP), R11
	MOVL $0x80808080, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVUPS 0(BX), Y16
	VMOVUPS 32(BX), Y17
	VMOVUPS 64(BX), Y18
	VMOVUPS 96(BX), Y19
	VMOVUPS 128(BX), Y20
	VMOVUPS 160(BX), Y21
	VMOVUPS 192(BX), Y22
	VMOVUPS 224(BX), Y23
	VMOVUPS 0(R11), Y24
	VMOVUPS 32(R11), Y25
	VMOVUPS 64(R11), Y26
	VMOVUPS 96(R11), Y27
	VMOVUPS 128(R11), Y28
	VMOVUPS 160(R11), Y29
	VMOVUPS 192(R11), Y30
	VMOVUPS 224(R11), Y31

dotQ4_0x8x2VNNIloop:
	Q4PAIRBLK(Y16, Y24)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y17, Y25)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y18, Y26)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y19, Y27)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y20, Y28)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y21, Y29)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y22, Y30)
	DECQ CX
	JZ dotQ4_0x8x2VNNIdone
	Q4PAIRBLK(Y23, Y31)
	DECQ CX
	JNZ dotQ4_0x8x2VNNIloop

dotQ4_0x8x2VNNIdone:
	// B first: when the two rows are one, A's values are the same.
	VMOVUPS Y24, 0(R11)
	VMOVUPS Y25, 32(R11)
	VMOVUPS Y26, 64(R11)
	VMOVUPS Y27, 96(R11)
	VMOVUPS Y28, 128(R11)
	VMOVUPS Y29, 160(R11)
	VMOVUPS Y30, 192(R11)
	VMOVUPS Y31, 224(R11)
	VMOVUPS Y16, 0(BX)
	VMOVUPS Y17, 32(BX)
	VMOVUPS Y18, 64(BX)
	VMOVUPS Y19, 96(BX)
	VMOVUPS Y20, 128(BX)
	VMOVUPS Y21, 160(BX)
	VMOVUPS Y22, 192(BX)
	VMOVUPS Y23, 224(BX)
	MOVQ resA+56(FP), BX
	PAIRFINISH(Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23)
	MOVQ resB+64(FP), BX
	PAIRFINISH(Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31)
	VZEROUPPER
	RET
