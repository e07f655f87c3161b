// Package tokenize turns text into token ids and back for the built-in
// engine, the way llama.cpp does for a GGUF file's tokenizer.ggml.* metadata.
//
// Two tokenizer models are supported: SentencePiece (tokenizer.ggml.model
// "llama": spaces escaped as ▁, a space prefix, score-driven bigram merges,
// <0xNN> byte fallback) and byte-level BPE ("gpt2": a pre-tokenizer split
// chosen by tokenizer.ggml.pre, bytes mapped to printable code points, merges
// by rank). Both follow llama.cpp's llama-vocab.cpp algorithm for algorithm,
// so the ids match what llama.cpp (and, on the test vectors, Hugging Face
// tokenizers) produces. Like llama.cpp, it applies no Unicode normalization
// (Qwen's tokenizer.json asks for NFC; e + U+0301 then tokenizes apart from
// é).
//
// Promises: Encode never panics, on any input; for a byte-level BPE
// vocabulary holding all 256 byte tokens, Decode(Encode(s, false)) == s for
// every s, invalid UTF-8 included; for SentencePiece with byte fallback the
// same holds for every s without a literal ▁ (U+2581). A Tokenizer is immutable after
// New and safe for concurrent use.
//
// The package reads no files: the llama package maps GGUF metadata into a
// Vocab, and VocabFromHF converts Hugging Face tokenizer files (for tests
// and the model generator).
package tokenize

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Tokenizer encodes and decodes text for one Vocab.
type Tokenizer struct {
	vocab *Vocab
	ids   map[string]int32 // token text -> id (first id wins on duplicates)
	types []int32

	pieces  []byte  // decoded bytes of every token, concatenated
	pieceAt []int32 // pieces[pieceAt[i]:pieceAt[i+1]] is token i's piece

	specials []int32 // control, user-defined and unknown tokens, longest text first
	eog      map[int32]bool

	// SentencePiece.
	byteTok [256]int32 // <0xNN> token (or the one-byte token, or UNK, or -1)

	// Byte-level BPE.
	pre          preTokenizer
	ignoreMerges bool             // take a pre-token found whole in the vocab as is (llama3)
	merges       map[uint64]int32 // left id<<32 | right id -> rank
	mergeResult  []int32          // rank -> id of the merged token, -1 if not a token
	byteChar     [256]int32       // byte -> token id of its byte-level code point
	cache        wordCache
	sessions     sync.Pool
}

// End-of-generation tokens llama.cpp recognises by their text.
var eogTexts = []string{
	"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
	"<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
	"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<|repo_name|>", "<fim-repo>", "<|file_sep|>", "<fim-sep>",
}

// New checks v and builds its tokenizer. v must not be changed afterwards.
func New(v *Vocab) (*Tokenizer, error) {
	if v == nil {
		return nil, fmt.Errorf("tokenize: new: nil vocab")
	}
	if err := v.validate(); err != nil {
		return nil, fmt.Errorf("tokenize: new: %w", err)
	}
	n := len(v.Tokens)
	t := &Tokenizer{vocab: v, ids: make(map[string]int32, n), types: make([]int32, n)}
	for i, s := range v.Tokens {
		t.types[i] = v.tokenType(i)
		if _, dup := t.ids[s]; !dup {
			t.ids[s] = int32(i)
		}
	}
	for i, s := range v.Tokens {
		switch t.types[i] {
		case TypeControl, TypeUserDefined, TypeUnknown:
			if s != "" {
				t.specials = append(t.specials, int32(i))
			}
		}
	}
	slices.SortStableFunc(t.specials, func(a, b int32) int {
		return cmp.Compare(len(v.Tokens[b]), len(v.Tokens[a]))
	})

	t.eog = map[int32]bool{}
	for _, id := range []int32{v.EOS, v.EOT, v.EOM} {
		if id >= 0 {
			t.eog[id] = true
		}
	}
	for _, id := range v.EOG {
		t.eog[id] = true
	}
	for _, s := range eogTexts {
		if id, ok := t.ids[s]; ok && (t.types[id] == TypeControl || t.types[id] == TypeUserDefined) {
			t.eog[id] = true
		}
	}

	var err error
	switch v.Model {
	case ModelSPM:
		t.initSPM()
	case ModelBPE:
		err = t.initBPE()
	}
	if err != nil {
		return nil, fmt.Errorf("tokenize: new: %w", err)
	}
	t.initPieces()
	return t, nil
}

// Len is the number of tokens in the vocabulary.
func (t *Tokenizer) Len() int { return len(t.vocab.Tokens) }

// Vocab returns the vocabulary the tokenizer was built from; do not modify it.
func (t *Tokenizer) Vocab() *Vocab { return t.vocab }

// BOS is the beginning-of-sequence id, -1 if none.
func (t *Tokenizer) BOS() int32 { return t.vocab.BOS }

// EOS is the end-of-sequence id, -1 if none.
func (t *Tokenizer) EOS() int32 { return t.vocab.EOS }

// IsEOG reports whether id ends generation: EOS, EOT, EOM, the Vocab's EOG
// list, and end-of-turn tokens known by their text (<|eot_id|>, <|im_end|>,
// <end_of_turn>, <|end|>, <|endoftext|>, ...).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// IsControl reports whether id is a control (special) token.
func (t *Tokenizer) IsControl(id int32) bool {
	return id >= 0 && int(id) < len(t.types) && t.types[id] == TypeControl
}

// AddSpecial returns ids with BOS put in front when the vocabulary asks for
// it (AddBOS) and ids does not already start with BOS (a chat template often
// writes it), and EOS appended when it asks for that (AddEOS).
func (t *Tokenizer) AddSpecial(ids []int32) []int32 {
	out := make([]int32, 0, len(ids)+2)
	if t.vocab.AddBOS && (len(ids) == 0 || ids[0] != t.vocab.BOS) {
		out = append(out, t.vocab.BOS)
	}
	out = append(out, ids...)
	if t.vocab.AddEOS {
		out = append(out, t.vocab.EOS)
	}
	return out
}

// Encode returns the token ids of text, without BOS/EOS (see AddSpecial).
// When parseSpecial is true, the text of control tokens (<|eot_id|>, <s>, ...)
// becomes those tokens; when false it is tokenized as plain text. The text of
// user-defined tokens always becomes those tokens, as in llama.cpp.
func (t *Tokenizer) Encode(text string, parseSpecial bool) []int32 {
	if text == "" {
		return []int32{}
	}
	out := make([]int32, 0, len(text)/3+1)
	prevSpecial := true // SentencePiece: the start of input counts as after a special token
	for _, f := range t.partition(text, parseSpecial) {
		if f.id >= 0 {
			out = append(out, f.id)
			prevSpecial = true
			continue
		}
		raw := text[f.start:f.end]
		switch t.vocab.Model {
		case ModelSPM:
			out = t.encodeSPM(raw, t.vocab.AddSpacePrefix && prevSpecial, out)
		case ModelBPE:
			out = t.encodeBPE(raw, out)
		}
		prevSpecial = false
	}
	return out
}

// fragment is a piece of the input: a special token (id >= 0) or raw text.
type fragment struct {
	id         int32
	start, end int
}

// partition splits text at occurrences of special tokens, longest token
// first, as llama.cpp's tokenizer_st_partition does.
func (t *Tokenizer) partition(text string, parseSpecial bool) []fragment {
	frags := []fragment{{id: -1, start: 0, end: len(text)}}
	for _, id := range t.specials {
		typ := t.types[id]
		if !parseSpecial && (typ == TypeControl || typ == TypeUnknown) {
			continue
		}
		tok := t.vocab.Tokens[id]
		if !strings.Contains(text, tok) {
			continue
		}
		var next []fragment
		for _, f := range frags {
			if f.id >= 0 {
				next = append(next, f)
				continue
			}
			start := f.start
			for start < f.end {
				i := strings.Index(text[start:f.end], tok)
				if i < 0 {
					break
				}
				if i > 0 {
					next = append(next, fragment{id: -1, start: start, end: start + i})
				}
				next = append(next, fragment{id: id, start: start + i, end: start + i + len(tok)})
				start += i + len(tok)
			}
			if start < f.end {
				next = append(next, fragment{id: -1, start: start, end: f.end})
			}
		}
		frags = next
	}
	return frags
}

// Piece returns the bytes token id stands for: a SentencePiece token with ▁
// turned into a space, a byte token's byte, a byte-level BPE token's bytes,
// or the text of a control or user-defined token. Pieces of consecutive
// tokens may split a UTF-8 sequence; concatenate them before display. An id
// out of range gives nil.
func (t *Tokenizer) Piece(id int32) []byte {
	if id < 0 || int(id) >= len(t.vocab.Tokens) {
		return nil
	}
	return t.pieces[t.pieceAt[id]:t.pieceAt[id+1]:t.pieceAt[id+1]]
}

// Decode returns the text of ids: the concatenated pieces, less the one
// leading space a SentencePiece vocabulary with AddSpacePrefix puts in front
// of the text. Ids out of range are skipped.
func (t *Tokenizer) Decode(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		p := t.Piece(id)
		if i == 0 && t.vocab.Model == ModelSPM && t.vocab.AddSpacePrefix && len(p) > 0 && p[0] == ' ' {
			p = p[1:]
		}
		b.Write(p)
	}
	return b.String()
}

func (t *Tokenizer) initPieces() {
	v := t.vocab
	t.pieceAt = make([]int32, len(v.Tokens)+1)
	var buf []byte
	for i, s := range v.Tokens {
		t.pieceAt[i] = int32(len(buf))
		switch t.types[i] {
		case TypeControl, TypeUserDefined, TypeUnknown:
			buf = append(buf, s...)
		case TypeUnused:
		case TypeByte:
			if b, ok := parseByteToken(s); ok {
				buf = append(buf, b)
			} else if v.Model == ModelBPE {
				buf = appendByteDecoded(buf, s)
			} else {
				buf = append(buf, s...)
			}
		default:
			if v.Model == ModelSPM {
				buf = append(buf, strings.ReplaceAll(s, "▁", " ")...)
			} else {
				buf = appendByteDecoded(buf, s)
			}
		}
	}
	t.pieceAt[len(v.Tokens)] = int32(len(buf))
	t.pieces = buf
}

// parseByteToken parses "<0xNN>".
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(s[3])
	lo, ok2 := hexVal(s[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
