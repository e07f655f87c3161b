// Package kernels provides the numeric kernels of the built-in engine:
// conversion between float32 and ggml's tensor types (DequantizeRow,
// Quantize) and the matrix products of inference (MatMul).
//
// Layouts are bit-exact with ggml's block structs (ggml-common.h), and
// Quantize follows ggml's reference quantizers, so data moves between this
// package and llama.cpp unchanged. Supported types: F32, F16, BF16, Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K.
//
// MatMul quantizes the activations once per call, as llama.cpp does (to
// 8-bit blocks of 32 for Q4_0..Q8_0 weights, to Q8_K blocks of 256 for
// K-quants), and computes integer dot products, spread over a persistent
// pool of worker goroutines (SetThreads). Float weights (F32, F16, BF16)
// meet the float32 activations as they are. On amd64 the kernels of every
// type but Q4_1 and Q5_1 are assembly chosen at run time from the CPU's
// features (SIMD reports which); the pure-Go kernels compute the same
// results bit for bit, and SetGeneric forces them.
//
// The floating-point steps of every dot product are defined in dot.go and
// never fused (no FMA), so a result does not depend on the kernel set, on
// the number of threads, or on how many activation rows share a call: for
// Q8_0 and Q4_0, each 32-element block's exact integer sum is scaled once
// and added to accumulator b%8 of eight; for K-quants, each 256-element
// block adds one scaled term to a single accumulator. Batches of Q8_0 and
// Q4_0 rows (prompt processing) run eight activation rows at a time over
// each weight row, with the activations transposed so that one vector
// instruction serves all eight; with AVX-512 VNNI, weight rows are
// unpacked to bytes once per call and run two at a time over eight or
// sixteen activation rows, four broadcast weight quants per instruction.
// Batches of K-quant rows (Q4_K, Q5_K, Q6_K) with AVX-512 VNNI take the
// same sixteen-row transposed activations (quantized to Q8_K) and
// two-row kernels over weight rows unpacked once per call to bytes and
// int32 scales; each lane (activation row) forms the row kernel's block
// integers and float steps, so results are again bit-identical. Decoding
// Q4_K and Q5_K with AVX-512 VNNI reduces each block's sub-block sums to a
// vector, runs the float steps of eight blocks in one vector (lane =
// block) and adds their terms to the row's sum in block order.
// Decoding (one activation row, or the two to five left past the groups
// of eight) takes a chunk of weight rows per kernel call, and with
// AVX-512 VNNI unpacks each weight block once for all the activation
// rows. The activations are quantized in SIMD too, bit-identical to the
// Go quantizer.
//
// The pool's threads poll for work for a moment before they park (waking
// a parked thread costs more than the gap between a decode step's
// products), and decoding hands out about 256 KiB of weight rows per task,
// long enough for the hardware prefetcher.
//
// MatMul allocates nothing once warm: its state and the per-thread
// scratch are recycled.
package kernels
