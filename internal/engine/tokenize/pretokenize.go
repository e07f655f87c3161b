package tokenize

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The byte-level BPE pre-tokenizers. Each is the split llama.cpp applies for
// a tokenizer.ggml.pre value: one or more regular expressions, applied in
// order, each splitting every piece the previous one produced (text between
// matches is kept as pieces of its own, as llama.cpp's unicode_regex_split
// does). The expressions use \p{L}, \p{N} and the lookahead \s+(?!\S), which
// Go's regexp lacks, so each is a hand-written scanner over code points that
// follows llama.cpp's own custom splitters (unicode.cpp) rule for rule.
//
// Invalid UTF-8 bytes are scanned as one code point each of no letter,
// number or space class (llama.cpp substitutes U+FFFD; silo keeps the byte so
// that decoding gives the input back).

// Code point classes.
const (
	clsDefined uint8 = 1 << iota // any code point inside the scanned piece
	clsLetter                    // \p{L}
	clsNumber                    // \p{N}
	clsSpace                     // \s (Unicode White_Space)
)

const outOfRange = -1

// cpt is one code point of the text being split.
type cpt struct {
	r   rune
	off int32 // byte offset of the code point in the text
	cls uint8
}

var asciiClass [utf8.RuneSelf]uint8

func init() {
	for r := range rune(utf8.RuneSelf) {
		asciiClass[r] = classify(r)
	}
}

func classify(r rune) uint8 {
	c := clsDefined
	switch {
	case unicode.IsLetter(r):
		c |= clsLetter
	case unicode.IsNumber(r):
		c |= clsNumber
	}
	if unicode.IsSpace(r) {
		c |= clsSpace
	}
	return c
}

// decodeCpts splits text into code points; an invalid byte is one code point.
func decodeCpts(text string, buf []cpt) []cpt {
	buf = buf[:0]
	for i := 0; i < len(text); {
		b := text[i]
		if b < utf8.RuneSelf {
			buf = append(buf, cpt{r: rune(b), off: int32(i), cls: asciiClass[b]})
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		c := clsDefined
		if r != utf8.RuneError || n > 1 {
			c = classify(r)
		} else {
			r = -2 // an invalid byte: matches no class and no literal
		}
		buf = append(buf, cpt{r: r, off: int32(i), cls: c})
		i += n
	}
	return buf
}

// splitter is one pre-tokenizer stage: it appends to ends the end positions
// (code point indices) of the pieces of cps[lo:hi], the last one being hi.
type splitter func(cps []cpt, lo, hi int, ends []int) []int

// preTokenizer is the list of stages for one tokenizer.ggml.pre value.
type preTokenizer []splitter

// Pre-tokenizer families: llama.cpp maps many tokenizer.ggml.pre names onto
// the same splitting rules (llama-vocab.cpp); these are the names it gives
// each family that silo recognises.
var (
	preLlama3 = []string{"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"}
	preQwen2  = []string{"qwen2", "deepseek-r1-qwen"}
	preSmolLM = []string{"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"}
	preGPT2   = []string{"gpt2", "gpt-2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe"}
)

// preTokenizerFor returns the stages for a tokenizer.ggml.pre value, and
// whether a pre-token found whole in the vocabulary is taken as is
// (llama.cpp's ignore_merges, set for the Llama 3 family).
func preTokenizerFor(pre string) (stages preTokenizer, ignoreMerges bool, err error) {
	switch {
	case slices.Contains(preLlama3, pre):
		return preTokenizer{llama3Splitter(3)}, true, nil
	case slices.Contains(preQwen2, pre):
		return preTokenizer{llama3Splitter(1)}, false, nil
	case slices.Contains(preSmolLM, pre):
		return preTokenizer{eachSplitter(isNumber), splitGPT2}, false, nil
	case slices.Contains(preGPT2, pre):
		return preTokenizer{splitGPT2}, false, nil
	case pre == "default" || pre == "":
		return preTokenizer{
			runSplitter(isDefaultPunct), // [\p{P}\$\+<=>\^~\|]+
			splitGPT2,
			runSplitter(isNumber), // \p{N}+
			splitDigitTriples,     // [0-9][0-9][0-9]
		}, false, nil
	}
	return nil, false, fmt.Errorf("unsupported pre-tokenizer %q (supported: %s, default)", pre,
		strings.Join(slices.Concat(preLlama3, preQwen2, preSmolLM, preGPT2), ", "))
}

// split returns the pieces of text as byte ranges [start,end) packed in
// pairs. cps is scratch space reused between calls.
func (p preTokenizer) split(text string, cps []cpt) (pieces []int, scratch []cpt) {
	cps = decodeCpts(text, cps)
	ends := []int{len(cps)}
	for _, stage := range p {
		next := make([]int, 0, len(ends)*2)
		lo := 0
		for _, hi := range ends {
			if hi > lo {
				next = stage(cps, lo, hi, next)
			}
			lo = hi
		}
		ends = next
	}
	pieces = make([]int, 0, 2*len(ends))
	lo := 0
	for _, hi := range ends {
		if hi <= lo {
			continue
		}
		end := len(text)
		if hi < len(cps) {
			end = int(cps[hi].off)
		}
		pieces = append(pieces, int(cps[lo].off), end)
		lo = hi
	}
	return pieces, cps
}

// emitter records piece ends, skipping empty pieces, like llama.cpp's _add_token.
type emitter struct {
	prev int
	ends []int
}

func (e *emitter) add(end int) {
	if end > e.prev {
		e.ends = append(e.ends, end)
	}
	e.prev = end
}

// window gives bounds-checked access to cps[lo:hi].
type window struct {
	cps    []cpt
	lo, hi int
}

func (w window) r(p int) rune {
	if p >= w.lo && p < w.hi {
		return w.cps[p].r
	}
	return outOfRange
}

func (w window) cls(p int) uint8 {
	if p >= w.lo && p < w.hi {
		return w.cps[p].cls
	}
	return 0
}

// contraction reports the length (2 or 3) of 's|'t|'re|'ve|'m|'ll|'d at pos,
// or 0. fold makes it case-insensitive.
func (w window) contraction(pos int, fold bool) int {
	if w.r(pos) != '\'' || pos+1 >= w.hi {
		return 0
	}
	lower := func(r rune) rune {
		if fold && r >= 0 {
			return unicode.ToLower(r)
		}
		return r
	}
	n := lower(w.r(pos + 1))
	if n == 's' || n == 't' || n == 'm' || n == 'd' {
		return 2
	}
	if pos+2 < w.hi {
		nn := lower(w.r(pos + 2))
		if (n == 'r' && nn == 'e') || (n == 'v' && nn == 'e') || (n == 'l' && nn == 'l') {
			return 3
		}
	}
	return 0
}

const clsWLN = clsSpace | clsLetter | clsNumber

// splitGPT2 is 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
// (llama.cpp's unicode_regex_split_custom_gpt2).
func splitGPT2(cps []cpt, lo, hi int, ends []int) []int {
	w := window{cps, lo, hi}
	e := emitter{prev: lo, ends: ends}
	for pos := lo; pos < hi; {
		r, c := w.r(pos), w.cls(pos)
		if n := w.contraction(pos, false); n > 0 {
			pos += n
			e.add(pos)
			continue
		}
		c2 := c
		if r == ' ' {
			c2 = w.cls(pos + 1)
		}
		if c2&clsLetter != 0 || c2&clsNumber != 0 {
			want := c2 & (clsLetter | clsNumber)
			if r == ' ' {
				pos++
			}
			for c2&want != 0 {
				pos++
				c2 = w.cls(pos)
			}
			e.add(pos)
			continue
		}
		if c2&clsWLN == 0 && c2 != 0 {
			if r == ' ' {
				pos++
			}
			for c2&clsWLN == 0 && c2 != 0 {
				pos++
				c2 = w.cls(pos)
			}
			e.add(pos)
			continue
		}
		nws := 0
		for w.cls(pos+nws)&clsSpace != 0 {
			nws++
		}
		switch {
		case nws > 1 && w.r(pos+nws) != outOfRange:
			pos += nws - 1
		case nws > 0:
			pos += nws
		default:
			pos++
		}
		e.add(pos)
	}
	return e.ends
}

// llama3Splitter is
// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// (llama.cpp's unicode_regex_split_custom_llama3 with maxDigits 3 and
// unicode_regex_split_custom_qwen2 with maxDigits 1).
func llama3Splitter(maxDigits int) splitter {
	return func(cps []cpt, lo, hi int, ends []int) []int {
		w := window{cps, lo, hi}
		e := emitter{prev: lo, ends: ends}
		for pos := lo; pos < hi; {
			r, c := w.r(pos), w.cls(pos)
			if n := w.contraction(pos, true); n > 0 {
				pos += n
				e.add(pos)
				continue
			}
			// [^\r\n\p{L}\p{N}]?\p{L}+
			if !(r == '\r' || r == '\n' || c&clsNumber != 0) {
				if c&clsLetter != 0 || w.cls(pos+1)&clsLetter != 0 {
					pos++
					for w.cls(pos)&clsLetter != 0 {
						pos++
					}
					e.add(pos)
					continue
				}
			}
			// \p{N}{1,maxDigits}
			if c&clsNumber != 0 {
				ini := pos
				for w.cls(pos)&clsNumber != 0 {
					pos++
					if pos-ini >= maxDigits {
						e.add(pos)
						ini = pos
					}
				}
				e.add(pos)
				continue
			}
			// <space>?[^\s\p{L}\p{N}]+[\r\n]*
			c2 := c
			if r == ' ' {
				c2 = w.cls(pos + 1)
			}
			if c2&clsWLN == 0 && c != 0 {
				if r == ' ' {
					pos++
				}
				for c2&clsWLN == 0 && c2 != 0 {
					pos++
					c2 = w.cls(pos)
				}
				for r2 := w.r(pos); r2 == '\r' || r2 == '\n'; r2 = w.r(pos) {
					pos++
				}
				e.add(pos)
				continue
			}
			nws, lastRN := 0, -1
			for w.cls(pos+nws)&clsSpace != 0 {
				if r2 := w.r(pos + nws); r2 == '\r' || r2 == '\n' {
					lastRN = pos + nws + 1
				}
				nws++
			}
			switch {
			case lastRN >= 0: // \s*[\r\n]+
				pos = lastRN
			case nws > 1 && w.r(pos+nws) != outOfRange: // \s+(?!\S)
				pos += nws - 1
			case nws > 0: // \s+
				pos += nws
			default:
				pos++
			}
			e.add(pos)
		}
		return e.ends
	}
}

func isNumber(c cpt) bool { return c.cls&clsNumber != 0 }

func isDefaultPunct(c cpt) bool {
	return c.r >= 0 && (unicode.IsPunct(c.r) || strings.ContainsRune("$+<=>^~|", c.r))
}

// runSplitter splits out maximal runs of code points matching pred (pred+).
func runSplitter(pred func(cpt) bool) splitter {
	return func(cps []cpt, lo, hi int, ends []int) []int {
		e := emitter{prev: lo, ends: ends}
		for pos := lo; pos < hi; {
			start := pos
			for pos < hi && pred(cps[pos]) {
				pos++
			}
			if pos > start {
				e.add(pos)
				continue
			}
			for pos < hi && !pred(cps[pos]) {
				pos++
			}
			e.add(pos)
		}
		return e.ends
	}
}

// eachSplitter splits out every code point matching pred on its own.
func eachSplitter(pred func(cpt) bool) splitter {
	return func(cps []cpt, lo, hi int, ends []int) []int {
		e := emitter{prev: lo, ends: ends}
		for pos := lo; pos < hi; pos++ {
			if pred(cps[pos]) {
				e.add(pos)
				e.add(pos + 1)
			}
		}
		e.add(hi)
		return e.ends
	}
}

// splitDigitTriples splits out [0-9][0-9][0-9], leftmost first.
func splitDigitTriples(cps []cpt, lo, hi int, ends []int) []int {
	e := emitter{prev: lo, ends: ends}
	digit := func(p int) bool { return p < hi && cps[p].r >= '0' && cps[p].r <= '9' }
	for pos := lo; pos < hi; {
		if digit(pos) && digit(pos+1) && digit(pos+2) {
			e.add(pos)
			pos += 3
			e.add(pos)
			continue
		}
		pos++
	}
	e.add(hi)
	return e.ends
}
