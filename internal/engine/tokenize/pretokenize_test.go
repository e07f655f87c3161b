package tokenize

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPreTokenizers compares each hand-written splitter with the pieces the
// real regular expressions give (testdata/pretokenize.json, made by
// testdata/gen_pretokenize.py with Python's regex module).
func TestPreTokenizers(t *testing.T) {
	b, err := os.ReadFile("testdata/pretokenize.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Pre    string   `json:"pre"`
		Text   string   `json:"text"`
		Pieces []string `json:"pieces"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		p, _, err := preTokenizerFor(c.Pre)
		if err != nil {
			t.Fatal(err)
		}
		offs, _ := p.split(c.Text, nil)
		var got []string
		for i := 0; i < len(offs); i += 2 {
			got = append(got, c.Text[offs[i]:offs[i+1]])
		}
		if diff := cmp.Diff(c.Pieces, got); diff != "" {
			t.Errorf("%s %q (-want +got):\n%s", c.Pre, c.Text, diff)
		}
	}
}

func TestPreTokenizerInvalidUTF8(t *testing.T) {
	p, _, err := preTokenizerFor("llama-bpe")
	if err != nil {
		t.Fatal(err)
	}
	text := "ab\xff\xfe cd\xe2\x82"
	offs, _ := p.split(text, nil)
	end := 0
	for i := 0; i < len(offs); i += 2 {
		if offs[i] != end || offs[i+1] <= offs[i] {
			t.Fatalf("pieces %v do not tile the text", offs)
		}
		end = offs[i+1]
	}
	if end != len(text) {
		t.Fatalf("pieces %v end at %d, want %d", offs, end, len(text))
	}
}

func TestPreTokenizerNames(t *testing.T) {
	tests := []struct {
		pre          string
		ignoreMerges bool
		same         string // a name with the same splitting rules
	}{
		{"llama-bpe", true, "llama3"},
		{"falcon3", true, "llama-bpe"},
		{"deepseek-r1-qwen", false, "qwen2"},
		{"starcoder", false, "smollm"},
		{"gpt-2", false, "gpt2"},
		{"", false, "default"},
	}
	const text = "I'm 12345 x\n\n  y!!"
	for _, tt := range tests {
		p, ignore, err := preTokenizerFor(tt.pre)
		if err != nil {
			t.Fatalf("%q: %v", tt.pre, err)
		}
		q, _, err := preTokenizerFor(tt.same)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := p.split(text, nil)
		b, _ := q.split(text, nil)
		if ignore != tt.ignoreMerges || !cmp.Equal(a, b) {
			t.Errorf("%q: ignoreMerges %v, pieces %v; want %v, %v like %q", tt.pre, ignore, a, tt.ignoreMerges, b, tt.same)
		}
	}
	if _, _, err := preTokenizerFor("tekken"); err == nil {
		t.Error(`preTokenizerFor("tekken") succeeded`)
	}
}
