// Macros the 32-element-block kernels share (dot_amd64.s, dot_vnni_amd64.s,
// dot_q5_amd64.s): the arguments and registers of the rows kernels, the
// reductions of partial sums to one lane per block, and the float steps.

// HSUM8ROW stores at BX the sum of Y14's lanes in hsum8's order and
// advances BX.
#define HSUM8ROW \
	VEXTRACTF128 $1, Y14, X1 \
	VADDPS X1, X14, X0 \
	VMOVHLPS X0, X0, X1 \
	VADDPS X1, X0, X0 \
	VMOVSHDUP X0, X1 \
	VADDSS X1, X0, X0 \
	VMOVSS X0, (BX) \
	ADDQ $4, BX

// ROWSSETUP loads the arguments of a rows kernel (func(w *byte, rs,
// nrows int, y *int8, d *float32, ysum *int32, ngroups int, out
// *float32)): R9 = w, R10 = rs, R11 = nrows, BX = out.
#define ROWSSETUP \
	MOVQ w+0(FP), R9 \
	MOVQ rs+8(FP), R10 \
	MOVQ nrows+16(FP), R11 \
	MOVQ out+56(FP), BX

// ROWSTART points SI, DI, DX, R8, CX at the row at R9 and the start of
// the activations, and clears the accumulators.
#define ROWSTART \
	MOVQ R9, SI \
	MOVQ y+24(FP), DI \
	MOVQ d+32(FP), DX \
	MOVQ ysum+40(FP), R8 \
	MOVQ ngroups+48(FP), CX \
	VXORPS Y14, Y14, Y14

// REDUCEPAIRS sums the partial sums in Y0..Y3 (blocks p and p+4 in Yp)
// into lane b of Y0 for block b. Clobbers Y2.
#define REDUCEPAIRS \
	VPHADDD Y1, Y0, Y0 \
	VPHADDD Y3, Y2, Y2 \
	VPHADDD Y2, Y0, Y0

// REDUCE8 sums the int32 lanes of each of Y0..Y7 into lane m of Y0 (m =
// register number). Clobbers Y1, Y2, Y4, Y6.
#define REDUCE8 \
	VPHADDD Y1, Y0, Y0 \
	VPHADDD Y3, Y2, Y2 \
	VPHADDD Y5, Y4, Y4 \
	VPHADDD Y7, Y6, Y6 \
	VPHADDD Y2, Y0, Y0 \
	VPHADDD Y6, Y4, Y4 \
	VPERM2I128 $0x20, Y4, Y0, Y1 \
	VPERM2I128 $0x31, Y4, Y0, Y2 \
	VPADDD Y2, Y1, Y0

// SCALES8 sets Y3 to the fp16 scales of the eight blocks at SI, SI+st, ...
// SI+7*st (st = o1), as float32. Clobbers AX.
#define SCALES8(o1, o2, o3, o4, o5, o6, o7) \
	MOVWLZX (SI), AX \
	VMOVD AX, X3 \
	VPINSRW $1, o1(SI), X3, X3 \
	VPINSRW $2, o2(SI), X3, X3 \
	VPINSRW $3, o3(SI), X3, X3 \
	VPINSRW $4, o4(SI), X3, X3 \
	VPINSRW $5, o5(SI), X3, X3 \
	VPINSRW $6, o6(SI), X3, X3 \
	VPINSRW $7, o7(SI), X3, X3 \
	VCVTPH2PS X3, Y3

// ROWSTEP finishes eight blocks of one row: Y0 holds their integer sums;
// scale them by fp16(weight scale)*(activation scale) and add them to the
// accumulators in Y14.
#define ROWSTEP(o1, o2, o3, o4, o5, o6, o7) \
	VCVTDQ2PS Y0, Y0 \
	SCALES8(o1, o2, o3, o4, o5, o6, o7) \
	VMULPS (DX), Y3, Y3 \
	VMULPS Y3, Y0, Y0 \
	VADDPS Y0, Y14, Y14

// FINISH8 stores at BX the sums of the accumulators Y8..Y15 in hsum8's
// order: ((Y8+Y12)+(Y10+Y14)) + ((Y9+Y13)+(Y11+Y15)).
#define FINISH8 \
	VADDPS Y12, Y8, Y0 \
	VADDPS Y13, Y9, Y1 \
	VADDPS Y14, Y10, Y2 \
	VADDPS Y15, Y11, Y3 \
	VADDPS Y2, Y0, Y0 \
	VADDPS Y3, Y1, Y1 \
	VADDPS Y1, Y0, Y0 \
	VMOVUPS Y0, (BX)

// CORRECTAT(sums, shift) subtracts (activation quant sums at (sums)) <<
// shift from the integer sums in Y0: the weights were offset by 1<<shift
// to be unsigned. CORRECT takes the sums at R8.
#define CORRECTAT(sums, shift) \
	VMOVDQU (sums), Y1 \
	VPSLLD $shift, Y1, Y1 \
	VPSUBD Y1, Y0, Y0

#define CORRECT(shift) CORRECTAT(R8, shift)

// GROUPSTEP finishes one block of eight rows: Y0 holds the rows' integer
// sums; scale them by fp16(weight scale at SI)*(row scales at DX) and add
// them to acc.
#define GROUPSTEP(acc) \
	VCVTDQ2PS Y0, Y0 \
	VPBROADCASTW (SI), X2 \
	VCVTPH2PS X2, Y2 \
	VMULPS (DX), Y2, Y2 \
	VMULPS Y2, Y0, Y0 \
	VADDPS Y0, acc, acc
