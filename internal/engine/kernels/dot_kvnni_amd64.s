#include "textflag.h"

// The Q4_K and Q5_K rows kernels of decoding (AVX-512 VNNI): each weight
// row against one Q8_K activation row, eight 256-element blocks at a time.
// For each block the sub-blocks' integer sums come from VPDPBUSD, are
// reduced to a vector of eight, and multiplied by the scales (and the
// activations' sub-block sums by the mins); the eight blocks' sums are then
// reduced into one vector (lane = block), the float steps of dotQ4_KRow
// (dotQ5_KRow) run lane by lane, and the blocks' terms join the row's
// accumulator in block order, so results are bit-identical to the row
// kernels.
//
// Registers: Y15 nibble mask, Y14 int16 ones, Y4/Y5 a block's scales and
// mins, Y6..Y13 its sub-blocks' partial sums, Y16+b and Y24+b block b's
// scaled sums and min terms, Y3 a Q5_K block's fifth bits.

DATA k4ones<>+0(SB)/8, $0x0001000100010001
DATA k4ones<>+8(SB)/8, $0x0001000100010001
DATA k4ones<>+16(SB)/8, $0x0001000100010001
DATA k4ones<>+24(SB)/8, $0x0001000100010001
GLOBL k4ones<>(SB), RODATA|NOPTR, $32

DATA k5bit<>+0(SB)/8, $0x1010101010101010
DATA k5bit<>+8(SB)/8, $0x1010101010101010
DATA k5bit<>+16(SB)/8, $0x1010101010101010
DATA k5bit<>+24(SB)/8, $0x1010101010101010
GLOBL k5bit<>(SB), RODATA|NOPTR, $32

// K4SCALES sets the dword lanes of Y4 to the eight 6-bit scales and of Y5
// to the eight mins of the block at o(SI), unpacked as ggml does. Clobbers
// AX, BX, R9..R13.
#define K4SCALES(o) \
	MOVL (o+4)(SI), AX \
	MOVL (o+8)(SI), BX \
	MOVL (o+12)(SI), R9 \
	MOVL AX, R10 \
	ANDL $0x3f3f3f3f, R10 \
	MOVL R9, R11 \
	ANDL $0x0f0f0f0f, R11 \
	MOVL AX, R12 \
	SHRL $6, R12 \
	ANDL $0x03030303, R12 \
	SHLL $4, R12 \
	ORL R12, R11 \
	MOVL BX, R12 \
	ANDL $0x3f3f3f3f, R12 \
	MOVL R9, R13 \
	SHRL $4, R13 \
	ANDL $0x0f0f0f0f, R13 \
	SHRL $6, BX \
	ANDL $0x03030303, BX \
	SHLL $4, BX \
	ORL BX, R13 \
	VMOVD R10, X4 \
	VPINSRD $1, R11, X4, X4 \
	VPMOVZXBD X4, Y4 \
	VMOVD R12, X5 \
	VPINSRD $1, R13, X5, X5 \
	VPMOVZXBD X5, Y5

// QH0..QH7 set Y0 to bit j of each qh byte (Y3), moved to bit 4: the fifth
// bits of Q5_K sub-block j.
#define QH0 VPSLLW $4, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH1 VPSLLW $3, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH2 VPSLLW $2, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH3 VPSLLW $1, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH4 VPAND k5bit<>(SB), Y3, Y0
#define QH5 VPSRLW $1, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH6 VPSRLW $2, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0
#define QH7 VPSRLW $3, Y3, Y0 \
	VPAND k5bit<>(SB), Y0, Y0

// K4PAIR sets plo and phi to the partial sums of the two sub-blocks whose
// nibbles are the 32 bytes at q(SI) (low nibbles: the first, high: the
// second) against their activations at y(DI) and y+32(DI).
#define K4PAIR(q, y, plo, phi) \
	VMOVDQU q(SI), Y1 \
	VPAND Y15, Y1, Y2 \
	VPSRLW $4, Y1, Y1 \
	VPAND Y15, Y1, Y1 \
	VPXOR plo, plo, plo \
	VPDPBUSD y(DI), Y2, plo \
	VPXOR phi, phi, phi \
	VPDPBUSD (y+32)(DI), Y1, phi

// K5PAIR is K4PAIR for Q5_K: hlo and hhi (QHj) add the fifth bits.
#define K5PAIR(q, y, plo, phi, hlo, hhi) \
	VMOVDQU q(SI), Y1 \
	VPAND Y15, Y1, Y2 \
	hlo \
	VPOR Y0, Y2, Y2 \
	VPSRLW $4, Y1, Y1 \
	VPAND Y15, Y1, Y1 \
	hhi \
	VPOR Y0, Y1, Y1 \
	VPXOR plo, plo, plo \
	VPDPBUSD y(DI), Y2, plo \
	VPXOR phi, phi, phi \
	VPDPBUSD (y+32)(DI), Y1, phi

// KBLOCKEND reduces the partial sums in Y6..Y13 to the sub-blocks' sums
// (lane j of Y6), and sets s to them times the scales and m to the
// activations' sub-block sums (from the sixteen int16 sums at bs(R8))
// times the mins.
#define KBLOCKEND(bs, s, m) \
	VPHADDD Y7, Y6, Y6 \
	VPHADDD Y9, Y8, Y8 \
	VPHADDD Y11, Y10, Y10 \
	VPHADDD Y13, Y12, Y12 \
	VPHADDD Y8, Y6, Y6 \
	VPHADDD Y12, Y10, Y10 \
	VPERM2I128 $0x20, Y10, Y6, Y7 \
	VPERM2I128 $0x31, Y10, Y6, Y8 \
	VPADDD Y8, Y7, Y6 \
	VPMULLD Y4, Y6, s \
	VPMADDWD bs(R8), Y14, Y7 \
	VPMULLD Y5, Y7, m

// Q4KBLOCK and Q5KBLOCK run block b of the group (at SI, activations at
// DI, sums at R8) into s and m.
#define Q4KBLOCK(b, s, m) \
	K4SCALES(144*b) \
	K4PAIR(144*b+16, 256*b, Y6, Y7) \
	K4PAIR(144*b+48, 256*b+64, Y8, Y9) \
	K4PAIR(144*b+80, 256*b+128, Y10, Y11) \
	K4PAIR(144*b+112, 256*b+192, Y12, Y13) \
	KBLOCKEND(32*b, s, m)

#define Q5KBLOCK(b, s, m) \
	VMOVDQU (176*b+16)(SI), Y3 \
	K4SCALES(176*b) \
	K5PAIR(176*b+48, 256*b, Y6, Y7, QH0, QH1) \
	K5PAIR(176*b+80, 256*b+64, Y8, Y9, QH2, QH3) \
	K5PAIR(176*b+112, 256*b+128, Y10, Y11, QH4, QH5) \
	K5PAIR(176*b+144, 256*b+192, Y12, Y13, QH6, QH7) \
	KBLOCKEND(32*b, s, m)

// KSUMLANES sets dst's lanes to the sums of the lanes of r0..r7 (EVEX
// registers welcome: no VPHADDD). Clobbers r0, r2, r4, r6, Y2, Y3.
#define KSUMLANES(r0, r1, r2, r3, r4, r5, r6, r7, dst) \
	VPUNPCKLDQ r1, r0, Y2 \
	VPUNPCKHDQ r1, r0, Y3 \
	VPADDD Y3, Y2, r0 \
	VPUNPCKLDQ r3, r2, Y2 \
	VPUNPCKHDQ r3, r2, Y3 \
	VPADDD Y3, Y2, r2 \
	VPUNPCKLDQ r5, r4, Y2 \
	VPUNPCKHDQ r5, r4, Y3 \
	VPADDD Y3, Y2, r4 \
	VPUNPCKLDQ r7, r6, Y2 \
	VPUNPCKHDQ r7, r6, Y3 \
	VPADDD Y3, Y2, r6 \
	VPUNPCKLQDQ r2, r0, Y2 \
	VPUNPCKHQDQ r2, r0, Y3 \
	VPADDD Y3, Y2, r0 \
	VPUNPCKLQDQ r6, r4, Y2 \
	VPUNPCKHQDQ r6, r4, Y3 \
	VPADDD Y3, Y2, r4 \
	VSHUFI64X2 $0x0, r4, r0, Y2 \
	VSHUFI64X2 $0x3, r4, r0, Y3 \
	VPADDD Y3, Y2, dst

// ADDLANES adds the four lanes of X4 to X0, lane 0 first. Clobbers X1.
#define ADDLANES \
	VADDSS X4, X0, X0 \
	VMOVSHDUP X4, X1 \
	VADDSS X1, X0, X0 \
	VMOVHLPS X4, X4, X1 \
	VADDSS X1, X0, X0 \
	VPSHUFD $3, X4, X1 \
	VADDSS X1, X0, X0

// KGROUPEND finishes a group of eight blocks of bsz bytes at SI: their
// terms float32(d*dy*sums) - float32(dmin*dy*msum) in the lanes of Y4,
// added in block order to the row's sum at outp-16(SP).
#define KGROUPEND(bsz) \
	KSUMLANES(Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23, Y0) \
	KSUMLANES(Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31, Y1) \
	MOVL 0(SI), AX \
	VMOVD AX, X2 \
	MOVL (bsz)(SI), AX \
	VPINSRD $1, AX, X2, X2 \
	MOVL (2*bsz)(SI), AX \
	VPINSRD $2, AX, X2, X2 \
	MOVL (3*bsz)(SI), AX \
	VPINSRD $3, AX, X2, X2 \
	MOVL (4*bsz)(SI), AX \
	VMOVD AX, X3 \
	MOVL (5*bsz)(SI), AX \
	VPINSRD $1, AX, X3, X3 \
	MOVL (6*bsz)(SI), AX \
	VPINSRD $2, AX, X3, X3 \
	MOVL (7*bsz)(SI), AX \
	VPINSRD $3, AX, X3, X3 \
	VINSERTI128 $1, X3, Y2, Y2 \
	VPMOVDW Y2, X4 \
	VPSRLD $16, Y2, Y3 \
	VPMOVDW Y3, X5 \
	VCVTPH2PS X4, Y4 \
	VCVTPH2PS X5, Y5 \
	VMOVUPS (DX), Y6 \
	VCVTDQ2PS Y0, Y0 \
	VCVTDQ2PS Y1, Y1 \
	VMULPS Y6, Y4, Y4 \
	VMULPS Y0, Y4, Y4 \
	VMULPS Y6, Y5, Y5 \
	VMULPS Y1, Y5, Y5 \
	VSUBPS Y5, Y4, Y4 \
	MOVQ outp-16(SP), AX \
	VMOVSS (AX), X0 \
	ADDLANES \
	VEXTRACTF128 $1, Y4, X4 \
	ADDLANES \
	VMOVSS X0, (AX) \
	ADDQ $(8*bsz), SI \
	ADDQ $2048, DI \
	ADDQ $256, R8 \
	ADDQ $32, DX

// KROWSSETUP loads the constants and the row state (frame locals row, the
// current weight row, and outp, its output).
#define KROWSSETUP \
	MOVL $0x0f0f0f0f, AX \
	VMOVD AX, X15 \
	VPBROADCASTD X15, Y15 \
	VMOVDQU k4ones<>(SB), Y14 \
	MOVQ w+0(FP), AX \
	MOVQ AX, row-8(SP) \
	MOVQ out+56(FP), AX \
	MOVQ AX, outp-16(SP)

// KROWSTART points SI, DI, R8, DX, CX at the row and the activations and
// clears the row's sum.
#define KROWSTART \
	MOVQ row-8(SP), SI \
	MOVQ y+24(FP), DI \
	MOVQ bs+32(FP), R8 \
	MOVQ d+40(FP), DX \
	MOVQ ngroups+48(FP), CX \
	MOVQ outp-16(SP), AX \
	MOVL $0, (AX)

// KROWNEXT moves to the next row.
#define KROWNEXT \
	ADDQ $4, outp-16(SP) \
	MOVQ rs+8(FP), AX \
	ADDQ AX, row-8(SP) \
	DECQ nrows+16(FP)

// func dotQ4_KVNNIRows(w *byte, rs, nrows int, y *int8, bs *int16, d *float32, ngroups int, out *float32)
// Sets out[r] to the sum over the first 8*ngroups blocks of weight row r
// (at w+r*rs) for r < nrows.
TEXT ·dotQ4_KVNNIRows(SB), NOSPLIT, $16-64
	KROWSSETUP

q4kvrow:
	KROWSTART

q4kvgroup:
	Q4KBLOCK(0, Y16, Y24)
	Q4KBLOCK(1, Y17, Y25)
	Q4KBLOCK(2, Y18, Y26)
	Q4KBLOCK(3, Y19, Y27)
	Q4KBLOCK(4, Y20, Y28)
	Q4KBLOCK(5, Y21, Y29)
	Q4KBLOCK(6, Y22, Y30)
	Q4KBLOCK(7, Y23, Y31)
	KGROUPEND(144)
	DECQ CX
	JNZ q4kvgroup
	KROWNEXT
	JNZ q4kvrow
	VZEROUPPER
	RET

// func dotQ5_KVNNIRows(w *byte, rs, nrows int, y *int8, bs *int16, d *float32, ngroups int, out *float32)
// dotQ4_KVNNIRows for Q5_K blocks (176 bytes).
TEXT ·dotQ5_KVNNIRows(SB), NOSPLIT, $16-64
	KROWSSETUP

q5kvrow:
	KROWSTART

q5kvgroup:
	Q5KBLOCK(0, Y16, Y24)
	Q5KBLOCK(1, Y17, Y25)
	Q5KBLOCK(2, Y18, Y26)
	Q5KBLOCK(3, Y19, Y27)
	Q5KBLOCK(4, Y20, Y28)
	Q5KBLOCK(5, Y21, Y29)
	Q5KBLOCK(6, Y22, Y30)
	Q5KBLOCK(7, Y23, Y31)
	KGROUPEND(176)
	DECQ CX
	JNZ q5kvgroup
	KROWNEXT
	JNZ q5kvrow
	VZEROUPPER
	RET
