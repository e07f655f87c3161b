#include "textflag.h"

// The K-quant kernels of prompt batches (AVX-512 VNNI): two weight rows,
// unpacked once per call (kwideBlock bytes a 256-element block), over
// sixteen activation rows in ggml's Q8_K, transposed as acts.wide (quants
// plus 128; the 64 bytes at 512*c+64*k hold quants 4k..4k+3 of 32-block c
// of the sixteen rows). Per row and block they form exactly the integers
// of dotQ4_KRow (also for Q5_K) and dotQ6_KRow, then their float steps,
// lane by lane (lane = activation row), so results are bit-identical.
//
// Unpacked Q4_K/Q5_K block: the 256 quants as bytes, sub-block by
// sub-block; the eight scales (+256) and eight mins (+288) as int32; d
// (+320) and dmin (+324) as float32; 128 times the sum over sub-blocks of
// scale times quant sum (+328), as int32. Unpacked Q6_K block: the quants
// less 32 as signed bytes; the sixteen scales (+256) as int32; d (+320);
// the same offset term (+324).
//
// Registers: SI row A's unpacked block (row B at SI+R10), DI the
// activations, DX their scales, R8 their sub-block sums (Q4_K), Z16/Z17
// the rows' accumulators, Z12..Z15 a block's integer sums.

// KWDOT adds dword k of a 32-element run at q of both rows, times
// activation dword k of 32-block c, to ra (row A) and rb (row B).
#define KWDOT(c, k, q, ra, rb) \
	VMOVDQU64 (512*c+64*k)(DI), Z0 \
	VPDPBUSD.BCST (q+4*k)(SI), Z0, ra \
	VPDPBUSD.BCST (q+4*k)(SI)(R10*1), Z0, rb

// KWZERO clears the partial sums Z8..Z11.
#define KWZERO \
	VPXORD Z8, Z8, Z8 \
	VPXORD Z9, Z9, Z9 \
	VPXORD Z10, Z10, Z10 \
	VPXORD Z11, Z11, Z11

// KWSCALE adds the partial sums of one run (ra, rb) times the int32 scales
// at sc(SI) and sc(SI)(R10) to Z12 and Z13.
#define KWSCALE(sc, ra, rb) \
	VPMULLD.BCST sc(SI), ra, ra \
	VPADDD ra, Z12, Z12 \
	VPMULLD.BCST sc(SI)(R10*1), rb, rb \
	VPADDD rb, Z13, Z13

// K4WSUB runs sub-block j of a Q4_K/Q5_K block: its 32 quants (two chains
// of partial sums), times its scale; and the activations' sum of it times
// its min, into Z14 and Z15.
#define K4WSUB(j) \
	KWZERO \
	KWDOT(j, 0, 32*j, Z8, Z10) \
	KWDOT(j, 1, 32*j, Z9, Z11) \
	KWDOT(j, 2, 32*j, Z8, Z10) \
	KWDOT(j, 3, 32*j, Z9, Z11) \
	KWDOT(j, 4, 32*j, Z8, Z10) \
	KWDOT(j, 5, 32*j, Z9, Z11) \
	KWDOT(j, 6, 32*j, Z8, Z10) \
	KWDOT(j, 7, 32*j, Z9, Z11) \
	VPADDD Z9, Z8, Z8 \
	VPADDD Z11, Z10, Z10 \
	KWSCALE(256+4*j, Z8, Z10) \
	VMOVDQU64 (64*j)(R8), Z1 \
	VPMULLD.BCST (288+4*j)(SI), Z1, Z2 \
	VPADDD Z2, Z14, Z14 \
	VPMULLD.BCST (288+4*j)(SI)(R10*1), Z1, Z3 \
	VPADDD Z3, Z15, Z15

// Q6WRUN runs 32-block c of a Q6_K block: its two 16-element groups, each
// times its scale.
#define Q6WRUN(c) \
	KWZERO \
	KWDOT(c, 0, 32*c, Z8, Z10) \
	KWDOT(c, 1, 32*c, Z8, Z10) \
	KWDOT(c, 2, 32*c, Z8, Z10) \
	KWDOT(c, 3, 32*c, Z8, Z10) \
	KWDOT(c, 4, 32*c, Z9, Z11) \
	KWDOT(c, 5, 32*c, Z9, Z11) \
	KWDOT(c, 6, 32*c, Z9, Z11) \
	KWDOT(c, 7, 32*c, Z9, Z11) \
	KWSCALE(256+8*c, Z8, Z10) \
	KWSCALE(260+8*c, Z9, Z11)

// KWSETUP loads the arguments the two kernels share.
#define KWSETUP \
	MOVQ u+0(FP), SI \
	MOVQ ustride+8(FP), R10 \
	MOVQ t+16(FP), DI \
	MOVQ d+24(FP), DX

// KWFINISH stores the accumulators, B first: when the two rows are one,
// A's values are the same.
#define KWFINISH \
	VMOVUPS Z17, (R11) \
	VMOVUPS Z16, (BX) \
	VZEROUPPER

// SUM32 stores at off(DI) the sum of the 32 bytes of r (its unsigned
// quants) as int32. Clobbers Y3, X4.
#define SUM32(r, off) \
	VPSADBW Y14, r, Y3 \
	VEXTRACTI128 $1, Y3, X4 \
	VPADDQ X4, X3, X3 \
	VPSHUFD $0x4e, X3, X4 \
	VPADDQ X4, X3, X3 \
	VMOVD X3, off(DI)

// SUM16x2 stores at off(DI) and off+4(DI) the sums of the two 16-byte
// halves of r as int32. Clobbers Y7, Y8.
#define SUM16x2(r, off) \
	VPSADBW Y14, r, Y7 \
	VPSHUFD $0x4e, Y7, Y8 \
	VPADDQ Y8, Y7, Y7 \
	VMOVD X7, off(DI) \
	VEXTRACTI128 $1, Y7, X8 \
	VMOVD X8, (off+4)(DI)

// UNPACKSETUP loads the arguments of an unpacking function (w, nb, u),
// the nibble mask in Y15 and zero in Y14.
#define UNPACKSETUP \
	MOVQ w+0(FP), SI \
	MOVQ nb+8(FP), CX \
	MOVQ u+16(FP), DI \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X15 \
	VPBROADCASTD X15, Y15 \
	VPXOR Y14, Y14, Y14

// Q4UNPACK32 unpacks the 32 bytes of nibbles at q(SI) into sub-blocks 2i
// (low nibbles) and 2i+1 (high) at 64i(DI), with their sums.
#define Q4UNPACK32(q, i) \
	VMOVDQU q(SI), Y0 \
	VPAND Y15, Y0, Y1 \
	VPSRLW $4, Y0, Y2 \
	VPAND Y15, Y2, Y2 \
	VMOVDQU Y1, (64*i)(DI) \
	VMOVDQU Y2, (64*i+32)(DI) \
	SUM32(Y1, 256+8*i) \
	SUM32(Y2, 260+8*i)

// Q5UNPACK32 is Q4UNPACK32 for Q5_K: hlo and hhi put the fifth bits of
// sub-blocks 2i and 2i+1 in Y6.
#define Q5UNPACK32(q, i, hlo, hhi) \
	VMOVDQU q(SI), Y0 \
	VPAND Y15, Y0, Y1 \
	hlo \
	VPOR Y6, Y1, Y1 \
	VPSRLW $4, Y0, Y2 \
	VPAND Y15, Y2, Y2 \
	hhi \
	VPOR Y6, Y2, Y2 \
	VMOVDQU Y1, (64*i)(DI) \
	VMOVDQU Y2, (64*i+32)(DI) \
	SUM32(Y1, 256+8*i) \
	SUM32(Y2, 260+8*i)

// QH5_0..QH5_7 set Y6 to bit j of each qh byte (Y5), moved to bit 4 (Y13
// holds 0x10 bytes): the fifth bits of Q5_K sub-block j.
#define QH5_0 VPSLLW $4, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_1 VPSLLW $3, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_2 VPSLLW $2, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_3 VPSLLW $1, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_4 VPAND Y13, Y5, Y6
#define QH5_5 VPSRLW $1, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_6 VPSRLW $2, Y5, Y6 \
	VPAND Y13, Y6, Y6
#define QH5_7 VPSRLW $3, Y5, Y6 \
	VPAND Y13, Y6, Y6

// Q6STORE stores the 32 quants in Y3 (0..63) less 32 at off(DI), after
// the sums of its two 16-element groups at 256+4g(DI).
#define Q6STORE(off, g) \
	SUM16x2(Y3, 256+4*(g)) \
	VPSUBB Y12, Y3, Y3 \
	VMOVDQU Y3, off(DI)

// Q6HALF unpacks half n of a Q6_K block (128 quants: low bits at
// 64n(SI), high bits at 128+32n(SI)) to 128n(DI).
#define Q6HALF(n) \
	VMOVDQU (64*n)(SI), Y0 \
	VMOVDQU (64*n+32)(SI), Y1 \
	VMOVDQU (128+32*n)(SI), Y2 \
	VPAND Y15, Y0, Y3 \
	VPSLLW $4, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6STORE(128*n, 8*n) \
	VPAND Y15, Y1, Y3 \
	VPSLLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6STORE(128*n+32, 8*n+2) \
	VPSRLW $4, Y0, Y3 \
	VPAND Y15, Y3, Y3 \
	VPAND Y13, Y2, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6STORE(128*n+64, 8*n+4) \
	VPSRLW $4, Y1, Y3 \
	VPAND Y15, Y3, Y3 \
	VPSRLW $2, Y2, Y4 \
	VPAND Y13, Y4, Y4 \
	VPOR Y4, Y3, Y3 \
	Q6STORE(128*n+96, 8*n+6)

// func dotQ4_Kx16x2VNNI(u *byte, ustride int, t *int8, d *float32, ys *int32, nb int, accA, accB *[16]float32, first bool)
// Serves Q4_K and Q5_K (unpackQ4K, unpackQ5K). ys holds the activations'
// sub-block sums (acts.tys).
TEXT ·dotQ4_Kx16x2VNNI(SB), NOSPLIT, $0-65
	KWSETUP
	MOVQ ys+32(FP), R8
	MOVQ nb+40(FP), CX
	MOVQ accA+48(FP), BX
	MOVQ accB+56(FP), R11
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	MOVBLZX first+64(FP), AX
	TESTL AX, AX
	JNZ dotQ4_Kx16x2loop
	VMOVUPS (BX), Z16
	VMOVUPS (R11), Z17

dotQ4_Kx16x2loop:
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	VPXORD Z14, Z14, Z14
	VPXORD Z15, Z15, Z15
	K4WSUB(0)
	K4WSUB(1)
	K4WSUB(2)
	K4WSUB(3)
	K4WSUB(4)
	K4WSUB(5)
	K4WSUB(6)
	K4WSUB(7)
	// sums (Z12, Z13) less the activations' offset; msum in Z14, Z15.
	VPSUBD.BCST 328(SI), Z12, Z12
	VPSUBD.BCST 328(SI)(R10*1), Z13, Z13
	VCVTDQ2PS Z12, Z12
	VCVTDQ2PS Z13, Z13
	VCVTDQ2PS Z14, Z14
	VCVTDQ2PS Z15, Z15
	VMOVUPS (DX), Z4
	// acc += float32(d*dy*sums) - float32(dmin*dy*msum), row A then B.
	VMULPS.BCST 320(SI), Z4, Z5
	VMULPS Z12, Z5, Z5
	VMULPS.BCST 324(SI), Z4, Z6
	VMULPS Z14, Z6, Z6
	VSUBPS Z6, Z5, Z5
	VADDPS Z5, Z16, Z16
	VMULPS.BCST 320(SI)(R10*1), Z4, Z5
	VMULPS Z13, Z5, Z5
	VMULPS.BCST 324(SI)(R10*1), Z4, Z6
	VMULPS Z15, Z6, Z6
	VSUBPS Z6, Z5, Z5
	VADDPS Z5, Z17, Z17
	ADDQ $336, SI
	ADDQ $4096, DI
	ADDQ $64, DX
	ADDQ $512, R8
	DECQ CX
	JNZ dotQ4_Kx16x2loop
	KWFINISH
	RET

// func dotQ6_Kx16x2VNNI(u *byte, ustride int, t *int8, d *float32, nb int, accA, accB *[16]float32, first bool)
// The Q6_K kernel (unpackQ6K).
TEXT ·dotQ6_Kx16x2VNNI(SB), NOSPLIT, $0-57
	KWSETUP
	MOVQ nb+32(FP), CX
	MOVQ accA+40(FP), BX
	MOVQ accB+48(FP), R11
	VPXORD Z16, Z16, Z16
	VPXORD Z17, Z17, Z17
	MOVBLZX first+56(FP), AX
	TESTL AX, AX
	JNZ dotQ6_Kx16x2loop
	VMOVUPS (BX), Z16
	VMOVUPS (R11), Z17

dotQ6_Kx16x2loop:
	VPXORD Z12, Z12, Z12
	VPXORD Z13, Z13, Z13
	Q6WRUN(0)
	Q6WRUN(1)
	Q6WRUN(2)
	Q6WRUN(3)
	Q6WRUN(4)
	Q6WRUN(5)
	Q6WRUN(6)
	Q6WRUN(7)
	// acc += float32(d*dy*float32(sums)), the activations' offset taken
	// off sums.
	VPSUBD.BCST 324(SI), Z12, Z12
	VPSUBD.BCST 324(SI)(R10*1), Z13, Z13
	VCVTDQ2PS Z12, Z12
	VCVTDQ2PS Z13, Z13
	VMOVUPS (DX), Z4
	VMULPS.BCST 320(SI), Z4, Z5
	VMULPS Z12, Z5, Z5
	VADDPS Z5, Z16, Z16
	VMULPS.BCST 320(SI)(R10*1), Z4, Z6
	VMULPS Z13, Z6, Z6
	VADDPS Z6, Z17, Z17
	ADDQ $336, SI
	ADDQ $4096, DI
	ADDQ $64, DX
	DECQ CX
	JNZ dotQ6_Kx16x2loop
	KWFINISH
	RET

// func unpackQ4KQuants(w *byte, nb int, u *byte)
// For each of nb Q4_K blocks at w (144 bytes), writes the 256 quants as
// bytes, sub-block by sub-block, at u (kwideBlock bytes a block), and the
// sums of the eight sub-blocks' quants as int32 at u+256 (unpackQ4K then
// replaces them with the scales).
TEXT ·unpackQ4KQuants(SB), NOSPLIT, $0-24
	UNPACKSETUP

unpackQ4KQuantsloop:
	Q4UNPACK32(16, 0)
	Q4UNPACK32(48, 1)
	Q4UNPACK32(80, 2)
	Q4UNPACK32(112, 3)
	ADDQ $144, SI
	ADDQ $336, DI
	DECQ CX
	JNZ unpackQ4KQuantsloop
	VZEROUPPER
	RET

// func unpackQ5KQuants(w *byte, nb int, u *byte)
// unpackQ4KQuants for Q5_K blocks (176 bytes): each quant's fifth bit,
// bit j of its qh byte for sub-block j, joins its nibble.
TEXT ·unpackQ5KQuants(SB), NOSPLIT, $0-24
	UNPACKSETUP
	MOVL $0x10101010, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13

unpackQ5KQuantsloop:
	VMOVDQU 16(SI), Y5
	Q5UNPACK32(48, 0, QH5_0, QH5_1)
	Q5UNPACK32(80, 1, QH5_2, QH5_3)
	Q5UNPACK32(112, 2, QH5_4, QH5_5)
	Q5UNPACK32(144, 3, QH5_6, QH5_7)
	ADDQ $176, SI
	ADDQ $336, DI
	DECQ CX
	JNZ unpackQ5KQuantsloop
	VZEROUPPER
	RET

// func unpackQ6KQuants(w *byte, nb int, u *byte)
// For each of nb Q6_K blocks at w (210 bytes), writes the 256 quants less
// 32 as signed bytes in element order at u (kwideBlock bytes a block),
// and the sums of the sixteen 16-element groups' quants (0..63, before
// the 32 is taken off) as int32 at u+256 (unpackQ6K then replaces them
// with the scales).
TEXT ·unpackQ6KQuants(SB), NOSPLIT, $0-24
	UNPACKSETUP
	MOVL $0x30303030, AX
	VMOVD AX, X13
	VPBROADCASTD X13, Y13
	MOVL $0x20202020, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12

unpackQ6KQuantsloop:
	Q6HALF(0)
	Q6HALF(1)
	ADDQ $210, SI
	ADDQ $336, DI
	DECQ CX
	JNZ unpackQ6KQuantsloop
	VZEROUPPER
	RET
