package llama

import (
	"errors"
	"fmt"

	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

// GGUF tokenizer metadata keys (llama.cpp's names).
const (
	KeyTokenizerModel = "tokenizer.ggml.model"
	KeyTokenizerPre   = "tokenizer.ggml.pre"
	KeyTokens         = "tokenizer.ggml.tokens"
	KeyScores         = "tokenizer.ggml.scores"
	KeyTokenType      = "tokenizer.ggml.token_type"
	KeyMerges         = "tokenizer.ggml.merges"
	KeyBOS            = "tokenizer.ggml.bos_token_id"
	KeyEOS            = "tokenizer.ggml.eos_token_id"
	KeyUNK            = "tokenizer.ggml.unknown_token_id"
	KeyPAD            = "tokenizer.ggml.padding_token_id"
	KeyEOT            = "tokenizer.ggml.eot_token_id"
	KeyEOM            = "tokenizer.ggml.eom_token_id"
	KeyEOG            = "tokenizer.ggml.eog_token_ids"
	KeyAddBOS         = "tokenizer.ggml.add_bos_token"
	KeyAddEOS         = "tokenizer.ggml.add_eos_token"
	KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"
	KeyChatTemplate   = "tokenizer.chat_template"
)

// ReadVocab maps the tokenizer.ggml.* metadata of f into a Vocab, with
// llama.cpp's defaults for absent keys (SentencePiece: BOS 1, EOS 2, UNK 0,
// add_bos true, add_space_prefix true).
func ReadVocab(f *gguf.File) (*tokenize.Vocab, error) {
	v := &tokenize.Vocab{BOS: -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1, EOM: -1}
	var errs []error
	opt := func(err error) bool {
		if err == nil {
			return true
		}
		if !errors.Is(err, gguf.ErrNotFound) {
			errs = append(errs, err)
		}
		return false
	}
	var err error
	if v.Model, err = f.String(KeyTokenizerModel); err != nil {
		return nil, fmt.Errorf("llama: vocab: %w", err)
	}
	switch v.Model {
	case tokenize.ModelSPM:
		v.BOS, v.EOS, v.UNK, v.AddBOS, v.AddSpacePrefix = 1, 2, 0, true, true
	case tokenize.ModelBPE:
	default:
		return nil, fmt.Errorf("llama: vocab: tokenizer model %q: %w", v.Model, ErrUnsupported)
	}
	v.Pre = "default"
	if s, err := f.String(KeyTokenizerPre); opt(err) {
		v.Pre = s
	}
	if v.Tokens, err = f.Strings(KeyTokens); err != nil {
		return nil, fmt.Errorf("llama: vocab: %w", err)
	}
	if s, err := f.Float32s(KeyScores); opt(err) {
		v.Scores = s
	}
	if s, err := f.Int32s(KeyTokenType); opt(err) {
		v.Types = s
	}
	if s, err := f.Strings(KeyMerges); opt(err) {
		v.Merges = s
	}
	for _, id := range []struct {
		key string
		dst *int32
	}{{KeyBOS, &v.BOS}, {KeyEOS, &v.EOS}, {KeyUNK, &v.UNK}, {KeyPAD, &v.PAD}, {KeyEOT, &v.EOT}, {KeyEOM, &v.EOM}} {
		if u, err := f.Uint(id.key); opt(err) {
			if u >= uint64(len(v.Tokens)) {
				errs = append(errs, fmt.Errorf("%s = %d out of range", id.key, u))
				continue
			}
			*id.dst = int32(u)
		}
	}
	if s, err := f.Int32s(KeyEOG); opt(err) {
		v.EOG = s
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{KeyAddBOS, &v.AddBOS}, {KeyAddEOS, &v.AddEOS}, {KeyAddSpacePrefix, &v.AddSpacePrefix}} {
		if x, err := f.Bool(b.key); opt(err) {
			*b.dst = x
		}
	}
	if s, err := f.String(KeyChatTemplate); opt(err) {
		v.ChatTemplate = s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("llama: vocab: %w", errors.Join(errs...))
	}
	return v, nil
}
