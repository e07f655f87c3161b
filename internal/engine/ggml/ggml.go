// Package ggml names the tensor element types of the ggml library and gives
// their storage geometry: how many elements one block holds and how many
// bytes that block takes. The numeric ids are exactly ggml's enum ggml_type
// (ggml/include/ggml.h), so they can be read from and written to GGUF files
// unchanged; the block sizes match ggml's type traits.
//
// The package knows the geometry of every type ggml defines, including types
// the engine cannot compute with; Supported reports which ones the engine's
// kernels handle.
package ggml

import (
	"fmt"
	"math/bits"
	"strings"
)

// Type is a ggml tensor element type (enum ggml_type).
type Type uint32

// The ggml type ids. Ids 4, 5, 31-33 and 36-38 belong to removed types and
// are not valid.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
	NVFP4   Type = 40
	Q1_0    Type = 41
)

// QK_K is the number of elements in a K-quant super-block.
const QK_K = 256

type traits struct {
	name      string
	blockSize int // elements per block
	typeSize  int // bytes per block
	supported bool
}

// table holds ggml's type traits (ggml.c type_traits), sizes from the block
// structs in ggml-common.h.
var table = map[Type]traits{
	F32:     {"F32", 1, 4, true},
	F16:     {"F16", 1, 2, true},
	Q4_0:    {"Q4_0", 32, 2 + 16, true},
	Q4_1:    {"Q4_1", 32, 2 + 2 + 16, true},
	Q5_0:    {"Q5_0", 32, 2 + 4 + 16, true},
	Q5_1:    {"Q5_1", 32, 2 + 2 + 4 + 16, true},
	Q8_0:    {"Q8_0", 32, 2 + 32, true},
	Q8_1:    {"Q8_1", 32, 2 + 2 + 32, false},
	Q2_K:    {"Q2_K", QK_K, QK_K/16 + QK_K/4 + 2 + 2, false},
	Q3_K:    {"Q3_K", QK_K, QK_K/8 + QK_K/4 + 12 + 2, false},
	Q4_K:    {"Q4_K", QK_K, 2 + 2 + 12 + QK_K/2, true},
	Q5_K:    {"Q5_K", QK_K, 2 + 2 + 12 + QK_K/8 + QK_K/2, true},
	Q6_K:    {"Q6_K", QK_K, QK_K/2 + QK_K/4 + QK_K/16 + 2, true},
	Q8_K:    {"Q8_K", QK_K, 4 + QK_K + QK_K/16*2, false},
	IQ2_XXS: {"IQ2_XXS", QK_K, 2 + QK_K/8*2, false},
	IQ2_XS:  {"IQ2_XS", QK_K, 2 + QK_K/8*2 + QK_K/32, false},
	IQ3_XXS: {"IQ3_XXS", QK_K, 2 + 3*QK_K/8, false},
	IQ1_S:   {"IQ1_S", QK_K, 2 + QK_K/8 + QK_K/32*2, false},
	IQ4_NL:  {"IQ4_NL", 32, 2 + 16, false},
	IQ3_S:   {"IQ3_S", QK_K, 2 + QK_K/4 + QK_K/32 + QK_K/8 + QK_K/64, false},
	IQ2_S:   {"IQ2_S", QK_K, 2 + QK_K/4 + QK_K/32 + QK_K/32, false},
	IQ4_XS:  {"IQ4_XS", QK_K, 2 + 2 + QK_K/64 + QK_K/2, false},
	I8:      {"I8", 1, 1, false},
	I16:     {"I16", 1, 2, false},
	I32:     {"I32", 1, 4, false},
	I64:     {"I64", 1, 8, false},
	F64:     {"F64", 1, 8, false},
	IQ1_M:   {"IQ1_M", QK_K, QK_K/8 + QK_K/16 + QK_K/32, false},
	BF16:    {"BF16", 1, 2, true},
	TQ1_0:   {"TQ1_0", QK_K, (QK_K-4*QK_K/64)/5 + QK_K/64 + 2, false},
	TQ2_0:   {"TQ2_0", QK_K, QK_K/4 + 2, false},
	MXFP4:   {"MXFP4", 32, 1 + 16, false},
	NVFP4:   {"NVFP4", 64, 4 + 32, false},
	Q1_0:    {"Q1_0", 128, 2 + 16, false},
}

// String returns the type's conventional upper-case name ("Q4_K", "BF16"),
// or "Type(N)" for an id ggml does not define.
func (t Type) String() string {
	if tr, ok := table[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("Type(%d)", uint32(t))
}

// ParseType returns the type with the given name, case-insensitively
// ("q8_0", "Q4_K", "bf16").
func ParseType(name string) (Type, error) {
	for t, tr := range table {
		if strings.EqualFold(tr.name, name) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("ggml: unknown type name %q", name)
}

// Valid reports whether t is a type id ggml defines.
func (t Type) Valid() bool {
	_, ok := table[t]
	return ok
}

// Supported reports whether the engine's kernels can dequantize t and
// compute dot products with it: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K and Q6_K.
func (t Type) Supported() bool {
	return table[t].supported
}

// BlockSize returns the number of elements in one block of t (1 for plain
// element types), or 0 if t is not a valid type.
func (t Type) BlockSize() int {
	return table[t].blockSize
}

// TypeSize returns the number of bytes one block of t takes, or 0 if t is
// not a valid type.
func (t Type) TypeSize() int {
	return table[t].typeSize
}

// RowSize returns the number of bytes n elements of type t take. n must be
// a non-negative multiple of t's block size.
func (t Type) RowSize(n int) (int, error) {
	tr, ok := table[t]
	if !ok {
		return 0, fmt.Errorf("ggml: row size: unknown type %d", uint32(t))
	}
	if n < 0 || n%tr.blockSize != 0 {
		return 0, fmt.Errorf("ggml: row size: %d elements is not a multiple of %s's block size %d", n, tr.name, tr.blockSize)
	}
	hi, lo := bits.Mul64(uint64(n/tr.blockSize), uint64(tr.typeSize))
	if hi != 0 || lo > uint64(maxInt) {
		return 0, fmt.Errorf("ggml: row size: %d elements of %s overflow", n, tr.name)
	}
	return int(lo), nil
}

const maxInt = int(^uint(0) >> 1)
