package llama

import (
	"errors"
	"fmt"

	"github.com/silo-ai/silo/internal/engine/gguf"
)

// Architectures this package runs, as GGUF's general.architecture names them.
// Mistral, TinyLlama and SmolLM files use "llama".
const (
	ArchLlama = "llama"
	ArchQwen2 = "qwen2"
	ArchQwen3 = "qwen3"
)

// Architectures lists the supported architectures.
var Architectures = []string{ArchLlama, ArchQwen2, ArchQwen3}

// ErrUnsupported is returned (wrapped) for a model this package cannot run.
var ErrUnsupported = errors.New("unsupported model")

// Config holds a model's hyper-parameters, read from GGUF metadata with
// llama.cpp's key names ({arch}.block_count and so on).
type Config struct {
	Arch    string
	Layers  int // {arch}.block_count
	Hidden  int // {arch}.embedding_length
	FFN     int // {arch}.feed_forward_length
	Heads   int // {arch}.attention.head_count
	KVHeads int // {arch}.attention.head_count_kv (default Heads)
	HeadDim int // {arch}.attention.key_length (default Hidden/Heads)
	ValDim  int // {arch}.attention.value_length (default HeadDim)
	Vocab   int // rows of token_embd.weight
	Context int // {arch}.context_length

	NormEps float32 // {arch}.attention.layer_norm_rms_epsilon

	RopeBase        float32 // {arch}.rope.freq_base (default 10000)
	RopeDims        int     // {arch}.rope.dimension_count (default HeadDim)
	RopeNeoX        bool    // NeoX layout (qwen2, qwen3); normal for llama
	RopeScaling     string  // {arch}.rope.scaling.type: none, linear, yarn
	RopeScaleFactor float64 // {arch}.rope.scaling.factor
	RopeOrigContext int     // {arch}.rope.scaling.original_context_length
	RopeAttnFactor  float64 // {arch}.rope.scaling.attn_factor (default 1)
}

// ReadConfig reads the hyper-parameters of f. Vocab is set from the
// token_embd.weight tensor.
func ReadConfig(f *gguf.File) (Config, error) {
	var c Config
	arch, err := f.String("general.architecture")
	if err != nil {
		return c, fmt.Errorf("llama: config: %w", err)
	}
	switch arch {
	case ArchLlama:
	case ArchQwen2, ArchQwen3:
		c.RopeNeoX = true
	default:
		return c, fmt.Errorf("llama: config: architecture %q: %w", arch, ErrUnsupported)
	}
	c.Arch = arch
	k := func(s string) string { return arch + "." + s }

	var errs []error
	req := func(key string) int {
		v, err := f.Uint(k(key))
		if err != nil {
			errs = append(errs, err)
			return 0
		}
		if v == 0 || v > 1<<24 {
			errs = append(errs, fmt.Errorf("%s = %d out of range", k(key), v))
		}
		return int(v)
	}
	opt := func(key string, def int) int {
		v, err := f.Uint(k(key))
		if errors.Is(err, gguf.ErrNotFound) {
			return def
		}
		if err != nil {
			errs = append(errs, err)
			return def
		}
		if v == 0 || v > 1<<24 {
			errs = append(errs, fmt.Errorf("%s = %d out of range", k(key), v))
		}
		return int(v)
	}
	optF := func(key string, def float64) float64 {
		v, err := f.Float(k(key))
		if errors.Is(err, gguf.ErrNotFound) {
			return def
		}
		if err != nil {
			errs = append(errs, err)
			return def
		}
		return v
	}
	c.Layers = req("block_count")
	c.Hidden = req("embedding_length")
	c.FFN = req("feed_forward_length")
	c.Heads = req("attention.head_count")
	c.Context = opt("context_length", 4096)
	if len(errs) > 0 {
		return c, fmt.Errorf("llama: config: %w", errors.Join(errs...))
	}
	c.KVHeads = opt("attention.head_count_kv", c.Heads)
	c.HeadDim = opt("attention.key_length", c.Hidden/c.Heads)
	c.ValDim = opt("attention.value_length", c.HeadDim)
	c.RopeDims = opt("rope.dimension_count", c.HeadDim)
	c.NormEps = float32(optF("attention.layer_norm_rms_epsilon", 1e-5))
	c.RopeBase = float32(optF("rope.freq_base", 10000))
	c.RopeScaling = RopeScalingNone
	if s, err := f.String(k("rope.scaling.type")); err == nil {
		c.RopeScaling = s
	} else if !errors.Is(err, gguf.ErrNotFound) {
		errs = append(errs, err)
	}
	c.RopeScaleFactor = optF("rope.scaling.factor", 0)
	if c.RopeScaleFactor == 0 {
		// Older files give the linear scale directly.
		if s := optF("rope.scale_linear", 0); s > 0 {
			c.RopeScaling, c.RopeScaleFactor = RopeScalingLinear, s
		}
	}
	c.RopeOrigContext = opt("rope.scaling.original_context_length", 0)
	c.RopeAttnFactor = optF("rope.scaling.attn_factor", 1)

	t, err := f.Tensor("token_embd.weight")
	if err != nil {
		errs = append(errs, err)
	} else if len(t.Dims) != 2 {
		errs = append(errs, fmt.Errorf("token_embd.weight has %d dimensions, want 2", len(t.Dims)))
	} else {
		c.Vocab = int(min(t.Dims[1], 1<<31))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("llama: config: %w", errors.Join(errs...))
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Validate checks that the hyper-parameters are consistent.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("llama: config: "+format, args...)
	}
	switch {
	case c.Layers <= 0 || c.Hidden <= 0 || c.FFN <= 0 || c.Heads <= 0 || c.KVHeads <= 0 || c.Vocab <= 0:
		return bad("non-positive dimension in %+v", *c)
	case c.Heads%c.KVHeads != 0:
		return bad("head_count %d is not a multiple of head_count_kv %d", c.Heads, c.KVHeads)
	case c.HeadDim <= 0 || c.HeadDim%2 != 0:
		return bad("head dimension %d must be even and positive", c.HeadDim)
	case c.ValDim != c.HeadDim:
		return bad("value_length %d != key_length %d: %w", c.ValDim, c.HeadDim, ErrUnsupported)
	case c.RopeDims <= 0 || c.RopeDims > c.HeadDim || c.RopeDims%2 != 0:
		return bad("rope dimension_count %d invalid for head dimension %d", c.RopeDims, c.HeadDim)
	case c.RopeBase <= 0:
		return bad("rope freq_base %v must be positive", c.RopeBase)
	case !(c.NormEps > 0 && c.NormEps < 1):
		return bad("rms epsilon %v out of range", c.NormEps)
	case c.Context <= 0:
		return bad("context_length %d must be positive", c.Context)
	}
	switch c.RopeScaling {
	case RopeScalingNone, "":
	case RopeScalingLinear, RopeScalingYaRN:
		if c.RopeScaleFactor <= 0 {
			return bad("rope scaling %q needs a positive factor", c.RopeScaling)
		}
	default:
		return bad("rope scaling %q: %w", c.RopeScaling, ErrUnsupported)
	}
	return nil
}
