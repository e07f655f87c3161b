#include "textflag.h"
#include "dot_amd64.h"

// AVX2 Q8_0 and Q4_0 kernels, bit-identical to dot.go's dotQ8_0Generic
// and dotQ4_0Generic: each block's exact integer sum is scaled by
// fp16(weight scale)*(activation scale) (one rounding) and added (a second
// rounding; no FMA) to accumulator b%8.
//
// The row kernels take eight blocks of one activation row at a time, with
// one lane per block. The group kernels take one block at a time of eight
// activation rows stored transposed (acts.tq), with one lane per row and
// one accumulator register per b%8: the weight quants of one 4-byte group
// are broadcast to all lanes and multiplied with that group of every row.

// Q4PAIR sets r's lanes 0-3 to partial sums of block p (quants at
// wo1(SI)) and lanes 4-7 to those of block p+4 (wo2(SI)), with the paired
// activations at lo(DI) (low nibbles) and hi(DI) (high nibbles). The two
// VPMADDUBSW results are added as int16: each is at most 2*15*127.
#define Q4PAIR(wo1, wo2, lo, hi, r) \
	VMOVDQU wo1(SI), X8 \
	VINSERTI128 $1, wo2(SI), Y8, Y8 \
	VPSRLW $4, Y8, Y9 \
	VPAND Y13, Y8, Y8 \
	VPAND Y13, Y9, Y9 \
	VPMADDUBSW lo(DI), Y8, r \
	VPMADDUBSW hi(DI), Y9, Y9 \
	VPADDW Y9, r, r \
	VPMADDWD Y15, r, r

#define Q8BLK(woff, yoff, r) \
	VMOVDQU woff(SI), Y8 \
	VPABSB Y8, Y9 \
	VMOVDQU yoff(DI), r \
	VPSIGNB Y8, r, r \
	VPMADDUBSW r, Y9, r \
	VPMADDWD Y15, r, r

#define Q4BLK(woff, yoff, r) \
	VMOVDQU woff(SI), X8 \
	VPSRLW $4, X8, X9 \
	VINSERTI128 $1, X9, Y8, Y8 \
	VPAND Y13, Y8, Y8 \
	VPMADDUBSW yoff(DI), Y8, r \
	VPMADDWD Y15, r, r

// func dotQ8_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)
// Weights times activations as |w| * (y with the sign of w), which VPMADDUBSW
// cannot saturate as |y| <= 127.
TEXT ·dotQ8_0AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ ngroups+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	VMOVUPS (BX), Y14

dotQ8_0AVX2loop:
	Q8BLK(2, 0, Y0)
	Q8BLK(36, 32, Y1)
	Q8BLK(70, 64, Y2)
	Q8BLK(104, 96, Y3)
	Q8BLK(138, 128, Y4)
	Q8BLK(172, 160, Y5)
	Q8BLK(206, 192, Y6)
	Q8BLK(240, 224, Y7)
	REDUCE8
	ROWSTEP(34, 68, 102, 136, 170, 204, 238)
	ADDQ $272, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ8_0AVX2loop
	VMOVUPS Y14, (BX)
	VZEROUPPER
	RET

// func dotQ4_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc *[8]float32)
// The nibbles are used unsigned (n = q+8) and 8*sum(y) is subtracted.
TEXT ·dotQ4_0AVX2(SB), NOSPLIT, $0-48
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ ngroups+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	VMOVUPS (BX), Y14

dotQ4_0AVX2loop:
	Q4BLK(2, 0, Y0)
	Q4BLK(20, 32, Y1)
	Q4BLK(38, 64, Y2)
	Q4BLK(56, 96, Y3)
	Q4BLK(74, 128, Y4)
	Q4BLK(92, 160, Y5)
	Q4BLK(110, 192, Y6)
	Q4BLK(128, 224, Y7)
	REDUCE8
	CORRECT(3)
	ROWSTEP(18, 36, 54, 72, 90, 108, 126)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ4_0AVX2loop
	VMOVUPS Y14, (BX)
	VZEROUPPER
	RET

// func dotQ8_0AVX2Rows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)
// out[r] = dotQ8_0Generic of row r (at w+r*rs) with the activation row.
TEXT ·dotQ8_0AVX2Rows(SB), NOSPLIT, $0-64
	ROWSSETUP
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

dotQ8_0AVX2Rowsrow:
	ROWSTART

dotQ8_0AVX2Rowsloop:
	Q8BLK(2, 0, Y0)
	Q8BLK(36, 32, Y1)
	Q8BLK(70, 64, Y2)
	Q8BLK(104, 96, Y3)
	Q8BLK(138, 128, Y4)
	Q8BLK(172, 160, Y5)
	Q8BLK(206, 192, Y6)
	Q8BLK(240, 224, Y7)
	REDUCE8
	ROWSTEP(34, 68, 102, 136, 170, 204, 238)
	ADDQ $272, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ8_0AVX2Rowsloop
	HSUM8ROW
	ADDQ R10, R9
	DECQ R11
	JNZ dotQ8_0AVX2Rowsrow
	VZEROUPPER
	RET

// func dotQ4_0AVX2Rows(w *byte, rs, nrows int, y *int8, d *float32, ysum *int32, ngroups int, out *float32)
// y is in the paired layout of acts.pairQ4 (see Q4PAIR).
TEXT ·dotQ4_0AVX2Rows(SB), NOSPLIT, $0-64
	ROWSSETUP
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

dotQ4_0AVX2Rowsrow:
	ROWSTART

dotQ4_0AVX2Rowsloop:
	Q4PAIR(2, 74, 0, 32, Y0)
	Q4PAIR(20, 92, 64, 96, Y1)
	Q4PAIR(38, 110, 128, 160, Y2)
	Q4PAIR(56, 128, 192, 224, Y3)
	REDUCEPAIRS
	CORRECT(3)
	ROWSTEP(18, 36, 54, 72, 90, 108, 126)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ dotQ4_0AVX2Rowsloop
	HSUM8ROW
	ADDQ R10, R9
	DECQ R11
	JNZ dotQ4_0AVX2Rowsrow
	VZEROUPPER
	RET

#define Q8GBLK(acc) \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPBROADCASTD 2(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 0(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y0, Y0 \
	VPBROADCASTD 6(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 32(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y1, Y1 \
	VPBROADCASTD 10(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 64(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y0, Y0 \
	VPBROADCASTD 14(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 96(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y1, Y1 \
	VPBROADCASTD 18(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 128(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y0, Y0 \
	VPBROADCASTD 22(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 160(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y1, Y1 \
	VPBROADCASTD 26(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 192(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y0, Y0 \
	VPBROADCASTD 30(SI), Y2 \
	VPABSB Y2, Y3 \
	VMOVDQU 224(DI), Y4 \
	VPSIGNB Y2, Y4, Y4 \
	VPMADDUBSW Y4, Y3, Y4 \
	VPMADDWD Y7, Y4, Y4 \
	VPADDD Y4, Y1, Y1 \
	VPADDD Y1, Y0, Y0 \
	GROUPSTEP(acc) \
	ADDQ $34, SI \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, R8

#define Q4GBLK(acc) \
	VPXOR Y0, Y0, Y0 \
	VPXOR Y1, Y1, Y1 \
	VPBROADCASTD 2(SI), Y2 \
	VPAND Y6, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y6, Y2, Y2 \
	VPMADDUBSW 0(DI), Y3, Y3 \
	VPMADDWD Y7, Y3, Y3 \
	VPADDD Y3, Y0, Y0 \
	VPMADDUBSW 128(DI), Y2, Y2 \
	VPMADDWD Y7, Y2, Y2 \
	VPADDD Y2, Y1, Y1 \
	VPBROADCASTD 6(SI), Y2 \
	VPAND Y6, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y6, Y2, Y2 \
	VPMADDUBSW 32(DI), Y3, Y3 \
	VPMADDWD Y7, Y3, Y3 \
	VPADDD Y3, Y0, Y0 \
	VPMADDUBSW 160(DI), Y2, Y2 \
	VPMADDWD Y7, Y2, Y2 \
	VPADDD Y2, Y1, Y1 \
	VPBROADCASTD 10(SI), Y2 \
	VPAND Y6, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y6, Y2, Y2 \
	VPMADDUBSW 64(DI), Y3, Y3 \
	VPMADDWD Y7, Y3, Y3 \
	VPADDD Y3, Y0, Y0 \
	VPMADDUBSW 192(DI), Y2, Y2 \
	VPMADDWD Y7, Y2, Y2 \
	VPADDD Y2, Y1, Y1 \
	VPBROADCASTD 14(SI), Y2 \
	VPAND Y6, Y2, Y3 \
	VPSRLW $4, Y2, Y2 \
	VPAND Y6, Y2, Y2 \
	VPMADDUBSW 96(DI), Y3, Y3 \
	VPMADDWD Y7, Y3, Y3 \
	VPADDD Y3, Y0, Y0 \
	VPMADDUBSW 224(DI), Y2, Y2 \
	VPMADDWD Y7, Y2, Y2 \
	VPADDD Y2, Y1, Y1 \
	VPADDD Y1, Y0, Y0 \
	VMOVDQU (R8), Y2 \
	VPSLLD $3, Y2, Y2 \
	VPSUBD Y2, Y0, Y0 \
	GROUPSTEP(acc) \
	ADDQ $18, SI \
	ADDQ $256, DI \
	ADDQ $32, DX \
	ADDQ $32, R8

// func dotQ8_0x8AVX2(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)
// ysum is not used.
TEXT ·dotQ8_0x8AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ t+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x00010001, AX
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

dotQ8_0x8AVX2loop:
	Q8GBLK(Y8)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y9)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y10)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y11)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y12)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y13)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y14)
	DECQ CX
	JZ dotQ8_0x8AVX2done
	Q8GBLK(Y15)
	DECQ CX
	JNZ dotQ8_0x8AVX2loop

dotQ8_0x8AVX2done:
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

// func dotQ4_0x8AVX2(w *byte, t *int8, d *float32, ysum *int32, nb int, acc *[64]float32, res *[8]float32)
// Unsigned nibbles; 8*sum(y) is subtracted.
TEXT ·dotQ4_0x8AVX2(SB), NOSPLIT, $0-56
	MOVQ w+0(FP), SI
	MOVQ t+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ nb+32(FP), CX
	MOVQ acc+40(FP), BX
	MOVL $0x00010001, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6
	VMOVUPS 0(BX), Y8
	VMOVUPS 32(BX), Y9
	VMOVUPS 64(BX), Y10
	VMOVUPS 96(BX), Y11
	VMOVUPS 128(BX), Y12
	VMOVUPS 160(BX), Y13
	VMOVUPS 192(BX), Y14
	VMOVUPS 224(BX), Y15

dotQ4_0x8AVX2loop:
	Q4GBLK(Y8)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y9)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y10)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y11)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y12)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y13)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y14)
	DECQ CX
	JZ dotQ4_0x8AVX2done
	Q4GBLK(Y15)
	DECQ CX
	JNZ dotQ4_0x8AVX2loop

dotQ4_0x8AVX2done:
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
