package llama

import "math"

// Rope scaling types, as GGUF names them in {arch}.rope.scaling.type.
const (
	RopeScalingNone   = "none"
	RopeScalingLinear = "linear"
	RopeScalingYaRN   = "yarn"
)

// rope holds what rotary position embedding needs for one model: the per-pair
// inverse frequencies (freq_base^(-2i/dims), divided by llama3 frequency
// factors when the model has them), and YaRN's interpolation parameters.
// It follows ggml's rope operator (ggml_rope_ext) exactly, in float64, and
// caches the cos/sin of positions it has seen.
type rope struct {
	dims      int  // rotated dimensions per head (<= head dim)
	neox      bool // NeoX layout: pairs (i, i+dims/2); normal: (2i, 2i+1)
	invFreq   []float64
	freqScale float64 // 1/linear factor
	extFactor float64 // YaRN extrapolation mix; 0: off
	mscale    float64 // cos/sin multiplier (YaRN attention factor)
	corrLow   float64
	corrHigh  float64

	// table[pos] = interleaved cos, sin for each pair (float32).
	table [][]float32
}

func newRope(c *Config, freqFactors []float32) *rope {
	r := &rope{dims: c.RopeDims, neox: c.RopeNeoX, freqScale: 1, mscale: 1}
	half := r.dims / 2
	r.invFreq = make([]float64, half)
	for i := range half {
		f := math.Pow(float64(c.RopeBase), -2*float64(i)/float64(r.dims))
		if i < len(freqFactors) && freqFactors[i] != 0 {
			f /= float64(freqFactors[i])
		}
		r.invFreq[i] = f
	}
	switch c.RopeScaling {
	case RopeScalingLinear:
		if c.RopeScaleFactor > 0 {
			r.freqScale = 1 / c.RopeScaleFactor
		}
	case RopeScalingYaRN:
		if c.RopeScaleFactor > 0 {
			r.freqScale = 1 / c.RopeScaleFactor
		}
		r.extFactor = 1
		nctx := float64(c.RopeOrigContext)
		if nctx <= 0 {
			nctx = float64(c.Context)
		}
		// ggml_rope_yarn_corr_dims with beta_fast 32, beta_slow 1.
		corr := func(beta float64) float64 {
			return float64(r.dims) * math.Log(nctx/(beta*2*math.Pi)) / (2 * math.Log(float64(c.RopeBase)))
		}
		r.corrLow = max(0, math.Floor(corr(32)))
		r.corrHigh = min(float64(r.dims-1), math.Ceil(corr(1)))
		r.mscale = c.RopeAttnFactor * (1 + 0.1*math.Log(1/r.freqScale))
	}
	return r
}

// angles returns cos/sin pairs for position pos (computed once, then cached).
func (r *rope) angles(pos int) []float32 {
	if pos < len(r.table) && r.table[pos] != nil {
		return r.table[pos]
	}
	cs := make([]float32, r.dims)
	for i, f := range r.invFreq {
		extrap := float64(pos) * f
		theta := r.freqScale * extrap
		if r.extFactor != 0 {
			y := (float64(i) - r.corrLow) / max(0.001, r.corrHigh-r.corrLow)
			ramp := (1 - min(1, max(0, y))) * r.extFactor
			theta = theta*(1-ramp) + extrap*ramp
		}
		cs[2*i] = float32(math.Cos(theta) * r.mscale)
		cs[2*i+1] = float32(math.Sin(theta) * r.mscale)
	}
	return cs
}

// warm fills the cache up to n positions. It is not safe to call
// concurrently with apply; the forward pass calls it before going parallel.
func (r *rope) warm(n int) {
	if n <= len(r.table) {
		return
	}
	t := make([][]float32, max(n, 2*len(r.table)))
	copy(t, r.table)
	for p := len(r.table); p < len(t); p++ {
		t[p] = r.angles(p)
	}
	r.table = t
}

// apply rotates one head vector x (length >= dims) at position pos.
func (r *rope) apply(x []float32, pos int) {
	cs := r.table[pos]
	half := r.dims / 2
	if r.neox {
		a, b := x[:half], x[half:r.dims]
		for i := range half {
			c, s := cs[2*i], cs[2*i+1]
			x0, x1 := a[i], b[i]
			a[i] = x0*c - x1*s
			b[i] = x0*s + x1*c
		}
		return
	}
	for i := range half {
		c, s := cs[2*i], cs[2*i+1]
		x0, x1 := x[2*i], x[2*i+1]
		x[2*i] = x0*c - x1*s
		x[2*i+1] = x0*s + x1*c
	}
}
