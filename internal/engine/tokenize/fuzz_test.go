package tokenize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzEncodeDecode encodes arbitrary text with every test vocabulary: no
// panic, ids in range, and the decoded text is the input (for SentencePiece,
// inputs without a literal ▁, which decodes to a space).
func FuzzEncodeDecode(f *testing.F) {
	for _, s := range []string{"Hello world", "  a\n\n\tb  ", "I'M 1234567", "🦙 中文", "<|eot_id|><s>\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range testVocabs {
			tok := load(t, name)
			for _, special := range []bool{false, true} {
				ids := tok.Encode(s, special)
				for _, id := range ids {
					if id < 0 || int(id) >= tok.Len() {
						t.Fatalf("%s: id %d out of range", name, id)
					}
				}
				if special {
					continue
				}
				if tok.Vocab().Model == ModelSPM && strings.Contains(s, "▁") {
					continue
				}
				if got := tok.Decode(ids); got != s {
					t.Fatalf("%s: Decode(Encode(%q)) = %q (valid UTF-8: %v)", name, s, got, utf8.ValidString(s))
				}
			}
		}
	})
}

// FuzzVocabFromHF converts arbitrary tokenizer files: no panic; a converted
// vocabulary either builds a tokenizer or is refused with an error, and a
// built one encodes without panicking.
func FuzzVocabFromHF(f *testing.F) {
	f.Add([]byte(`{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`), []byte(`{"bos_token":"a"}`))
	f.Add([]byte(`{"normalizer":{"type":"Prepend","prepend":"▁"},"added_tokens":[{"id":3,"content":"<s>","special":true}],"model":{"type":"BPE","byte_fallback":true,"vocab":{"▁":0,"a":1,"▁a":2},"merges":[["▁","a"]]}}`), []byte(`{"bos_token":{"content":"<s>"},"chat_template":[{"name":"default","template":"x"}]}`))
	f.Add([]byte(`{"pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel"}]},"model":{"type":"BPE","vocab":{"a":0}}}`), []byte(nil))
	f.Fuzz(func(t *testing.T, tj, cfg []byte) {
		v, err := VocabFromHF(tj, cfg)
		if err != nil {
			return
		}
		tok, err := New(v)
		if err != nil {
			return
		}
		for _, id := range tok.Encode("a ab <s> ▁a 12", true) {
			if id < 0 || int(id) >= tok.Len() {
				t.Fatalf("id %d out of range", id)
			}
		}
	})
}
