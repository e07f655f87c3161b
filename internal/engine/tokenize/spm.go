package tokenize

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SentencePiece encoding, as llama.cpp's llm_tokenizer_spm_session: the text
// (spaces escaped as ▁) starts as one symbol per UTF-8 character; the
// adjacent pair whose concatenation is the highest-scoring token is merged,
// leftmost first on ties, until no pair forms a token; a symbol that is not a
// token is written as byte tokens (<0xNN>).
//
// One deliberate difference: llama.cpp lets a merge form any token, so the
// plain text "<s>" can become the control token; here merges form only
// normal and user-defined tokens, so special tokens come only from
// Encode's parseSpecial. And an invalid UTF-8 byte is a symbol of its own
// (llama.cpp takes as many bytes as the lead byte announces, which can
// swallow an escaped space), so that decoding gives the input back.

func (t *Tokenizer) initSPM() {
	for b := range 256 {
		id, ok := t.ids[fmt.Sprintf("<0x%02X>", b)]
		if !ok {
			id, ok = t.ids[string([]byte{byte(b)})]
		}
		if !ok {
			id = t.vocab.UNK
		}
		t.byteTok[b] = id
	}
}

// spmToken is the id of text if a merge may produce it, else -1.
func (t *Tokenizer) spmToken(text string) int32 {
	id, ok := t.ids[text]
	if !ok {
		return -1
	}
	switch t.types[id] {
	case TypeNormal, TypeUserDefined:
		return id
	}
	return -1
}

type spmSymbol struct {
	start, end int   // byte range in the escaped text
	prev, next int   // neighbours in the chain, -1 at the ends
	id         int32 // token id, -1 if not a token
}

type spmBigram struct {
	left, right int
	score       float32
	size        int
	id          int32
}

func spmLess(a, b spmBigram) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	return a.left < b.left
}

func (t *Tokenizer) encodeSPM(raw string, spacePrefix bool, out []int32) []int32 {
	if spacePrefix {
		raw = " " + raw
	}
	text := strings.ReplaceAll(raw, " ", "▁")
	syms := make([]spmSymbol, 0, len(text))
	for off := 0; off < len(text); {
		_, n := utf8.DecodeRuneInString(text[off:])
		i := len(syms)
		next := i + 1
		if off+n == len(text) {
			next = -1
		}
		syms = append(syms, spmSymbol{start: off, end: off + n, prev: i - 1, next: next, id: t.spmToken(text[off : off+n])})
		off += n
	}
	q := queue[spmBigram]{less: spmLess}
	score := func(id int32) float32 {
		if t.vocab.Scores == nil {
			return 0
		}
		return t.vocab.Scores[id]
	}
	tryAdd := func(l, r int) {
		if l < 0 || r < 0 {
			return
		}
		id := t.spmToken(text[syms[l].start:syms[r].end])
		if id < 0 {
			return
		}
		q.push(spmBigram{left: l, right: r, score: score(id), size: syms[r].end - syms[l].start, id: id})
	}
	for i := 1; i < len(syms); i++ {
		tryAdd(i-1, i)
	}
	for q.len() > 0 {
		b := q.pop()
		l, r := &syms[b.left], &syms[b.right]
		if l.end == l.start || r.end == r.start || (r.end-r.start)+(l.end-l.start) != b.size || l.next != b.right {
			continue
		}
		l.end = r.end
		l.id = b.id
		r.start, r.end = 0, 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		tryAdd(l.prev, b.left)
		tryAdd(b.left, l.next)
	}
	for i := 0; i >= 0 && len(syms) > 0; i = syms[i].next {
		s := syms[i]
		if s.id >= 0 {
			out = append(out, s.id)
			continue
		}
		for j := s.start; j < s.end; j++ {
			if id := t.byteTok[text[j]]; id >= 0 {
				out = append(out, id)
			}
		}
	}
	return out
}
