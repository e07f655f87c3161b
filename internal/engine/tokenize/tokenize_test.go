package tokenize

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testVocabs are the vocabularies in testdata/ (see testdata/README.md).
var testVocabs = []string{"llama3", "qwen3", "spm32k"}

var (
	loadOnce   sync.Once
	loaded     map[string]*Tokenizer
	loadErr    error
	loadVocabs map[string]*Vocab
)

// load converts and builds every test vocabulary once per test binary.
func load(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	loadOnce.Do(func() {
		loaded = map[string]*Tokenizer{}
		loadVocabs = map[string]*Vocab{}
		for _, n := range testVocabs {
			v, err := readHF(filepath.Join("testdata", n))
			if err != nil {
				loadErr = err
				return
			}
			tok, err := New(v)
			if err != nil {
				loadErr = err
				return
			}
			loaded[n], loadVocabs[n] = tok, v
		}
	})
	if loadErr != nil {
		tb.Fatal(loadErr)
	}
	return loaded[name]
}

func readHF(dir string) (*Vocab, error) {
	f, err := os.Open(filepath.Join(dir, "tokenizer.json.gz"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tj, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil {
		return nil, err
	}
	return VocabFromHF(tj, cfg)
}

type vector struct {
	Text string  `json:"text"`
	IDs  []int32 `json:"ids"`
}

// readVectors reads the shared kit's vectors.json and the stress texts of
// vectors_extra.json (made the same way by testdata/gen_vectors.js).
func readVectors(t *testing.T, name string) []vector {
	t.Helper()
	var all []vector
	for _, file := range []string{"vectors.json", "vectors_extra.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name, file))
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatal(err)
		}
		if len(vs) == 0 {
			t.Fatalf("%s/%s: no vectors", name, file)
		}
		all = append(all, vs...)
	}
	return all
}

// TestVectors checks every reference encoding: Encode gives the ids (with
// special-token parsing, as the Hugging Face reference does) and Decode gives
// the text back.
func TestVectors(t *testing.T) {
	for _, name := range testVocabs {
		t.Run(name, func(t *testing.T) {
			tok := load(t, name)
			for _, v := range readVectors(t, name) {
				if name == "qwen3" && v.Text == "e\u0301" {
					// Qwen's tokenizer.json normalizes to NFC first (e + U+0301
					// becomes é); llama.cpp, and so silo, does not normalize.
					continue
				}
				got := tok.Encode(v.Text, true)
				want := v.IDs
				if want == nil {
					want = []int32{}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Encode(%q) mismatch (-want +got):\n%s", v.Text, diff)
				}
				if dec := tok.Decode(v.IDs); dec != v.Text {
					t.Errorf("Decode(%v) = %q, want %q", v.IDs, dec, v.Text)
				}
			}
		})
	}
}

func TestVocabFromHF(t *testing.T) {
	tests := []struct {
		name                      string
		model, pre                string
		bos, eos                  string
		addBOS, addEOS, spaceFix  bool
		control, userDef, eogText []string
		template                  string // substring of the chat template
	}{
		{
			name: "llama3", model: ModelBPE, pre: "llama-bpe", bos: "<|begin_of_text|>", eos: "<|end_of_text|>",
			addBOS: true, control: []string{"<|eot_id|>", "<|start_header_id|>"},
			eogText: []string{"<|eot_id|>", "<|end_of_text|>"}, template: "<|start_header_id|>",
		},
		{
			name: "qwen3", model: ModelBPE, pre: "qwen2", eos: "<|im_end|>",
			control: []string{"<|im_start|>", "<|fim_pad|>"}, userDef: []string{"<think>", "<tool_call>"},
			eogText: []string{"<|im_end|>", "<|endoftext|>"}, template: "<|im_start|>",
		},
		{
			name: "spm32k", model: ModelSPM, pre: "default", bos: "<s>", eos: "</s>",
			addBOS: true, spaceFix: true, control: []string{"<s>", "</s>"}, eogText: []string{"</s>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := load(t, tt.name)
			v := tok.Vocab()
			if v.Model != tt.model || v.Pre != tt.pre {
				t.Errorf("model, pre = %q, %q; want %q, %q", v.Model, v.Pre, tt.model, tt.pre)
			}
			idOf := func(s string) int32 {
				if s == "" {
					return -1
				}
				id, ok := tok.ids[s]
				if !ok {
					t.Fatalf("no token %q", s)
				}
				return id
			}
			if v.BOS != idOf(tt.bos) || v.EOS != idOf(tt.eos) {
				t.Errorf("bos, eos = %d, %d; want %q, %q", v.BOS, v.EOS, tt.bos, tt.eos)
			}
			if v.AddBOS != tt.addBOS || v.AddEOS != tt.addEOS || v.AddSpacePrefix != tt.spaceFix {
				t.Errorf("add_bos, add_eos, add_space_prefix = %v, %v, %v; want %v, %v, %v",
					v.AddBOS, v.AddEOS, v.AddSpacePrefix, tt.addBOS, tt.addEOS, tt.spaceFix)
			}
			for _, s := range tt.control {
				if typ := v.Types[idOf(s)]; typ != TypeControl {
					t.Errorf("%q has type %d, want control", s, typ)
				}
			}
			for _, s := range tt.userDef {
				if typ := v.Types[idOf(s)]; typ != TypeUserDefined {
					t.Errorf("%q has type %d, want user-defined", s, typ)
				}
			}
			for _, s := range tt.eogText {
				if !tok.IsEOG(idOf(s)) {
					t.Errorf("IsEOG(%q) = false", s)
				}
			}
			if tok.IsEOG(idOf("a")) && tt.model == ModelBPE {
				t.Error(`IsEOG("a") = true`)
			}
			if !strings.Contains(v.ChatTemplate, tt.template) {
				t.Errorf("chat template lacks %q", tt.template)
			}
			if tok.Len() != len(v.Tokens) {
				t.Errorf("Len() = %d, want %d", tok.Len(), len(v.Tokens))
			}
		})
	}
	t.Run("spm32k-bytes", func(t *testing.T) {
		v := load(t, "spm32k").Vocab()
		for b := range 256 {
			if typ := v.Types[3+b]; typ != TypeByte {
				t.Fatalf("token %d %q has type %d, want byte", 3+b, v.Tokens[3+b], typ)
			}
		}
		if v.Types[0] != TypeUnknown || v.Merges != nil || len(v.Scores) != len(v.Tokens) {
			t.Errorf("unk type %d, %d merges, %d scores", v.Types[0], len(v.Merges), len(v.Scores))
		}
	})
}

func TestVocabFromHFErrors(t *testing.T) {
	tests := []struct {
		name, tj, cfg, want string
	}{
		{"bad json", `{`, ``, "parse tokenizer.json"},
		{"bad config", `{"model":{"type":"BPE","vocab":{"a":0}}}`, `[`, "parse tokenizer_config.json"},
		{"unigram", `{"model":{"type":"Unigram"}}`, ``, `unsupported tokenizer model type "Unigram"`},
		{"empty", `{"model":{"type":"BPE","vocab":{}}}`, ``, "empty vocabulary"},
		{"negative id", `{"model":{"type":"BPE","vocab":{"a":-1}}}`, ``, "out of range"},
		{"no pre", `{"model":{"type":"BPE","vocab":{"a":0}}}`, ``, "without a pre-tokenizer"},
		{"unknown regex", `{"pre_tokenizer":{"type":"Split","pattern":{"Regex":"x"}},"model":{"type":"BPE","vocab":{"a":0}}}`, ``, "unrecognized pre-tokenizer expression"},
		{"bad merge", `{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":["ab"]}}`, ``, "want two parts"},
		{"bad template", `{"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0}}}`, `{"chat_template":3}`, "parse chat_template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VocabFromHF([]byte(tt.tj), []byte(tt.cfg))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	base := func() *Vocab {
		return &Vocab{Model: ModelBPE, Pre: "gpt2", Tokens: []string{"a", "b"}, BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1, EOM: -1}
	}
	tests := []struct {
		name   string
		mutate func(v *Vocab)
		want   string
	}{
		{"no tokens", func(v *Vocab) { v.Tokens = nil }, "no tokens"},
		{"model", func(v *Vocab) { v.Model = "bert" }, `unsupported tokenizer model "bert"`},
		{"pre", func(v *Vocab) { v.Pre = "klingon" }, `unsupported pre-tokenizer "klingon"`},
		{"scores", func(v *Vocab) { v.Scores = []float32{1} }, "1 scores for 2 tokens"},
		{"types", func(v *Vocab) { v.Types = []int32{1} }, "1 token types for 2 tokens"},
		{"type value", func(v *Vocab) { v.Types = []int32{1, 9} }, "unknown token type 9"},
		{"bos range", func(v *Vocab) { v.BOS = 2 }, "bos token id 2 out of range"},
		{"eog range", func(v *Vocab) { v.EOG = []int32{-3} }, "eog token id -3 out of range"},
		{"add bos", func(v *Vocab) { v.AddBOS = true }, "no bos token"},
		{"merge", func(v *Vocab) { v.Merges = []string{"ab"} }, "no space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := base()
			tt.mutate(v)
			_, err := New(v)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(base()); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

func TestSpecialTokens(t *testing.T) {
	tests := []struct {
		vocab, text  string
		parseSpecial bool
		want         []string // token texts
	}{
		{"llama3", "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>", true,
			[]string{"<|start_header_id|>", "user", "<|end_header_id|>", "ĊĊ", "hi", "<|eot_id|>"}},
		{"llama3", "<|eot_id|>", false, []string{"<", "|", "e", "ot", "_id", "|", ">"}},
		{"qwen3", "<|im_start|>assistant\n<think>x</think>", true,
			[]string{"<|im_start|>", "assistant", "Ċ", "<think>", "x", "</think>"}},
		// User-defined tokens are matched even without parseSpecial.
		{"qwen3", "a<think>b", false, []string{"a", "<think>", "b"}},
		{"qwen3", "<|im_end|>", false, []string{"<", "|", "im", "_end", "|", ">"}},
		// SentencePiece: a space prefix after a special token, and none
		// from a literal "<s>" when special tokens are not parsed.
		{"spm32k", "<s>Hi</s>", true, []string{"<s>", "▁Hi", "</s>"}},
		{"spm32k", "<s>", false, []string{"▁<", "s", ">"}},
	}
	for _, tt := range tests {
		t.Run(tt.vocab+"/"+tt.text, func(t *testing.T) {
			tok := load(t, tt.vocab)
			ids := tok.Encode(tt.text, tt.parseSpecial)
			var got []string
			for _, id := range ids {
				got = append(got, tok.Vocab().Tokens[id])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Encode(%q, %v) tokens (-want +got):\n%s", tt.text, tt.parseSpecial, diff)
			}
		})
	}
}

func TestByteFallback(t *testing.T) {
	tok := load(t, "spm32k")
	// U+1F999 is not in the vocabulary: four byte tokens.
	ids := tok.Encode("🦙", false)
	want := []int32{28705, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("Encode(🦙) (-want +got):\n%s", diff)
	}
	if got := tok.Piece(3 + 0xF0); !bytes.Equal(got, []byte{0xF0}) {
		t.Errorf("Piece(<0xF0>) = %q", got)
	}
	if got := tok.Decode(ids); got != "🦙" {
		t.Errorf("Decode = %q", got)
	}
	// Invalid UTF-8 goes through byte tokens and comes back unchanged.
	for _, name := range testVocabs {
		tok := load(t, name)
		in := "a\xff\xfeb\xe2\x82"
		if got := tok.Decode(tok.Encode(in, false)); got != in {
			t.Errorf("%s: round trip of invalid UTF-8 = %q, want %q", name, got, in)
		}
	}
}

func TestPieceStreaming(t *testing.T) {
	// A multi-byte character split over tokens: the pieces join to it.
	tok := load(t, "llama3")
	ids := tok.Encode("🦙", false)
	if len(ids) < 2 {
		t.Fatalf("want 🦙 over several tokens, got %v", ids)
	}
	var b []byte
	for _, id := range ids {
		p := tok.Piece(id)
		if len(p) == 0 {
			t.Fatalf("empty piece for %d", id)
		}
		b = append(b, p...)
	}
	if string(b) != "🦙" {
		t.Errorf("pieces join to %q", b)
	}
	if tok.Piece(-1) != nil || tok.Piece(int32(tok.Len())) != nil {
		t.Error("Piece out of range is not nil")
	}
	if got := string(tok.Piece(tok.BOS())); got != "<|begin_of_text|>" {
		t.Errorf("Piece(BOS) = %q", got)
	}
}

func TestAddSpecial(t *testing.T) {
	l := load(t, "llama3")
	bos := l.BOS()
	ids := l.Encode("hi", false)
	if got := l.AddSpecial(ids); len(got) != len(ids)+1 || got[0] != bos {
		t.Errorf("AddSpecial = %v, want BOS first", got)
	}
	if got := l.AddSpecial(append([]int32{bos}, ids...)); len(got) != len(ids)+1 {
		t.Errorf("AddSpecial doubled BOS: %v", got)
	}
	q := load(t, "qwen3")
	if got := q.AddSpecial([]int32{1, 2}); !cmp.Equal(got, []int32{1, 2}) {
		t.Errorf("qwen3 AddSpecial = %v, want unchanged", got)
	}
	if !l.IsControl(bos) || l.IsControl(ids[0]) {
		t.Error("IsControl wrong")
	}
}

// TestRoundTrip decodes the encoding of texts that stress the splitters.
func TestRoundTrip(t *testing.T) {
	texts := []string{
		"", " ", "  ", "\n", " \n ", "\r\n\r\n", "a  b   c", "x\t\ty", "'S 'LL 'Re", "12345678901",
		"١٢٣ ٤٥٦", "Ⅻ ½", "🦙🦙🦙", "mixed\u00a0\u2009 spaces\u3000", "<|eot_id|><s>", strings.Repeat("ab ", 500),
	}
	for _, name := range testVocabs {
		tok := load(t, name)
		for _, s := range texts {
			if got := tok.Decode(tok.Encode(s, false)); got != s {
				t.Errorf("%s: Decode(Encode(%q)) = %q", name, s, got)
			}
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. "+
		"Tokenizers split text into pieces; 12345 numbers, ÀÉÎ accents, 中文, and code: for (i=0;i<n;++i) {}\n", 30)
	for _, name := range testVocabs {
		b.Run(name, func(b *testing.B) {
			tok := load(b, name)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Encode(text, false)
			}
		})
	}
	b.Run("llama3-nocache", func(b *testing.B) {
		tok := load(b, "llama3")
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			tok.cache.mu.Lock()
			clear(tok.cache.m)
			tok.cache.mu.Unlock()
			tok.Encode(text, false)
		}
	})
}

func TestVocabFromHFGaps(t *testing.T) {
	tj := `{"pre_tokenizer":{"type":"ByteLevel"},"added_tokens":[{"id":3,"content":"<|x|>","special":false},{"id":4,"content":"▁y","special":false}],
		"model":{"type":"BPE","vocab":{"a":0,"b":2},"merges":[["a","b"]]}}`
	v, err := VocabFromHF([]byte(tj), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Vocab{
		Model: ModelBPE, Pre: "gpt2",
		Tokens: []string{"a", "[PAD1]", "b", "<|x|>", " y"},
		Types:  []int32{TypeNormal, TypeUnused, TypeNormal, TypeControl, TypeUserDefined},
		Merges: []string{"a b"},
		BOS:    -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1, EOM: -1,
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("VocabFromHF (-want +got):\n%s", diff)
	}
}
