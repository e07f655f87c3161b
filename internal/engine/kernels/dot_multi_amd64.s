#include "textflag.h"
#include "dot_amd64.h"

// Kernels for 2 to 5 activation rows (batched decoding): the weights of
// eight blocks are loaded and unpacked once into registers (Y16..Y23 with
// AVX-512 VNNI, Y4..Y11 with AVX2) and multiplied with every activation
// row; each row's accumulators stay on
// the stack. The arithmetic per row is that of the single-row kernels
// (dot_vnni_amd64.s), so the results are the same bit for bit.
//
// func(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32,
//	dstride, m, ngroups int, out *float32, ostride int)
// For weight row r < nrows (at w+r*rs) and activation row i < m (quants at
// y+i*ystride, scales and sums at d and ysum + i*dstride bytes), stores
// the dot product at out + i*ostride + 4*r bytes.

// MSCALES sets Y15 to the fp16 scales of the eight blocks at SI, SI+o1,
// ..., as float32. Clobbers AX.
#define MSCALES(o1, o2, o3, o4, o5, o6, o7) \
	MOVWLZX (SI), AX \
	VMOVD AX, X15 \
	VPINSRW $1, o1(SI), X15, X15 \
	VPINSRW $2, o2(SI), X15, X15 \
	VPINSRW $3, o3(SI), X15, X15 \
	VPINSRW $4, o4(SI), X15, X15 \
	VPINSRW $5, o5(SI), X15, X15 \
	VPINSRW $6, o6(SI), X15, X15 \
	VPINSRW $7, o7(SI), X15, X15 \
	VCVTPH2PS X15, Y15

// MSCALES14 is MSCALES into Y14.
#define MSCALES14(o1, o2, o3, o4, o5, o6, o7) \
	MOVWLZX (SI), AX \
	VMOVD AX, X14 \
	VPINSRW $1, o1(SI), X14, X14 \
	VPINSRW $2, o2(SI), X14, X14 \
	VPINSRW $3, o3(SI), X14, X14 \
	VPINSRW $4, o4(SI), X14, X14 \
	VPINSRW $5, o5(SI), X14, X14 \
	VPINSRW $6, o6(SI), X14, X14 \
	VPINSRW $7, o7(SI), X14, X14 \
	VCVTPH2PS X14, Y14

// MSTEP14 is MSTEP with the weight scales in Y14.
#define MSTEP14 \
	VCVTDQ2PS Y0, Y0 \
	VMULPS (R12), Y14, Y3 \
	VMULPS Y3, Y0, Y0 \
	VADDPS (R14), Y0, Y0 \
	VMOVUPS Y0, (R14)

// MSTEP scales the eight integer block sums in Y0 of the activation row at
// BX/R12/R13 (quants, scales, sums) by Y15 and that row's scales and adds
// them to its accumulators at (R14).
#define MSTEP \
	VCVTDQ2PS Y0, Y0 \
	VMULPS (R12), Y15, Y3 \
	VMULPS Y3, Y0, Y0 \
	VADDPS (R14), Y0, Y0 \
	VMOVUPS Y0, (R14)

// MNEXT advances BX/R12/R13/R14 to the next activation row and loops to
// label while R15 (rows left) is not zero.
#define MNEXT(label) \
	ADDQ ystride+32(FP), BX \
	ADDQ dstride+56(FP), R12 \
	ADDQ dstride+56(FP), R13 \
	ADDQ $32, R14 \
	DECQ R15 \
	JNZ label

// MROWSTART clears the m accumulators on the stack and points SI, DI, DX,
// R8 and CX at the weight row R9 and the first activation row.
#define MROWSTART \
	VXORPS Y0, Y0, Y0 \
	VMOVUPS Y0, 0(SP) \
	VMOVUPS Y0, 32(SP) \
	VMOVUPS Y0, 64(SP) \
	VMOVUPS Y0, 96(SP) \
	VMOVUPS Y0, 128(SP) \
	MOVQ R9, SI \
	MOVQ y+24(FP), DI \
	MOVQ d+40(FP), DX \
	MOVQ ysum+48(FP), R8 \
	MOVQ ngroups+72(FP), CX

// MGROUPSTART points BX/R12/R13/R14 at the current eight blocks of the
// first activation row and R15 at m.
#define MGROUPSTART \
	MOVQ DI, BX \
	MOVQ DX, R12 \
	MOVQ R8, R13 \
	LEAQ 0(SP), R14 \
	MOVQ m+64(FP), R15

// func dotQ4_0VNNIMulti(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)
// y is in acts.pairQ4's layout.
TEXT ·dotQ4_0VNNIMulti(SB), NOSPLIT, $160-96
	MOVQ w+0(FP), R9
	MOVQ rs+8(FP), R10
	MOVQ nrows+16(FP), R11
	MOVL $0x0f0f0f0f, AX
	VPBROADCASTD AX, Y13

q4row:
	MROWSTART

q4group:
	VMOVDQU32 2(SI), X16
	VINSERTI32X4 $1, 74(SI), Y16, Y16
	VPSRLW $4, Y16, Y17
	VPANDD Y13, Y16, Y16
	VPANDD Y13, Y17, Y17
	VMOVDQU32 20(SI), X18
	VINSERTI32X4 $1, 92(SI), Y18, Y18
	VPSRLW $4, Y18, Y19
	VPANDD Y13, Y18, Y18
	VPANDD Y13, Y19, Y19
	VMOVDQU32 38(SI), X20
	VINSERTI32X4 $1, 110(SI), Y20, Y20
	VPSRLW $4, Y20, Y21
	VPANDD Y13, Y20, Y20
	VPANDD Y13, Y21, Y21
	VMOVDQU32 56(SI), X22
	VINSERTI32X4 $1, 128(SI), Y22, Y22
	VPSRLW $4, Y22, Y23
	VPANDD Y13, Y22, Y22
	VPANDD Y13, Y23, Y23
	MSCALES(18, 36, 54, 72, 90, 108, 126)
	MGROUPSTART

q4act:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPDPBUSD 0(BX), Y16, Y0
	VPDPBUSD 32(BX), Y17, Y0
	VPDPBUSD 64(BX), Y18, Y1
	VPDPBUSD 96(BX), Y19, Y1
	VPDPBUSD 128(BX), Y20, Y2
	VPDPBUSD 160(BX), Y21, Y2
	VPDPBUSD 192(BX), Y22, Y3
	VPDPBUSD 224(BX), Y23, Y3
	REDUCEPAIRS
	CORRECTAT(R13, 3)
	MSTEP
	MNEXT(q4act)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q4group
	// Store the sums of the m accumulators (in hsum8's order) at out,
	// out+ostride, ...
	MOVQ out+80(FP), AX
	LEAQ 0(SP), R14
	MOVQ m+64(FP), R15

q4fin:
	VMOVUPS (R14), X0
	VMOVUPS 16(R14), X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (AX)
	ADDQ ostride+88(FP), AX
	ADDQ $32, R14
	DECQ R15
	JNZ q4fin
	ADDQ $4, out+80(FP)
	ADDQ R10, R9
	DECQ R11
	JNZ q4row
	VZEROUPPER
	RET

// func dotQ8_0VNNIMulti(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)
TEXT ·dotQ8_0VNNIMulti(SB), NOSPLIT, $160-96
	MOVQ w+0(FP), R9
	MOVQ rs+8(FP), R10
	MOVQ nrows+16(FP), R11
	MOVL $0x80808080, AX
	VPBROADCASTD AX, Y13

q8row:
	MROWSTART

q8group:
	VPXORD 2(SI), Y13, Y16
	VPXORD 36(SI), Y13, Y17
	VPXORD 70(SI), Y13, Y18
	VPXORD 104(SI), Y13, Y19
	VPXORD 138(SI), Y13, Y20
	VPXORD 172(SI), Y13, Y21
	VPXORD 206(SI), Y13, Y22
	VPXORD 240(SI), Y13, Y23
	MSCALES(34, 68, 102, 136, 170, 204, 238)
	MGROUPSTART

q8act:
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPXOR Y2, Y2, Y2
	VPXOR Y3, Y3, Y3
	VPXOR Y4, Y4, Y4
	VPXOR Y5, Y5, Y5
	VPXOR Y6, Y6, Y6
	VPXOR Y7, Y7, Y7
	VPDPBUSD 0(BX), Y16, Y0
	VPDPBUSD 32(BX), Y17, Y1
	VPDPBUSD 64(BX), Y18, Y2
	VPDPBUSD 96(BX), Y19, Y3
	VPDPBUSD 128(BX), Y20, Y4
	VPDPBUSD 160(BX), Y21, Y5
	VPDPBUSD 192(BX), Y22, Y6
	VPDPBUSD 224(BX), Y23, Y7
	REDUCE8
	CORRECTAT(R13, 7)
	MSTEP
	MNEXT(q8act)
	ADDQ $272, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q8group
	// Store the sums of the m accumulators (in hsum8's order) at out,
	// out+ostride, ...
	MOVQ out+80(FP), AX
	LEAQ 0(SP), R14
	MOVQ m+64(FP), R15

q8fin:
	VMOVUPS (R14), X0
	VMOVUPS 16(R14), X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (AX)
	ADDQ ostride+88(FP), AX
	ADDQ $32, R14
	DECQ R15
	JNZ q8fin
	ADDQ $4, out+80(FP)
	ADDQ R10, R9
	DECQ R11
	JNZ q8row
	VZEROUPPER
	RET

// Q4UNPACK loads the quants of blocks p (at wo1(SI)) and p+4 (wo2(SI))
// into one register and splits them into low (lo) and high (hi) nibbles.
#define Q4UNPACK(wo1, wo2, lo, hi) \
	VMOVDQU wo1(SI), X12 \
	VINSERTI128 $1, wo2(SI), Y12, Y12 \
	VPSRLW $4, Y12, hi \
	VPAND Y13, Y12, lo \
	VPAND Y13, hi, hi

// Q4PAIRM sets r to the partial sums of a pair of blocks of the activation
// row at BX (paired layout at yo) with the unpacked weights lo and hi; the
// two VPMADDUBSW results are added as int16 (each at most 2*15*127).
#define Q4PAIRM(yo, yo2, lo, hi, r) \
	VPMADDUBSW yo(BX), lo, r \
	VPMADDUBSW yo2(BX), hi, Y12 \
	VPADDW Y12, r, r \
	VPMADDWD Y15, r, r

// func dotQ4_0AVX2Multi(w *byte, rs, nrows int, y *int8, ystride int, d *float32, ysum *int32, dstride, m, ngroups int, out *float32, ostride int)
// y is in acts.pairQ4's layout.
TEXT ·dotQ4_0AVX2Multi(SB), NOSPLIT, $160-96
	MOVQ w+0(FP), R9
	MOVQ rs+8(FP), R10
	MOVQ nrows+16(FP), R11
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x00010001, AX
	VMOVD AX, X15
	VPBROADCASTD X15, Y15

a4row:
	MROWSTART

a4group:
	Q4UNPACK(2, 74, Y4, Y5)
	Q4UNPACK(20, 92, Y6, Y7)
	Q4UNPACK(38, 110, Y8, Y9)
	Q4UNPACK(56, 128, Y10, Y11)
	MSCALES14(18, 36, 54, 72, 90, 108, 126)
	MGROUPSTART

a4act:
	Q4PAIRM(0, 32, Y4, Y5, Y0)
	Q4PAIRM(64, 96, Y6, Y7, Y1)
	Q4PAIRM(128, 160, Y8, Y9, Y2)
	Q4PAIRM(192, 224, Y10, Y11, Y3)
	REDUCEPAIRS
	CORRECTAT(R13, 3)
	MSTEP14
	MNEXT(a4act)
	ADDQ $144, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ a4group
	// Store the sums of the m accumulators (in hsum8's order) at out,
	// out+ostride, ...
	MOVQ out+80(FP), AX
	LEAQ 0(SP), R14
	MOVQ m+64(FP), R15

a4fin:
	VMOVUPS (R14), X0
	VMOVUPS 16(R14), X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, (AX)
	ADDQ ostride+88(FP), AX
	ADDQ $32, R14
	DECQ R15
	JNZ a4fin
	ADDQ $4, out+80(FP)
	ADDQ R10, R9
	DECQ R11
	JNZ a4row
	VZEROUPPER
	RET
