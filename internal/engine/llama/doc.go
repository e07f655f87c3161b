// Package llama runs llama-family transformer models from GGUF files:
// Llama 2 and 3.x (and the files that share the "llama" architecture:
// Mistral, TinyLlama, SmolLM), Qwen2 and Qwen3.
//
// Load builds a Model over a gguf.File's mapped tensor data without copying
// the weight matrices (only norm and bias vectors are copied). A Runner
// computes forward passes for a batch of tokens, which may mix a prompt
// chunk of one sequence (prefill) with the next token of several others
// (batched decoding); each Sequence holds its own KV cache (float32 or F16).
// Every matrix multiplication goes through kernels.MatMul (all threads);
// attention is parallel over (token, KV head) pairs, with AVX2/FMA/F16C
// assembly for scores, weighted sums, softmax, SwiGLU and F16 conversion
// where the CPU has them (plain Go elsewhere, tested against the same
// reference).
//
// The computation follows llama.cpp's: RMSNorm, rotary position embeddings
// in the normal layout for llama and the NeoX layout for qwen2/qwen3 (with
// freq_base, llama3 frequency factors from rope_freqs.weight, and linear or
// YaRN scaling), grouped-query attention with 1/sqrt(head_dim) scaling,
// per-head RMSNorm of q and k before RoPE (qwen3), attention biases when the
// file has them (qwen2), SwiGLU feed-forward, and tied embeddings when
// output.weight is absent.
//
// Promises: for float weights the logits match a float64 reference forward
// pass to float32 rounding (relative RMS error below 1e-5); for quantized
// weights they differ by the 8-bit activation rounding the kernels use, as
// ggml's do (below 3e-2 on the test models). TestLlamaCpp checks the logits
// against llama.cpp's own on generated files of every architecture and
// type (run with SILO_LLAMACPP). Malformed files (wrong shapes,
// unsupported types, missing tensors) are refused by Load with an error
// naming the tensor; token ids out of range are refused by Forward.
package llama
