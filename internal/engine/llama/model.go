package llama

import (
	"errors"
	"fmt"

	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/kernels"
)

// Layer holds the weights of one transformer block. Matrices view the GGUF
// file's bytes; vectors (norms, biases) are float32 copies.
type Layer struct {
	AttnNorm       []float32
	Q, K, V, O     *kernels.Matrix
	QBias, KBias   []float32 // nil when absent
	VBias, OBias   []float32
	QNorm, KNorm   []float32 // qwen3: per-head RMSNorm weights (HeadDim)
	FFNNorm        []float32
	Gate, Up, Down *kernels.Matrix
}

// Model is a loaded llama-family model. Its matrices are views of the GGUF
// file's (mapped) bytes: the file must stay open while the Model is used.
// A Model is read-only and safe for concurrent use; per-computation state
// lives in Runner and Sequence.
type Model struct {
	Config Config

	Embd      *kernels.Matrix // token_embd.weight: Vocab rows of Hidden
	Layers    []Layer
	OutNorm   []float32
	Output    *kernels.Matrix // output.weight, or Embd when tied
	Tied      bool
	RopeFreqs []float32 // llama3 frequency factors (rope_freqs.weight), or nil
}

// Load builds a Model over the tensors of f. It copies only norm and bias
// vectors; f must outlive the Model.
func Load(f *gguf.File) (*Model, error) {
	cfg, err := ReadConfig(f)
	if err != nil {
		return nil, err
	}
	m := &Model{Config: cfg}
	l := loader{f: f}
	c := &m.Config
	qDim, kvDim := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	m.Embd = l.matrix("token_embd.weight", c.Hidden, c.Vocab)
	m.OutNorm = l.vector("output_norm.weight", c.Hidden)
	if l.has("output.weight") {
		m.Output = l.matrix("output.weight", c.Hidden, c.Vocab)
	} else {
		m.Output, m.Tied = m.Embd, true
	}
	if l.has("rope_freqs.weight") {
		m.RopeFreqs = l.vector("rope_freqs.weight", c.RopeDims/2)
	}
	m.Layers = make([]Layer, c.Layers)
	for i := range m.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		ly := &m.Layers[i]
		ly.AttnNorm = l.vector(p+"attn_norm.weight", c.Hidden)
		ly.Q = l.matrix(p+"attn_q.weight", c.Hidden, qDim)
		ly.K = l.matrix(p+"attn_k.weight", c.Hidden, kvDim)
		ly.V = l.matrix(p+"attn_v.weight", c.Hidden, kvDim)
		ly.O = l.matrix(p+"attn_output.weight", qDim, c.Hidden)
		ly.QBias = l.optVector(p+"attn_q.bias", qDim)
		ly.KBias = l.optVector(p+"attn_k.bias", kvDim)
		ly.VBias = l.optVector(p+"attn_v.bias", kvDim)
		ly.OBias = l.optVector(p+"attn_output.bias", c.Hidden)
		ly.QNorm = l.optVector(p+"attn_q_norm.weight", c.HeadDim)
		ly.KNorm = l.optVector(p+"attn_k_norm.weight", c.HeadDim)
		if c.Arch == ArchQwen3 && (ly.QNorm == nil || ly.KNorm == nil) {
			l.errs = append(l.errs, fmt.Errorf("%sattn_q_norm/attn_k_norm missing for qwen3", p))
		}
		ly.FFNNorm = l.vector(p+"ffn_norm.weight", c.Hidden)
		ly.Gate = l.matrix(p+"ffn_gate.weight", c.Hidden, c.FFN)
		ly.Up = l.matrix(p+"ffn_up.weight", c.Hidden, c.FFN)
		ly.Down = l.matrix(p+"ffn_down.weight", c.FFN, c.Hidden)
	}
	if len(l.errs) > 0 {
		return nil, fmt.Errorf("llama: load: %w", errors.Join(l.errs...))
	}
	return m, nil
}

// WeightBytes returns the bytes of weights read to compute one token's
// logits: every matrix but the embedding table (of which one row is read),
// plus the output matrix.
func (m *Model) WeightBytes() int64 {
	var n int64
	add := func(w *kernels.Matrix) { n += int64(len(w.Data)) }
	for i := range m.Layers {
		ly := &m.Layers[i]
		for _, w := range []*kernels.Matrix{ly.Q, ly.K, ly.V, ly.O, ly.Gate, ly.Up, ly.Down} {
			add(w)
		}
	}
	add(m.Output)
	return n
}

type loader struct {
	f    *gguf.File
	errs []error
}

func (l *loader) has(name string) bool {
	_, err := l.f.Tensor(name)
	return err == nil
}

func (l *loader) tensor(name string, dims ...int) (*gguf.TensorInfo, []byte) {
	t, err := l.f.Tensor(name)
	if err != nil {
		l.errs = append(l.errs, err)
		return nil, nil
	}
	ok := len(t.Dims) == len(dims)
	for i := 0; ok && i < len(dims); i++ {
		ok = t.Dims[i] == uint64(dims[i])
	}
	if !ok {
		l.errs = append(l.errs, fmt.Errorf("tensor %s has shape %v, want %v", name, t.Dims, dims))
		return nil, nil
	}
	if !t.Type.Supported() {
		l.errs = append(l.errs, fmt.Errorf("tensor %s has type %s: %w", name, t.Type, ErrUnsupported))
		return nil, nil
	}
	data := l.f.TensorData(t)
	if data == nil {
		l.errs = append(l.errs, fmt.Errorf("tensor %s lies outside the file", name))
		return nil, nil
	}
	return t, data
}

// matrix returns the 2-D tensor name with rows of cols elements.
func (l *loader) matrix(name string, cols, rows int) *kernels.Matrix {
	t, data := l.tensor(name, cols, rows)
	if t == nil {
		return nil
	}
	w, err := kernels.NewMatrix(t.Type, rows, cols, data)
	if err != nil {
		l.errs = append(l.errs, fmt.Errorf("tensor %s: %w", name, err))
		return nil
	}
	return w
}

// vector returns a float32 copy of the 1-D tensor name.
func (l *loader) vector(name string, n int) []float32 {
	t, data := l.tensor(name, n)
	if t == nil {
		return nil
	}
	out := make([]float32, n)
	if err := dequantize(t.Type, data, out); err != nil {
		l.errs = append(l.errs, fmt.Errorf("tensor %s: %w", name, err))
	}
	return out
}

func (l *loader) optVector(name string, n int) []float32 {
	if !l.has(name) {
		return nil
	}
	return l.vector(name, n)
}

// dequantize converts a whole row of type t to float32.
func dequantize(t ggml.Type, data []byte, out []float32) error {
	return kernels.DequantizeRow(t, data, out)
}
