#include "textflag.h"
#include "dot_amd64.h"

// The Q5_0 row kernel (AVX2), bit-identical to dotQ5_0Row: eight blocks
// at a time, each block's exact integer sum (quants 0..31 by VPMADDUBSW,
// less 16 times the activations' sum) reduced into a lane of one vector,
// the float steps of the eight blocks in that vector, and their terms
// added to the row's sum in block order.

// q5bytes picks, for byte e of each 128-bit lane, byte e/8 (+2 in the
// high lane) of a broadcast dword: the byte of qh holding bit e.
DATA q5bytes<>+0(SB)/8, $0x0000000000000000
DATA q5bytes<>+8(SB)/8, $0x0101010101010101
DATA q5bytes<>+16(SB)/8, $0x0202020202020202
DATA q5bytes<>+24(SB)/8, $0x0303030303030303
GLOBL q5bytes<>(SB), RODATA|NOPTR, $32

DATA q5bits<>+0(SB)/8, $0x8040201008040201
DATA q5bits<>+8(SB)/8, $0x8040201008040201
DATA q5bits<>+16(SB)/8, $0x8040201008040201
DATA q5bits<>+24(SB)/8, $0x8040201008040201
GLOBL q5bits<>(SB), RODATA|NOPTR, $32

DATA q5x10<>+0(SB)/8, $0x1010101010101010
DATA q5x10<>+8(SB)/8, $0x1010101010101010
DATA q5x10<>+16(SB)/8, $0x1010101010101010
DATA q5x10<>+24(SB)/8, $0x1010101010101010
GLOBL q5x10<>(SB), RODATA|NOPTR, $32

DATA q5ones<>+0(SB)/8, $0x0001000100010001
DATA q5ones<>+8(SB)/8, $0x0001000100010001
DATA q5ones<>+16(SB)/8, $0x0001000100010001
DATA q5ones<>+24(SB)/8, $0x0001000100010001
GLOBL q5ones<>(SB), RODATA|NOPTR, $32

// Q5_0BLK sets r's lanes to partial sums of block b of the group (at
// 22*b(SI)): its quants (nibble and fifth bit, 0..31) by the activations
// at 32*b(DI), by VPMADDUBSW and pairs of those by VPMADDWD.
#define Q5_0BLK(b, r) \
	VMOVDQU (22*b+6)(SI), X8 \
	VPSRLW $4, X8, X9 \
	VINSERTI128 $1, X9, Y8, Y8 \
	VPAND Y12, Y8, Y8 \
	VPBROADCASTD (22*b+2)(SI), Y10 \
	VPSHUFB Y14, Y10, Y10 \
	VPAND Y13, Y10, Y10 \
	VPCMPEQB Y13, Y10, Y10 \
	VPAND q5x10<>(SB), Y10, Y10 \
	VPOR Y10, Y8, Y8 \
	VPMADDUBSW (32*b)(DI), Y8, Y8 \
	VPMADDWD q5ones<>(SB), Y8, r

// func dotQ5_0AVX2(w *byte, y *int8, d *float32, ysum *int32, ngroups int, acc0 float32) float32
TEXT ·dotQ5_0AVX2(SB), NOSPLIT, $0-52
	MOVQ w+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ d+16(FP), DX
	MOVQ ysum+24(FP), R8
	MOVQ ngroups+32(FP), CX
	VMOVSS acc0+40(FP), X15
	MOVL $0x0f0f0f0f, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12
	VMOVDQU q5bits<>(SB), Y13
	VMOVDQU q5bytes<>(SB), Y14

q5_0loop:
	Q5_0BLK(0, Y0)
	Q5_0BLK(1, Y1)
	Q5_0BLK(2, Y2)
	Q5_0BLK(3, Y3)
	Q5_0BLK(4, Y4)
	Q5_0BLK(5, Y5)
	Q5_0BLK(6, Y6)
	Q5_0BLK(7, Y7)
	// Each block's sum into lane b of Y0, less 16 times the activations'.
	REDUCE8
	CORRECT(4)
	// d of the eight blocks (fp16 at stride 22) as float32 lanes.
	MOVWLZX 0(SI), AX
	VMOVD AX, X3
	VPINSRW $1, 22(SI), X3, X3
	VPINSRW $2, 44(SI), X3, X3
	VPINSRW $3, 66(SI), X3, X3
	VPINSRW $4, 88(SI), X3, X3
	VPINSRW $5, 110(SI), X3, X3
	VPINSRW $6, 132(SI), X3, X3
	VPINSRW $7, 154(SI), X3, X3
	VCVTPH2PS X3, Y3
	VMULPS (DX), Y3, Y3
	VCVTDQ2PS Y0, Y0
	VMULPS Y0, Y3, Y3
	// acc += term, block by block.
	VADDSS X3, X15, X15
	VMOVSHDUP X3, X1
	VADDSS X1, X15, X15
	VMOVHLPS X3, X3, X1
	VADDSS X1, X15, X15
	VPSHUFD $3, X3, X1
	VADDSS X1, X15, X15
	VEXTRACTF128 $1, Y3, X3
	VADDSS X3, X15, X15
	VMOVSHDUP X3, X1
	VADDSS X1, X15, X15
	VMOVHLPS X3, X3, X1
	VADDSS X1, X15, X15
	VPSHUFD $3, X3, X1
	VADDSS X1, X15, X15
	ADDQ $176, SI
	ADDQ $256, DI
	ADDQ $32, DX
	ADDQ $32, R8
	DECQ CX
	JNZ q5_0loop
	VMOVSS X15, ret+48(FP)
	VZEROUPPER
	RET
