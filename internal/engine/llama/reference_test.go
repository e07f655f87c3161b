package llama_test

import (
	"math"
	"testing"

	"github.com/silo-ai/silo/internal/engine/kernels"
	"github.com/silo-ai/silo/internal/engine/llama"
)

// This file holds a plain float64 forward pass, written for clarity rather
// than speed: it is what the optimised forward pass is checked against. It
// shares nothing with the package but the dequantized weights.

type refLayer struct {
	attnNorm, ffnNorm          []float64
	q, k, v, o, gate, up, down [][]float64 // [out][in]
	qb, kb, vb, ob             []float64
	qn, kn                     []float64
}

type refModel struct {
	c       llama.Config
	embd    [][]float64
	out     [][]float64
	outNorm []float64
	freqs   []float64 // llama3 frequency factors, or nil
	layers  []refLayer
}

func refMatrix(t *testing.T, w *kernels.Matrix) [][]float64 {
	t.Helper()
	rb := len(w.Data) / w.Rows
	out := make([][]float64, w.Rows)
	row := make([]float32, w.Cols)
	for r := range w.Rows {
		if err := kernels.DequantizeRow(w.Type, w.Data[r*rb:(r+1)*rb], row); err != nil {
			t.Fatal(err)
		}
		out[r] = f64(row)
	}
	return out
}

func f64(x []float32) []float64 {
	if x == nil {
		return nil
	}
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func newRef(t *testing.T, m *llama.Model) *refModel {
	r := &refModel{c: m.Config, embd: refMatrix(t, m.Embd), outNorm: f64(m.OutNorm), freqs: f64(m.RopeFreqs)}
	r.out = r.embd
	if !m.Tied {
		r.out = refMatrix(t, m.Output)
	}
	for _, l := range m.Layers {
		r.layers = append(r.layers, refLayer{
			attnNorm: f64(l.AttnNorm), ffnNorm: f64(l.FFNNorm),
			q: refMatrix(t, l.Q), k: refMatrix(t, l.K), v: refMatrix(t, l.V), o: refMatrix(t, l.O),
			gate: refMatrix(t, l.Gate), up: refMatrix(t, l.Up), down: refMatrix(t, l.Down),
			qb: f64(l.QBias), kb: f64(l.KBias), vb: f64(l.VBias), ob: f64(l.OBias),
			qn: f64(l.QNorm), kn: f64(l.KNorm),
		})
	}
	return r
}

func matVec(w [][]float64, x []float64, bias []float64) []float64 {
	y := make([]float64, len(w))
	for i, row := range w {
		s := 0.0
		for j, v := range row {
			s += v * x[j]
		}
		if bias != nil {
			s += bias[i]
		}
		y[i] = s
	}
	return y
}

func refRMSNorm(x, w []float64, eps float64) []float64 {
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+eps)
	y := make([]float64, len(x))
	for i := range x {
		y[i] = x[i] * s * w[i]
	}
	return y
}

// refRope rotates one head in place, following ggml's rope definition.
func (r *refModel) refRope(x []float64, pos int) {
	c := r.c
	dims := c.RopeDims
	freqScale, extFactor, mscale := 1.0, 0.0, 1.0
	var low, high float64
	switch c.RopeScaling {
	case llama.RopeScalingLinear:
		freqScale = 1 / c.RopeScaleFactor
	case llama.RopeScalingYaRN:
		freqScale = 1 / c.RopeScaleFactor
		extFactor = 1
		nctx := float64(c.RopeOrigContext)
		corr := func(beta float64) float64 {
			return float64(dims) * math.Log(nctx/(beta*2*math.Pi)) / (2 * math.Log(float64(c.RopeBase)))
		}
		low = max(0, math.Floor(corr(32)))
		high = min(float64(dims-1), math.Ceil(corr(1)))
		mscale = c.RopeAttnFactor * (1 + 0.1*math.Log(c.RopeScaleFactor))
	}
	for i := range dims / 2 {
		extrap := float64(pos) * math.Pow(float64(c.RopeBase), -2*float64(i)/float64(dims))
		if r.freqs != nil {
			extrap /= r.freqs[i]
		}
		theta := freqScale * extrap
		if extFactor != 0 {
			ramp := 1 - min(1, max(0, (float64(i)-low)/max(0.001, high-low)))
			theta = theta*(1-ramp) + extrap*ramp
		}
		cos, sin := math.Cos(theta)*mscale, math.Sin(theta)*mscale
		a, b := 2*i, 2*i+1 // normal: adjacent pairs
		if c.RopeNeoX {
			a, b = i, i+dims/2 // NeoX: first half with second half
		}
		x0, x1 := x[a], x[b]
		x[a] = x0*cos - x1*sin
		x[b] = x0*sin + x1*cos
	}
}

// forward returns the logits after each of tokens, processed as one sequence.
func (r *refModel) forward(tokens []int) [][]float64 {
	c := r.c
	eps := float64(c.NormEps)
	d := c.HeadDim
	group := c.Heads / c.KVHeads
	keys := make([][][]float64, c.Layers) // [layer][pos] -> kvDim
	vals := make([][][]float64, c.Layers)
	var logits [][]float64
	for pos, tok := range tokens {
		x := append([]float64(nil), r.embd[tok]...)
		for li, l := range r.layers {
			xn := refRMSNorm(x, l.attnNorm, eps)
			q := matVec(l.q, xn, l.qb)
			k := matVec(l.k, xn, l.kb)
			v := matVec(l.v, xn, l.vb)
			for h := range c.Heads {
				qh := q[h*d : (h+1)*d]
				if l.qn != nil {
					copy(qh, refRMSNorm(qh, l.qn, eps))
				}
				r.refRope(qh, pos)
			}
			for h := range c.KVHeads {
				kh := k[h*d : (h+1)*d]
				if l.kn != nil {
					copy(kh, refRMSNorm(kh, l.kn, eps))
				}
				r.refRope(kh, pos)
			}
			keys[li] = append(keys[li], k)
			vals[li] = append(vals[li], v)
			att := make([]float64, c.Heads*d)
			for h := range c.Heads {
				kvh := h / group
				qh := q[h*d : (h+1)*d]
				scores := make([]float64, pos+1)
				m := math.Inf(-1)
				for t := range pos + 1 {
					s := 0.0
					for i := range d {
						s += qh[i] * keys[li][t][kvh*d+i]
					}
					scores[t] = s / math.Sqrt(float64(d))
					m = max(m, scores[t])
				}
				sum := 0.0
				for t := range scores {
					scores[t] = math.Exp(scores[t] - m)
					sum += scores[t]
				}
				for t := range scores {
					for i := range d {
						att[h*d+i] += scores[t] / sum * vals[li][t][kvh*d+i]
					}
				}
			}
			o := matVec(l.o, att, l.ob)
			for i := range x {
				x[i] += o[i]
			}
			xn = refRMSNorm(x, l.ffnNorm, eps)
			g := matVec(l.gate, xn, nil)
			u := matVec(l.up, xn, nil)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			dn := matVec(l.down, g, nil)
			for i := range x {
				x[i] += dn[i]
			}
		}
		logits = append(logits, matVec(r.out, refRMSNorm(x, r.outNorm, eps), nil))
	}
	return logits
}

// hidden returns the final normalised hidden state after each token.
func (r *refModel) hiddenStates(tokens []int) [][]float64 {
	saved := r.out
	defer func() { r.out = saved }()
	// An identity "output matrix" turns logits into hidden states.
	id := make([][]float64, r.c.Hidden)
	for i := range id {
		id[i] = make([]float64, r.c.Hidden)
		id[i][i] = 1
	}
	r.out = id
	return r.forward(tokens)
}
