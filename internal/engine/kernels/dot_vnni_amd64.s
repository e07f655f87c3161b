#include "textflag.h"
#include "dot_amd64.h"

// AVX-512 VNNI (256-bit, AVX512VL) versions of the kernels in
// dot_amd64.s, with the same arithmetic and so the same results. VPDPBUSD
// multiplies unsigned by signed bytes; the weights are made unsigned by an
// offset (Q8_0: w+128 via XOR 0x80; Q4_0: the raw nibbles, w+8) and
// offset*sum(y) is subtracted from each block's sum, which keeps it exact.

// Q4PAIRV sets r's lanes 0-3 to partial sums of block p (quants at
// wo1(SI)) and lanes 4-7 to those of block p+4 (wo2(SI)), with the paired
// activations at lo(DI) (low nibbles) and hi(DI) (high nibbles).
#define Q4PAIRV(wo1, wo2, lo, hi, r) \
	VMOVDQU wo1(SI), X8 \
	VINSERTI128 $1, wo2(SI), Y8, Y8 \
	VPSRLW $4, Y8, Y9 \
	VPAND Y13, Y8, Y8 \
	VPAND Y13, Y9, Y9 \
	VPXOR r, r, r \
	VPDPBUSD lo(DI), Y8, r \
	VPDPBUSD hi(DI), Y9, r

#define Q8BLKV(woff, yoff, r) \
	VPXOR woff(SI), Y13, Y8 \
	VPXOR r, r, r \
	VPDPBUSD yoff(DI), Y8, r

#define Q4BLKV(woff, yoff, r) \
	VMOVDQU woff(SI), X8 \
	VPSRLW $4, X8, X9 \
	VINSERTI128 $1, X9, Y8, Y8 \
	VPAND Y13, Y8, Y8 \
	VPXOR r, r, r \
	VPDPBUSD yoff(DI), Y8, r

// func dotQ8_0VNNI(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)
TEXT ·dotQ8_0VNNI(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ ngroups+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x80808080, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVUPS (BX), Y14

dotQ8_0VNNIloop:
	Q8BLKV(2, 0, Y0)
	Q8BLKV(36, 32, Y1)
	Q8BLKV(70, 64, Y2)
	Q8BLKV(104, 96, Y3)
	Q8BLKV(138, 128, Y4)
	Q8BLKV(172, 160, Y5)
	Q8BLKV(206, 192, Y6)
	Q8BLKV(240, 224, Y7)
	REDUCE8
	CORRECT(7)
	ROWSTEP(34, 68, 102, 136, 170, 204, 238)
	ADDQ $272, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ8_0VNNIloop
	VMOVUPS Y14, (BX)
	VZEROUPPER
	RET

// func dotQ4_0VNNI(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)
TEXT ·dotQ4_0VNNI(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ ngroups+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVUPS (BX), Y14

dotQ4_0VNNIloop:
	Q4BLKV(2, 0, Y0)
	Q4BLKV(20, 32, Y1)
	Q4BLKV(38, 64, Y2)
	Q4BLKV(56, 96, Y3)
	Q4BLKV(74, 128, Y4)
	Q4BLKV(92, 160, Y5)
	Q4BLKV(110, 192, Y6)
	Q4BLKV(128, 224, Y7)
	REDUCE8
	CORRECT(3)
	ROWSTEP(18, 36, 54, 72, 90, 108, 126)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ4_0VNNIloop
	VMOVUPS Y14, (BX)
	VZEROUPPER
	RET

// func dotQ8_0VNNIRows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)
TEXT ·dotQ8_0VNNIRows(SB), NOSPLIT, $0-64
	ROWSSETUP
	MOVL $0x80808080, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

dotQ8_0VNNIRowsrow:
	ROWSTART

dotQ8_0VNNIRowsloop:
	Q8BLKV(2, 0, Y0)
	Q8BLKV(36, 32, Y1)
	Q8BLKV(70, 64, Y2)
	Q8BLKV(104, 96, Y3)
	Q8BLKV(138, 128, Y4)
	Q8BLKV(172, 160, Y5)
	Q8BLKV(206, 192, Y6)
	Q8BLKV(240, 224, Y7)
	REDUCE8
	CORRECT(7)
	ROWSTEP(34, 68, 102, 136, 170, 204, 238)
	ADDQ $272, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ8_0VNNIRowsloop
	HSUM8ROW
	ADDQ R10, R9
	DECQ R11
	JNZ dotQ8_0VNNIRowsrow
	VZEROUPPER
	RET

// q4scaleidx picks the fp16 scales of eight Q4_0 blocks (words 0, 9, ...
// 63 of their 144 bytes) for VPERMT2W.
DATA q4scaleidx<>+0(SB)/8, $0x001b001200090000
DATA q4scaleidx<>+8(SB)/8, $0x003f0036002d0024
DATA q4scaleidx<>+16(SB)/8, $0
DATA q4scaleidx<>+24(SB)/8, $0
DATA q4scaleidx<>+32(SB)/8, $0
DATA q4scaleidx<>+40(SB)/8, $0
DATA q4scaleidx<>+48(SB)/8, $0
DATA q4scaleidx<>+56(SB)/8, $0
GLOBL q4scaleidx<>(SB), RODATA|NOPTR, $64

// ROWSTEPQ4 is ROWSTEP for eight Q4_0 blocks at SI, with their scales
// picked by one word permutation (index in Z15) instead of eight inserts.
#define ROWSTEPQ4 \
	VCVTDQ2PS Y0, Y0 \
	VMOVDQU64 (SI), Z3 \
	VPERMT2W 64(SI), Z15, Z3 \
	VCVTPH2PS X3, Y3 \
	VMULPS (DX), Y3, Y3 \
	VMULPS Y3, Y0, Y0 \
	VADDPS Y0, Y14, Y14

// func dotQ4_0VNNIRows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)
// y is in the paired layout of acts.pairQ4: blocks b and b+4 of each eight
// share one register, low nibbles in one VPDPBUSD and high in another.
TEXT ·dotQ4_0VNNIRows(SB), NOSPLIT, $0-64
	ROWSSETUP
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVDQU64 q4scaleidx<>(SB), Z15

dotQ4_0VNNIRowsrow:
	ROWSTART

dotQ4_0VNNIRowsloop:
	// Reading 4 KiB ahead (non-temporal: the weights are used once)
	// overlaps memory with this compute-heavy loop better than the
	// hardware prefetcher alone: measured 5-7% faster decoding of the
	// 1B Q4_0 model. (The same in the Q8_0 loop, which is bound by
	// memory, measured slower.)
	PREFETCHNTA 4096(SI)
	PREFETCHNTA 4160(SI)
	Q4PAIRV(2, 74, 0, 32, Y0)
	Q4PAIRV(20, 92, 64, 96, Y1)
	Q4PAIRV(38, 110, 128, 160, Y2)
	Q4PAIRV(56, 128, 192, 224, Y3)
	REDUCEPAIRS
	CORRECT(3)
	ROWSTEPQ4
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ4_0VNNIRowsloop
	HSUM8ROW
	ADDQ R10, R9
	DECQ R11
	JNZ dotQ4_0VNNIRowsrow
	VZEROUPPER
	RET

#define Q8GBLKV(acc) \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPXORD.BCST 2(SI), Y7, Y2 \
	VPDPBUSD 0(DI), Y2, Y0 \
	VPXORD.BCST 6(SI), Y7, Y3 \
	VPDPBUSD 32(DI), Y3, Y1 \
	VPXORD.BCST 10(SI), Y7, Y2 \
	VPDPBUSD 64(DI), Y2, Y0 \
	VPXORD.BCST 14(SI), Y7, Y3 \
	VPDPBUSD 96(DI), Y3, Y1 \
	VPXORD.BCST 18(SI), Y7, Y2 \
	VPDPBUSD 128(DI), Y2, Y0 \
	VPXORD.BCST 22(SI), Y7, Y3 \
	VPDPBUSD 160(DI), Y3, Y1 \
	VPXORD.BCST 26(SI), Y7, Y2 \
	VPDPBUSD 192(DI), Y2, Y0 \
	VPXORD.BCST 30(SI), Y7, Y3 \
	VPDPBUSD 224(DI), Y3, Y1 \
	VPADDD Y1, Y0, Y0 \
	VMOVDQU (R8), Y2 \
	VPSLLD $7, Y2, Y2 \
	VPSUBD Y2, Y0, Y0 \
	GROUPSTEP(acc) \
	ADDQ $34, SI \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, R8

#define Q4GBLKV(acc) \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPBROADCASTD 2(SI), Y2 \
	VPAND Y7, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y7, Y2, Y2 \
	VPDPBUSD 0(DI), Y3, Y0 \
	VPDPBUSD 128(DI), Y2, Y1 \
	VPBROADCASTD 6(SI), Y2 \
	VPAND Y7, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y7, Y2, Y2 \
	VPDPBUSD 32(DI), Y3, Y0 \
	VPDPBUSD 160(DI), Y2, Y1 \
	VPBROADCASTD 10(SI), Y2 \
	VPAND Y7, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y7, Y2, Y2 \
	VPDPBUSD 64(DI), Y3, Y0 \
	VPDPBUSD 192(DI), Y2, Y1 \
	VPBROADCASTD 14(SI), Y2 \
	VPAND Y7, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y7, Y2, Y2 \
	VPDPBUSD 96(DI), Y3, Y0 \
	VPDPBUSD 224(DI), Y2, Y1 \
	VPADDD Y1, Y0, Y0 \
	VMOVDQU (R8), Y2 \
	VPSLLD $3, Y2, Y2 \
	VPSUBD Y2, Y0, Y0 \
	GROUPSTEP(acc) \
	ADDQ $18, SI \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, R8

// func dotQ8_0x8VNNI(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)
TEXT ·dotQ8_0x8VNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ t+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x80808080, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	VMOVUPS 0(BX), Y8
	VMOVUPS 32(BX), Y9
	VMOVUPS 64(BX), Y10
	VMOVUPS 96(BX), Y11
	VMOVUPS 128(BX), Y12
	VMOVUPS 160(BX), Y13
	VMOVUPS 192(BX), Y14
	VMOVUPS 224(BX), Y15

dotQ8_0x8VNNIloop:
	Q8GBLKV(Y8)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y9)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y10)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y11)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y12)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y13)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y14)
	DECQ CX
	JZ dotQ8_0x8VNNIdone
	Q8GBLKV(Y15)
	DECQ CX
	JNZ dotQ8_0x8VNNIloop

dotQ8_0x8VNNIdone:
	VMOVUPS Y8, 0(BX)
	VMOVUPS Y9, 32(BX)
	VMOVUPS Y10, 64(BX)
	VMOVUPS Y11, 96(BX)
	VMOVUPS Y12, 128(BX)
	VMOVUPS Y13, 160(BX)
	VMOVUPS Y14, 192(BX)
	VMOVUPS Y15, 224(BX)
	MOVQ res+48(FP), BX
	FINISH8
	VZEROUPPER
	RET

// func dotQ4_0x8VNNI(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)
TEXT ·dotQ4_0x8VNNI(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ t+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	VMOVUPS 0(BX), Y8
	VMOVUPS 32(BX), Y9
	VMOVUPS 64(BX), Y10
	VMOVUPS 96(BX), Y11
	VMOVUPS 128(BX), Y12
	VMOVUPS 160(BX), Y13
	VMOVUPS 192(BX), Y14
	VMOVUPS 224(BX), Y15

dotQ4_0x8VNNIloop:
	Q4GBLKV(Y8)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y9)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y10)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y11)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y12)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y13)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y14)
	DECQ CX
	JZ dotQ4_0x8VNNIdone
	Q4GBLKV(Y15)
	DECQ CX
	JNZ dotQ4_0x8VNNIloop

dotQ4_0x8VNNIdone:
	VMOVUPS Y8, 0(BX)
	VMOVUPS Y9, 32(BX)
	VMOVUPS Y10, 64(BX)
	VMOVUPS Y11, 96(BX)
	VMOVUPS Y12, 128(BX)
	VMOVUPS Y13, 160(BX)
	VMOVUPS Y14, 192(BX)
	VMOVUPS Y15, 224(BX)
	MOVQ res+48(FP), BX
	FINISH8
	VZEROUPPER
	RET
