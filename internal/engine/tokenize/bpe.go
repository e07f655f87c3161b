package tokenize

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Byte-level BPE encoding, as llama.cpp's llm_tokenizer_bpe_session: the
// pre-tokenizer splits the text into words; each word's bytes are mapped to
// printable code points (GPT-2's bytes_to_unicode); a word that is a token as
// a whole is taken as is when the pre-tokenizer asks for it (llama3's
// ignore_merges); otherwise the word starts as one symbol per byte and the
// adjacent pair with the lowest merge rank is merged, leftmost first on
// ties, until no pair has a merge.

// byteRune is GPT-2's bytes_to_unicode table; runeByte is its inverse.
var (
	byteRune [256]rune
	runeByte = map[rune]byte{}
)

func init() {
	n := 0
	for b := range 256 {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			byteRune[b] = rune(b)
		} else {
			byteRune[b] = rune(256 + n)
			n++
		}
		runeByte[byteRune[b]] = byte(b)
	}
}

// appendByteDecoded appends the bytes a byte-level token text stands for. A
// code point outside the byte table is copied as UTF-8.
func appendByteDecoded(dst []byte, s string) []byte {
	for _, r := range s {
		if b, ok := runeByte[r]; ok {
			dst = append(dst, b)
		} else {
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}

func (t *Tokenizer) initBPE() error {
	v := t.vocab
	pre, ignoreMerges, err := preTokenizerFor(v.Pre)
	if err != nil {
		return err
	}
	t.pre, t.ignoreMerges = pre, ignoreMerges
	for b := range 256 {
		id, ok := t.ids[string(byteRune[b])]
		if !ok {
			id = -1
		}
		t.byteChar[b] = id
	}
	t.merges = make(map[uint64]int32, len(v.Merges))
	t.mergeResult = make([]int32, len(v.Merges))
	for rank, m := range v.Merges {
		t.mergeResult[rank] = -1
		sp := -1
		if len(m) > 1 {
			sp = strings.IndexByte(m[1:], ' ') + 1
		}
		if sp <= 0 {
			return fmt.Errorf("merge %d %q: no space between the two parts", rank, m)
		}
		l, okl := t.ids[m[:sp]]
		r, okr := t.ids[m[sp+1:]]
		if !okl || !okr {
			continue // a merge of non-tokens can never apply
		}
		key := uint64(uint32(l))<<32 | uint64(uint32(r))
		if _, dup := t.merges[key]; dup {
			continue
		}
		t.merges[key] = int32(rank)
		if id, ok := t.ids[m[:sp]+m[sp+1:]]; ok {
			t.mergeResult[rank] = id
		}
	}
	t.cache.m = map[string][]int32{}
	t.sessions.New = func() any {
		return &bpeSession{q: queue[bpeBigram]{less: bpeLess}}
	}
	return nil
}

type bpeSymbol struct {
	start, end int // byte range in the word
	prev, next int
	id         int32 // -1: not a token (only after a merge whose result is not one)
}

type bpeBigram struct {
	left, right int
	rank        int32
	lid, rid    int32
}

func bpeLess(a, b bpeBigram) bool {
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.left < b.left
}

// bpeSession is per-call scratch space, pooled.
type bpeSession struct {
	cps  []cpt
	syms []bpeSymbol
	q    queue[bpeBigram]
	enc  []byte
}

func (t *Tokenizer) encodeBPE(raw string, out []int32) []int32 {
	s := t.sessions.Get().(*bpeSession)
	defer t.sessions.Put(s)
	var pieces []int
	pieces, s.cps = t.pre.split(raw, s.cps)
	for i := 0; i < len(pieces); i += 2 {
		word := raw[pieces[i]:pieces[i+1]]
		if ids, ok := t.cache.get(word); ok {
			out = append(out, ids...)
			continue
		}
		n := len(out)
		out = t.bpeWord(s, word, out)
		t.cache.put(word, out[n:])
	}
	return out
}

func (t *Tokenizer) bpeWord(s *bpeSession, word string, out []int32) []int32 {
	if t.ignoreMerges {
		s.enc = s.enc[:0]
		for i := 0; i < len(word); i++ {
			s.enc = utf8.AppendRune(s.enc, byteRune[word[i]])
		}
		if id, ok := t.ids[string(s.enc)]; ok && t.types[id] == TypeNormal {
			return append(out, id)
		}
	}
	syms := s.syms[:0]
	for i := 0; i < len(word); i++ {
		next := i + 1
		if next == len(word) {
			next = -1
		}
		syms = append(syms, bpeSymbol{start: i, end: i + 1, prev: i - 1, next: next, id: t.byteChar[word[i]]})
	}
	s.syms = syms
	q := &s.q
	q.reset()
	add := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		lid, rid := syms[l].id, syms[r].id
		if lid < 0 || rid < 0 {
			return
		}
		rank, ok := t.merges[uint64(uint32(lid))<<32|uint64(uint32(rid))]
		if !ok {
			return
		}
		q.push(bpeBigram{left: l, right: r, rank: rank, lid: lid, rid: rid})
	}
	for i := 1; i < len(syms); i++ {
		add(i-1, i)
	}
	for q.len() > 0 {
		b := q.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.end == l.start || r.end == r.start || l.next != b.right || l.id != b.lid || r.id != b.rid {
			continue // outdated
		}
		l.end = r.end
		l.id = t.mergeResult[b.rank]
		r.start, r.end = 0, 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		add(l.prev, b.left)
		add(b.left, l.next)
	}
	for i := 0; i >= 0 && len(syms) > 0; i = syms[i].next {
		sym := syms[i]
		if sym.id >= 0 {
			out = append(out, sym.id)
			continue
		}
		for j := sym.start; j < sym.end; j++ {
			if id := t.byteChar[word[j]]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}

// wordCache remembers the ids of recently seen words. It is bounded: when
// full it starts over.
type wordCache struct {
	mu sync.Mutex
	m  map[string][]int32
}

const (
	cacheMaxWords   = 1 << 16
	cacheMaxWordLen = 64
)

func (c *wordCache) get(w string) ([]int32, bool) {
	if len(w) > cacheMaxWordLen {
		return nil, false
	}
	c.mu.Lock()
	ids, ok := c.m[w]
	c.mu.Unlock()
	return ids, ok
}

func (c *wordCache) put(w string, ids []int32) {
	if len(w) > cacheMaxWordLen {
		return
	}
	ids = append([]int32(nil), ids...)
	c.mu.Lock()
	if len(c.m) >= cacheMaxWords {
		clear(c.m)
	}
	c.m[strings.Clone(w)] = ids
	c.mu.Unlock()
}
