// Package genmodel writes deterministic GGUF models for tests, benchmarks and
// `silo dev gen-model`: any supported architecture (llama, qwen2, qwen3) and
// shape, weights drawn from a seed and stored in a chosen ggml tensor type,
// with a real tokenizer vocabulary converted from Hugging Face files the way
// llama.cpp's converter does (tokenizer.ggml.* metadata).
//
// Promises: the same Options give a byte-identical file, whatever the number
// of CPUs. Weights are uniform with a scale chosen per tensor so that, at any
// depth, activations stay of order one and attention and output logits have
// a spread of a few units: the models compute nothing useful, but every
// operation of the forward pass matters to the result.
//
// Vocabulary: a model's vocabulary size is the size of the real vocabulary
// it is given (the built-in one is a 32,000-token SentencePiece vocabulary).
// Truncating a BPE vocabulary would orphan its merges, so sizes are never
// cut; keep test models small through Hidden instead.
package genmodel

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"os"
	"runtime"
	"sync"

	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/kernels"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

// Supported architectures.
const (
	ArchLlama = "llama"
	ArchQwen2 = "qwen2"
	ArchQwen3 = "qwen3"
)

// Options describes the model to write. Zero fields take the defaults noted.
type Options struct {
	Arch    string // ArchLlama (default), ArchQwen2 or ArchQwen3
	Name    string // general.name (default "silo-test-<arch>")
	Hidden  int    // embedding length (default 64)
	Layers  int    // blocks (default 2)
	Heads   int    // attention heads (default 4)
	KVHeads int    // key/value heads (default Heads)
	HeadDim int    // per-head dimension (default Hidden/Heads)
	FFN     int    // feed-forward length (default 3*Hidden)
	Context int    // context length (default 2048)
	// Type is the tensor type of the weight matrices (including the token
	// embeddings and output); norms are always F32. Default F32.
	Type ggml.Type
	// EmbedType, when set, is the type of token_embd.weight and
	// output.weight instead of Type (as llama.cpp's quantization mixes do).
	EmbedType ggml.Type
	Seed      int64

	RopeBase float64 // default 10000 (llama), 1000000 (qwen2, qwen3)
	// Llama3Rope writes a rope_freqs.weight tensor with Llama 3.1's
	// frequency factors (factor 8, low 1, high 4, original context 8192).
	Llama3Rope bool
	// RopeScaling, when set ("linear" or "yarn"), writes rope.scaling.type
	// with RopeFactor and RopeOrigContext.
	RopeScaling     string
	RopeFactor      float64
	RopeOrigContext int
	// Tied omits output.weight: the output reuses token_embd.weight.
	Tied bool
	// Bias adds attention q/k/v biases (default: true for qwen2 only).
	Bias *bool

	// Vocab is the vocabulary; nil means the built-in SentencePiece one.
	Vocab *tokenize.Vocab
	// ChatTemplate, when set, replaces the vocabulary's chat template.
	ChatTemplate string
}

// Llama1B returns the shape of the ~1B-parameter benchmark model (hidden
// 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, the built-in 32,000-token
// vocabulary) with the given weight type.
func Llama1B(t ggml.Type) Options {
	return Options{Arch: ArchLlama, Name: "silo-bench-1b", Hidden: 2048, Layers: 16, Heads: 32, KVHeads: 8,
		FFN: 8192, Context: 4096, Type: t, Seed: 1}
}

// ChatMLTemplate is a ChatML chat template (Qwen's format without tools).
const ChatMLTemplate = `{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}`

func (o *Options) defaults() error {
	if o.Arch == "" {
		o.Arch = ArchLlama
	}
	switch o.Arch {
	case ArchLlama, ArchQwen2, ArchQwen3:
	default:
		return fmt.Errorf("unknown architecture %q (want llama, qwen2 or qwen3)", o.Arch)
	}
	if o.Name == "" {
		o.Name = "silo-test-" + o.Arch
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&o.Hidden, 64)
	def(&o.Layers, 2)
	def(&o.Heads, 4)
	def(&o.KVHeads, o.Heads)
	if o.Heads > 0 {
		def(&o.HeadDim, o.Hidden/o.Heads)
	}
	def(&o.FFN, 3*o.Hidden)
	def(&o.Context, 2048)
	if o.RopeBase == 0 {
		o.RopeBase = 10000
		if o.Arch != ArchLlama {
			o.RopeBase = 1000000
		}
	}
	if o.Bias == nil {
		b := o.Arch == ArchQwen2
		o.Bias = &b
	}
	for _, d := range []struct {
		name string
		v    int
	}{{"hidden", o.Hidden}, {"layers", o.Layers}, {"heads", o.Heads}, {"kv heads", o.KVHeads},
		{"head dim", o.HeadDim}, {"ffn", o.FFN}, {"context", o.Context}} {
		if d.v <= 0 || d.v > 1<<20 {
			return fmt.Errorf("%s %d out of range", d.name, d.v)
		}
	}
	if o.Heads%o.KVHeads != 0 {
		return fmt.Errorf("heads %d not a multiple of kv heads %d", o.Heads, o.KVHeads)
	}
	if o.HeadDim%2 != 0 {
		return fmt.Errorf("head dim %d must be even", o.HeadDim)
	}
	if o.EmbedType == 0 {
		o.EmbedType = o.Type
	}
	if !o.Type.Supported() || !o.EmbedType.Supported() {
		return fmt.Errorf("tensor type %s not supported", o.Type)
	}
	if o.Hidden%o.EmbedType.BlockSize() != 0 {
		return fmt.Errorf("hidden %d is not a multiple of %s's block size %d", o.Hidden, o.EmbedType, o.EmbedType.BlockSize())
	}
	bs := o.Type.BlockSize()
	for _, c := range []struct {
		name string
		v    int
	}{{"hidden", o.Hidden}, {"ffn", o.FFN}, {"heads*head dim", o.Heads * o.HeadDim}} {
		if c.v%bs != 0 {
			return fmt.Errorf("%s %d is not a multiple of %s's block size %d", c.name, c.v, o.Type, bs)
		}
	}
	if o.Vocab == nil {
		v, err := DefaultVocab()
		if err != nil {
			return err
		}
		o.Vocab = v
	}
	if len(o.Vocab.Tokens) == 0 {
		return errors.New("empty vocabulary")
	}
	return nil
}

//go:embed vocab/spm32k.tokenizer.json.gz
var spm32kJSON []byte

//go:embed vocab/spm32k.tokenizer_config.json
var spm32kConfig []byte

// DefaultVocab returns the built-in vocabulary: 32,000 SentencePiece tokens
// in Mistral-7B v0.1's layout (▁ prefix, byte fallback), converted by
// tokenize.VocabFromHF. The Vocab is shared: callers must not modify it.
func DefaultVocab() (*tokenize.Vocab, error) { return defaultVocab() }

var defaultVocab = sync.OnceValues(func() (*tokenize.Vocab, error) {
	zr, err := gzip.NewReader(bytes.NewReader(spm32kJSON))
	if err != nil {
		return nil, fmt.Errorf("genmodel: default vocabulary: %w", err)
	}
	js, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("genmodel: default vocabulary: %w", err)
	}
	v, err := tokenize.VocabFromHF(js, spm32kConfig)
	if err != nil {
		return nil, fmt.Errorf("genmodel: default vocabulary: %w", err)
	}
	return v, nil
})

// VocabFromFiles reads a Hugging Face tokenizer.json (optionally gzipped,
// by a .gz suffix) and tokenizer_config.json (may be empty: none) and
// converts them with tokenize.VocabFromHF.
func VocabFromFiles(tokenizerJSON, tokenizerConfig string) (*tokenize.Vocab, error) {
	js, err := readMaybeGzip(tokenizerJSON)
	if err != nil {
		return nil, fmt.Errorf("genmodel: vocabulary: %w", err)
	}
	var cfg []byte
	if tokenizerConfig != "" {
		if cfg, err = readMaybeGzip(tokenizerConfig); err != nil {
			return nil, fmt.Errorf("genmodel: vocabulary: %w", err)
		}
	}
	v, err := tokenize.VocabFromHF(js, cfg)
	if err != nil {
		return nil, fmt.Errorf("genmodel: vocabulary %s: %w", tokenizerJSON, err)
	}
	return v, nil
}

func readMaybeGzip(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return b, nil
}

// WriteFile writes the model described by o to path (atomically: through a
// temporary file renamed into place).
func WriteFile(path string, o Options) error {
	w, err := build(o)
	if err != nil {
		return fmt.Errorf("genmodel: %w", err)
	}
	if err := w.WriteFile(path); err != nil {
		return fmt.Errorf("genmodel: %w", err)
	}
	return nil
}

// Write writes the model described by o to dst.
func Write(dst io.Writer, o Options) (int64, error) {
	w, err := build(o)
	if err != nil {
		return 0, fmt.Errorf("genmodel: %w", err)
	}
	n, err := w.WriteTo(dst)
	if err != nil {
		return n, fmt.Errorf("genmodel: %w", err)
	}
	return n, nil
}

// fileType maps a tensor type to general.file_type (enum llama_ftype).
func fileType(t ggml.Type) (uint32, bool) {
	switch t {
	case ggml.F32:
		return 0, true
	case ggml.F16:
		return 1, true
	case ggml.Q4_0:
		return 2, true
	case ggml.Q4_1:
		return 3, true
	case ggml.Q8_0:
		return 7, true
	case ggml.Q5_0:
		return 8, true
	case ggml.Q5_1:
		return 9, true
	case ggml.Q4_K:
		return 15, true
	case ggml.Q5_K:
		return 17, true
	case ggml.Q6_K:
		return 18, true
	case ggml.BF16:
		return 32, true
	}
	return 0, false
}

func build(o Options) (*gguf.Writer, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	w := gguf.NewWriter()
	var errs []error
	kv := func(k string, v any) {
		if err := w.AddKV(k, v); err != nil {
			errs = append(errs, err)
		}
	}
	a := o.Arch + "."
	kv("general.architecture", o.Arch)
	kv("general.name", o.Name)
	if ft, ok := fileType(o.Type); ok {
		kv("general.file_type", ft)
	}
	kv(a+"context_length", uint32(o.Context))
	kv(a+"embedding_length", uint32(o.Hidden))
	kv(a+"block_count", uint32(o.Layers))
	kv(a+"feed_forward_length", uint32(o.FFN))
	kv(a+"attention.head_count", uint32(o.Heads))
	kv(a+"attention.head_count_kv", uint32(o.KVHeads))
	kv(a+"attention.layer_norm_rms_epsilon", float32(1e-6))
	kv(a+"rope.freq_base", float32(o.RopeBase))
	kv(a+"rope.dimension_count", uint32(o.HeadDim))
	if o.RopeScaling != "" {
		kv(a+"rope.scaling.type", o.RopeScaling)
		kv(a+"rope.scaling.factor", float32(o.RopeFactor))
		if o.RopeOrigContext > 0 {
			kv(a+"rope.scaling.original_context_length", uint32(o.RopeOrigContext))
		}
	}
	if o.HeadDim*o.Heads != o.Hidden || o.Arch == ArchQwen3 {
		kv(a+"attention.key_length", uint32(o.HeadDim))
		kv(a+"attention.value_length", uint32(o.HeadDim))
	}
	kv(a+"vocab_size", uint32(len(o.Vocab.Tokens)))
	if err := addVocab(w, o.Vocab, o.ChatTemplate); err != nil {
		errs = append(errs, err)
	}

	g := &gen{seed: uint64(o.Seed), w: w}
	hid, ffn := o.Hidden, o.FFN
	qDim, kvDim := o.Heads*o.HeadDim, o.KVHeads*o.HeadDim
	vocab := len(o.Vocab.Tokens)
	uni := func(fanIn int, gain float64) float64 { return gain * math.Sqrt(3/float64(fanIn)) }
	g.matrix("token_embd.weight", o.EmbedType, hid, vocab, math.Sqrt(3))
	for i := range o.Layers {
		p := fmt.Sprintf("blk.%d.", i)
		g.norm(p+"attn_norm.weight", hid)
		g.matrix(p+"attn_q.weight", o.Type, hid, qDim, uni(hid, 1))
		g.matrix(p+"attn_k.weight", o.Type, hid, kvDim, uni(hid, 1))
		g.matrix(p+"attn_v.weight", o.Type, hid, kvDim, uni(hid, 1))
		if *o.Bias {
			g.vector(p+"attn_q.bias", qDim, 0, 0.2)
			g.vector(p+"attn_k.bias", kvDim, 0, 0.2)
			g.vector(p+"attn_v.bias", kvDim, 0, 0.2)
		}
		if o.Arch == ArchQwen3 {
			g.norm(p+"attn_q_norm.weight", o.HeadDim)
			g.norm(p+"attn_k_norm.weight", o.HeadDim)
		}
		g.matrix(p+"attn_output.weight", o.Type, qDim, hid, uni(qDim, 1))
		g.norm(p+"ffn_norm.weight", hid)
		g.matrix(p+"ffn_gate.weight", o.Type, hid, ffn, uni(hid, 1))
		g.matrix(p+"ffn_up.weight", o.Type, hid, ffn, uni(hid, 1))
		g.matrix(p+"ffn_down.weight", o.Type, ffn, hid, uni(ffn, 1))
	}
	g.norm("output_norm.weight", hid)
	if !o.Tied {
		g.matrix("output.weight", o.EmbedType, hid, vocab, uni(hid, 2))
	}
	if o.Llama3Rope {
		ff := Llama3FreqFactors(o.HeadDim, o.RopeBase, 8, 1, 4, 8192)
		if err := w.AddTensor("rope_freqs.weight", ggml.F32, []uint64{uint64(len(ff))}, f32Bytes(ff)); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, g.errs...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// addVocab writes v as llama.cpp's tokenizer metadata.
func addVocab(w *gguf.Writer, v *tokenize.Vocab, chatTemplate string) error {
	var errs []error
	kv := func(k string, x any) {
		if err := w.AddKV(k, x); err != nil {
			errs = append(errs, err)
		}
	}
	kv("tokenizer.ggml.model", v.Model)
	if v.Pre != "" {
		kv("tokenizer.ggml.pre", v.Pre)
	}
	kv("tokenizer.ggml.tokens", v.Tokens)
	if v.Scores != nil {
		kv("tokenizer.ggml.scores", v.Scores)
	}
	if v.Types != nil {
		kv("tokenizer.ggml.token_type", v.Types)
	}
	if v.Merges != nil {
		kv("tokenizer.ggml.merges", v.Merges)
	}
	for _, id := range []struct {
		key string
		id  int32
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}, {"padding", v.PAD}, {"eot", v.EOT}, {"eom", v.EOM}} {
		if id.id >= 0 {
			kv("tokenizer.ggml."+id.key+"_token_id", uint32(id.id))
		}
	}
	if len(v.EOG) > 0 {
		kv("tokenizer.ggml.eog_token_ids", v.EOG)
	}
	kv("tokenizer.ggml.add_bos_token", v.AddBOS)
	kv("tokenizer.ggml.add_eos_token", v.AddEOS)
	if v.Model == tokenize.ModelSPM {
		kv("tokenizer.ggml.add_space_prefix", v.AddSpacePrefix)
	}
	tmpl := v.ChatTemplate
	if chatTemplate != "" {
		tmpl = chatTemplate
	}
	if tmpl != "" {
		kv("tokenizer.chat_template", tmpl)
	}
	return errors.Join(errs...)
}

// Llama3FreqFactors computes the rope_freqs tensor that llama.cpp's converter
// writes for Llama 3.1+ models (rope_scaling.rope_type "llama3"): per
// rotated pair, the factor its frequency is divided by.
func Llama3FreqFactors(dims int, base, factor, lowFreqFactor, highFreqFactor float64, origContext int) []float32 {
	lowWavelen := float64(origContext) / lowFreqFactor
	highWavelen := float64(origContext) / highFreqFactor
	out := make([]float32, dims/2)
	for i := range out {
		freq := 1 / math.Pow(base, float64(2*i)/float64(dims))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(factor)
		default:
			smooth := (float64(origContext)/wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

func f32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		u := math.Float32bits(v)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

// gen adds seeded tensors to a writer. Values are generated when the file is
// written, in chunks of rows whose random streams depend only on the seed,
// the tensor name and the chunk index.
type gen struct {
	seed uint64
	w    *gguf.Writer
	errs []error
}

const chunkRows = 64

// matrix adds a rows x cols tensor with uniform values in [-scale, scale).
func (g *gen) matrix(name string, t ggml.Type, cols, rows int, scale float64) {
	g.add(name, t, []uint64{uint64(cols), uint64(rows)}, 0, scale)
}

// norm adds a vector of values in [0.9, 1.1): close to one, but not one, so
// that a forward pass that skips or misplaces a norm weight shows.
func (g *gen) norm(name string, n int) { g.vector(name, n, 1, 0.1) }

func (g *gen) vector(name string, n int, offset, scale float64) {
	g.add(name, ggml.F32, []uint64{uint64(n)}, offset, scale)
}

func (g *gen) add(name string, t ggml.Type, dims []uint64, offset, scale float64) {
	cols, rows := int(dims[0]), 1
	if len(dims) > 1 {
		rows = int(dims[1])
	}
	rowSize, err := t.RowSize(cols)
	if err != nil {
		g.errs = append(g.errs, fmt.Errorf("tensor %s: %w", name, err))
		return
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	base := g.seed*0x9e3779b97f4a7c15 ^ h.Sum64()
	err = g.w.AddTensorFunc(name, t, dims, func(dst io.Writer) error {
		buf := make([]byte, rowSize*rows)
		chunks := (rows + chunkRows - 1) / chunkRows
		var wg sync.WaitGroup
		var next sync.Mutex
		ci := 0
		var firstErr error
		workers := min(runtime.GOMAXPROCS(0), chunks)
		for range workers {
			wg.Go(func() {
				src := make([]float32, cols*chunkRows)
				for {
					next.Lock()
					c := ci
					ci++
					next.Unlock()
					if c >= chunks {
						return
					}
					r := rng{s: base + uint64(c)*0xd1b54a32d192ed03}
					lo, hi := c*chunkRows, min(rows, (c+1)*chunkRows)
					vals := src[:(hi-lo)*cols]
					for i := range vals {
						vals[i] = float32(offset + scale*r.uniform())
					}
					if err := quantize(t, buf[lo*rowSize:hi*rowSize], vals); err != nil {
						next.Lock()
						firstErr = cmpErr(firstErr, err)
						next.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		if firstErr != nil {
			return fmt.Errorf("tensor %s: %w", name, firstErr)
		}
		_, err := dst.Write(buf)
		return err
	})
	if err != nil {
		g.errs = append(g.errs, err)
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// rng is splitmix64: fast, and its stream is fixed by its seed.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uniform returns a value in [-1, 1).
func (r *rng) uniform() float64 {
	return float64(int64(r.next())) / (1 << 63)
}

// quantize writes src, converted to type t, into dst.
func quantize(t ggml.Type, dst []byte, src []float32) error {
	b, err := kernels.Quantize(t, src)
	if err != nil {
		return err
	}
	if len(b) != len(dst) {
		return fmt.Errorf("quantized %d bytes, want %d", len(b), len(dst))
	}
	copy(dst, b)
	return nil
}
