package kernels

import (
	"math"

	"github.com/silo-ai/silo/internal/engine/ggml"
)

// acts holds the activation rows of one MatMul call in the form the weight
// type's dot product wants: float32 for F32/F16/BF16 weights, 32-element
// 8-bit blocks for Q4_0..Q8_0 weights, 256-element 8-bit blocks (ggml's
// Q8_K) for K-quant weights.
type acts struct {
	n, cols int
	f       []float32 // float weights: the activations themselves
	qs      []int8    // n*cols quants
	d       []float32 // per block scale
	s       []float32 // per 32-block d*sum(qs) (Q4_1, Q5_1)
	neg     []int32   // per 32-block, 8 lanes: -8 * sum of the lane's 4 quants (Q4_0)
	bs      []int16   // per 256-block, 16 sums of 16 quants (K-quants)
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// quantize fills a for weights of type t from x (n rows of cols).
func (a *acts) quantize(t ggml.Type, x []float32, n, cols int) {
	a.n, a.cols = n, cols
	switch t {
	case ggml.F32, ggml.F16, ggml.BF16:
		a.f = x[:n*cols]
	case ggml.Q4_K, ggml.Q5_K, ggml.Q6_K:
		nb := n * cols / 256
		a.qs, a.d, a.bs = grow(a.qs, n*cols), grow(a.d, nb), grow(a.bs, nb*16)
		for b := 0; b < nb; b++ {
			a.d[b] = quantQ8K(x[b*256:b*256+256], a.qs[b*256:b*256+256], a.bs[b*16:b*16+16])
		}
	default:
		nb := n * cols / 32
		a.qs, a.d = grow(a.qs, n*cols), grow(a.d, nb)
		withSum := t == ggml.Q4_1 || t == ggml.Q5_1
		if withSum {
			a.s = grow(a.s, nb)
		}
		// neg holds -bias*(sum of 4 quants) per lane for kernels that
		// offset the weights to make them unsigned: by 8 for Q4_0's
		// nibbles, by 128 for Q8_0.
		bias := int32(0)
		switch t {
		case ggml.Q4_0:
			bias = 8
		case ggml.Q8_0:
			bias = 128
		}
		if bias != 0 {
			a.neg = grow(a.neg, nb*8)
		}
		for b := 0; b < nb; b++ {
			q := a.qs[b*32 : b*32+32]
			d := quantQ8Act(x[b*32:b*32+32], q)
			a.d[b] = d
			if withSum {
				sum := 0
				for _, v := range q {
					sum += int(v)
				}
				a.s[b] = d * float32(sum)
			}
			if bias != 0 {
				for k := 0; k < 8; k++ {
					a.neg[b*8+k] = -bias * (int32(q[4*k]) + int32(q[4*k+1]) + int32(q[4*k+2]) + int32(q[4*k+3]))
				}
			}
		}
	}
}

// quantQ8Act quantizes 32 activations like ggml's quantize_row_q8_0 but
// keeps the scale as float32.
func quantQ8Act(x []float32, q []int8) float32 {
	var amax float32
	for _, v := range x {
		amax = max(amax, float32(math.Abs(float64(v))))
	}
	d := amax / 127
	id := inv(d)
	for j, v := range x {
		q[j] = int8(math.Round(float64(v * id)))
	}
	return d
}

// quantQ8K is ggml's quantize_row_q8_K_ref for one 256-element block.
func quantQ8K(x []float32, q []int8, bsums []int16) float32 {
	mx, amax := absMax(x)
	if amax == 0 {
		clear(q)
		clear(bsums)
		return 0
	}
	iscale := -127 / mx
	for j, v := range x {
		q[j] = int8(min(127, nearestInt(iscale*v)))
	}
	for g := 0; g < 16; g++ {
		var s int16
		for _, v := range q[16*g : 16*g+16] {
			s += int16(v)
		}
		bsums[g] = s
	}
	return 1 / iscale
}
