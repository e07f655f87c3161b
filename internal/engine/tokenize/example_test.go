package tokenize_test

import (
	"fmt"

	"github.com/silo-ai/silo/internal/engine/tokenize"
)

func ExampleTokenizer_Encode() {
	// A toy byte-level BPE vocabulary ("Ġ" is the byte-level form of a space).
	v := &tokenize.Vocab{
		Model:  tokenize.ModelBPE,
		Pre:    "gpt2",
		Tokens: []string{"h", "i", "Ġ", "hi", "Ġhi", "<|end|>"},
		Types:  []int32{1, 1, 1, 1, 1, tokenize.TypeControl},
		Merges: []string{"h i", "Ġ hi"},
		BOS:    -1, EOS: 5, UNK: -1, PAD: -1, EOT: -1, EOM: -1,
	}
	tok, err := tokenize.New(v)
	if err != nil {
		fmt.Println(err)
		return
	}
	ids := tok.Encode("hi hi<|end|>", true)
	fmt.Println(ids, tok.Decode(ids[:2]), tok.IsEOG(ids[2]))
	// Output: [3 4 5] hi hi true
}
