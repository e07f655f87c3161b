package tokenize

import (
	"errors"
	"fmt"
)

// Token types, as llama.cpp stores them in tokenizer.ggml.token_type.
const (
	TypeUndefined   int32 = 0
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// Tokenizer models (tokenizer.ggml.model).
const (
	// ModelSPM is SentencePiece: score-driven merges, ▁ for spaces, <0xNN> byte fallback.
	ModelSPM = "llama"
	// ModelBPE is byte-level BPE: a pre-tokenizer split, then merges by rank.
	ModelBPE = "gpt2"
)

// Vocab is a tokenizer vocabulary laid out as llama.cpp's GGUF tokenizer
// metadata (the tokenizer.ggml.* keys). The llama package fills it from a
// GGUF file; VocabFromHF fills it from Hugging Face tokenizer files.
//
// Special ids are -1 when absent. Scores may be nil for ModelBPE and Types
// may be nil (every token is then TypeNormal).
type Vocab struct {
	Model  string    // tokenizer.ggml.model: ModelSPM or ModelBPE
	Pre    string    // tokenizer.ggml.pre: pre-tokenizer name for ModelBPE ("llama-bpe", "qwen2", "smollm", "gpt2", "default")
	Tokens []string  // tokenizer.ggml.tokens
	Scores []float32 // tokenizer.ggml.scores (ModelSPM merge priority: higher merges first)
	Types  []int32   // tokenizer.ggml.token_type (Type* constants)
	Merges []string  // tokenizer.ggml.merges ("left right", ModelBPE only)

	BOS, EOS, UNK, PAD int32 // tokenizer.ggml.{bos,eos,unknown,padding}_token_id
	EOT, EOM           int32 // tokenizer.ggml.{eot,eom}_token_id: end of turn / end of message
	// EOG lists further end-of-generation ids (tokenizer.ggml.eog_token_ids).
	// The Tokenizer also treats EOS, EOT, EOM and the end-of-turn tokens
	// llama.cpp recognises by their text (<|eot_id|>, <|im_end|>, ...) as EOG.
	EOG []int32

	AddBOS, AddEOS bool // tokenizer.ggml.add_{bos,eos}_token
	// AddSpacePrefix is tokenizer.ggml.add_space_prefix (ModelSPM): a space is
	// put before text that starts the input or follows a special token.
	// llama.cpp defaults it to true when the key is absent; so must the caller.
	AddSpacePrefix bool

	// ChatTemplate is tokenizer.chat_template (Jinja), empty when absent.
	ChatTemplate string
}

// validate checks the vocabulary for internal consistency.
func (v *Vocab) validate() error {
	n := len(v.Tokens)
	if n == 0 {
		return errors.New("no tokens")
	}
	if n > 1<<30 {
		return fmt.Errorf("%d tokens is too many", n)
	}
	switch v.Model {
	case ModelSPM, ModelBPE:
	default:
		return fmt.Errorf("unsupported tokenizer model %q (want %q or %q)", v.Model, ModelSPM, ModelBPE)
	}
	if v.Scores != nil && len(v.Scores) != n {
		return fmt.Errorf("%d scores for %d tokens", len(v.Scores), n)
	}
	if v.Types != nil && len(v.Types) != n {
		return fmt.Errorf("%d token types for %d tokens", len(v.Types), n)
	}
	for i, t := range v.Types {
		if t < TypeUndefined || t > TypeByte {
			return fmt.Errorf("token %d: unknown token type %d", i, t)
		}
	}
	ids := []struct {
		name string
		id   int32
	}{{"bos", v.BOS}, {"eos", v.EOS}, {"unknown", v.UNK}, {"padding", v.PAD}, {"eot", v.EOT}, {"eom", v.EOM}}
	for _, s := range ids {
		if s.id < -1 || int(s.id) >= n {
			return fmt.Errorf("%s token id %d out of range [0,%d)", s.name, s.id, n)
		}
	}
	for _, id := range v.EOG {
		if id < 0 || int(id) >= n {
			return fmt.Errorf("eog token id %d out of range [0,%d)", id, n)
		}
	}
	if v.AddBOS && v.BOS < 0 {
		return errors.New("add_bos_token set but no bos token")
	}
	if v.AddEOS && v.EOS < 0 {
		return errors.New("add_eos_token set but no eos token")
	}
	return nil
}

// tokenType returns the type of id, TypeNormal when types are absent.
func (v *Vocab) tokenType(id int) int32 {
	if v.Types == nil || v.Types[id] == TypeUndefined {
		return TypeNormal
	}
	return v.Types[id]
}
