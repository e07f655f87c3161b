// Package kernels provides the numeric kernels of the built-in engine:
// conversion between float32 and ggml's tensor types (DequantizeRow,
// Quantize) and the matrix-vector products of inference (MatMul).
//
// Layouts are bit-exact with ggml's block structs (ggml-common.h), and
// Quantize follows ggml's reference quantizers, so data moves between this
// package and llama.cpp unchanged. Supported types: F32, F16, BF16, Q4_0,
// Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K.
//
// MatMul quantizes the activations once per call, as llama.cpp does (to
// 8-bit blocks of 32 for Q4_0..Q8_0 weights, to Q8_K blocks of 256 for
// K-quants), and computes integer dot products, spread over a persistent
// pool of worker goroutines (SetThreads). On amd64 the hot kernels are
// assembly chosen at run time from the CPU's features (SIMD reports
// which); the pure-Go kernels compute the same results bit for bit, and
// SetGeneric forces them.
package kernels
