package llama

import "fmt"

// CacheType is the element type of a sequence's KV cache. The zero value is
// CacheF16.
type CacheType int

const (
	// CacheF16 keeps keys and values as IEEE half floats: half the memory
	// of float32, rounding each element to 11 significant bits (llama.cpp's
	// default).
	CacheF16 CacheType = iota
	// CacheF32 keeps them as float32 (exact).
	CacheF32
)

func (t CacheType) String() string {
	switch t {
	case CacheF32:
		return "f32"
	case CacheF16:
		return "f16"
	}
	return fmt.Sprintf("CacheType(%d)", int(t))
}

// ParseCacheType parses "f32" or "f16".
func ParseCacheType(s string) (CacheType, error) {
	switch s {
	case "f32":
		return CacheF32, nil
	case "f16", "":
		return CacheF16, nil
	}
	return 0, fmt.Errorf("llama: unknown cache type %q (want f16 or f32)", s)
}

// Sequence is the state of one token sequence: its KV cache. Positions are
// consecutive from 0; Forward appends. Memory grows with the sequence (in
// steps) up to the model's context length. A Sequence is used by one
// forward pass at a time.
type Sequence struct {
	m     *Model
	typ   CacheType
	n     int // tokens in the cache
	limit int // most tokens the sequence may hold
	kvDim int
	cap   int // positions allocated
	k32   [][]float32
	v32   [][]float32
	k16   [][]uint16
	v16   [][]uint16
}

// NewSequence returns an empty sequence that may hold up to limit tokens
// (0 or more than the context length: the context length).
func (m *Model) NewSequence(typ CacheType, limit int) *Sequence {
	if limit <= 0 || limit > m.Config.Context {
		limit = m.Config.Context
	}
	s := &Sequence{m: m, typ: typ, limit: limit, kvDim: m.Config.KVHeads * m.Config.HeadDim}
	if typ == CacheF16 {
		s.k16 = make([][]uint16, m.Config.Layers)
		s.v16 = make([][]uint16, m.Config.Layers)
	} else {
		s.k32 = make([][]float32, m.Config.Layers)
		s.v32 = make([][]float32, m.Config.Layers)
	}
	return s
}

// Len returns the number of tokens in the sequence.
func (s *Sequence) Len() int { return s.n }

// Limit returns the most tokens the sequence may hold.
func (s *Sequence) Limit() int { return s.limit }

// Truncate drops tokens from position n on (to reuse a common prefix).
func (s *Sequence) Truncate(n int) {
	if n >= 0 && n < s.n {
		s.n = n
	}
}

// Cap returns the number of positions the cache has room for now.
func (s *Sequence) Cap() int { return s.cap }

// Bytes returns the memory the cache holds now.
func (s *Sequence) Bytes() int {
	el := 4
	if s.typ == CacheF16 {
		el = 2
	}
	return 2 * s.m.Config.Layers * s.cap * s.kvDim * el
}

// reserve makes room for n positions.
func (s *Sequence) reserve(n int) {
	if n <= s.cap {
		return
	}
	c := max(n, min(s.limit, max(2*s.cap, 64)))
	for l := range s.m.Config.Layers {
		if s.typ == CacheF16 {
			s.k16[l] = grow16(s.k16[l], s.n*s.kvDim, c*s.kvDim)
			s.v16[l] = grow16(s.v16[l], s.n*s.kvDim, c*s.kvDim)
		} else {
			s.k32[l] = grow32(s.k32[l], s.n*s.kvDim, c*s.kvDim)
			s.v32[l] = grow32(s.v32[l], s.n*s.kvDim, c*s.kvDim)
		}
	}
	s.cap = c
}

func grow32(old []float32, used, n int) []float32 {
	b := make([]float32, n)
	copy(b, old[:min(used, len(old))])
	return b
}

func grow16(old []uint16, used, n int) []uint16 {
	b := make([]uint16, n)
	copy(b, old[:min(used, len(old))])
	return b
}

// store writes the key and value of position pos in layer l.
func (s *Sequence) store(l, pos int, k, v []float32) {
	off := pos * s.kvDim
	if s.typ == CacheF16 {
		f32ToF16s(s.k16[l][off:off+s.kvDim], k)
		f32ToF16s(s.v16[l][off:off+s.kvDim], v)
		return
	}
	copy(s.k32[l][off:off+s.kvDim], k)
	copy(s.v32[l][off:off+s.kvDim], v)
}

// attend computes, for the query heads q (group heads sharing KV head kvh,
// each HeadDim long, laid out one after another), softmax(q·K/sqrt(d))·V over
// positions [0, n) of layer l, writing into out (same layout as q). scores
// is scratch space of at least n floats; buf of at least HeadDim.
func (s *Sequence) attend(l, kvh, n int, q, out []float32, group int, scale float32, scores, buf []float32) {
	d := s.m.Config.HeadDim
	base := kvh * d
	sc := scores[:n]
	for g := range group {
		qh := q[g*d : (g+1)*d]
		s.scores(l, base, qh, scale, sc, buf[:d])
		softmaxInPlace(sc)
		oh := out[g*d : (g+1)*d]
		clear(oh)
		s.weightedSum(l, base, sc, oh, buf[:d])
	}
}

// scores sets out[t] = scale * q·K[t] for the head at offset base.
func (s *Sequence) scores(l, base int, q []float32, scale float32, out, buf []float32) {
	n, d, st := len(out), len(q), s.kvDim
	if s.typ == CacheF16 {
		k := s.k16[l][base:]
		if scoresF16Asm(q, k, st, n, scale, out) {
			return
		}
		for t := range n {
			f16ToF32s(buf, k[t*st:t*st+d])
			out[t] = dot(q, buf) * scale
		}
		return
	}
	k := s.k32[l][base:]
	if scoresF32Asm(q, k, st, n, scale, out) {
		return
	}
	for t := range n {
		out[t] = dot(q, k[t*st:t*st+d]) * scale
	}
}

// weightedSum adds sum over t of p[t]*V[t] to out for the head at base.
func (s *Sequence) weightedSum(l, base int, p, out, buf []float32) {
	d, st := len(out), s.kvDim
	if s.typ == CacheF16 {
		v := s.v16[l][base:]
		if wsumF16Asm(p, v, st, out) {
			return
		}
		for t, pt := range p {
			f16ToF32s(buf, v[t*st:t*st+d])
			axpy(pt, buf, out)
		}
		return
	}
	v := s.v32[l][base:]
	if wsumF32Asm(p, v, st, out) {
		return
	}
	for t, pt := range p {
		axpy(pt, v[t*st:t*st+d], out)
	}
}
