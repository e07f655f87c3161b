package tokenize

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Pre-tokenizer expressions of Hugging Face tokenizer.json files, and the
// tokenizer.ggml.pre names llama.cpp's converter gives them.
var hfPreRegexes = map[string]string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:                              "llama-bpe",
	`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "llama-bpe",
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:                                   "qwen2",
	`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`:                                                                       "gpt2",
}

var byteTokenRE = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// hfTokenizer is the part of tokenizer.json the conversion reads.
type hfTokenizer struct {
	AddedTokens []struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		Special    bool   `json:"special"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         struct {
		Type         string          `json:"type"`
		Vocab        map[string]int  `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
		ByteFallback bool            `json:"byte_fallback"`
		UnkToken     *string         `json:"unk_token"`
	} `json:"model"`
}

// hfConfig is the part of tokenizer_config.json the conversion reads.
type hfConfig struct {
	AddBOS       *bool           `json:"add_bos_token"`
	AddEOS       *bool           `json:"add_eos_token"`
	BOS          json.RawMessage `json:"bos_token"`
	EOS          json.RawMessage `json:"eos_token"`
	UNK          json.RawMessage `json:"unk_token"`
	PAD          json.RawMessage `json:"pad_token"`
	ChatTemplate json.RawMessage `json:"chat_template"`
}

// VocabFromHF converts a Hugging Face tokenizer (tokenizer.json and
// tokenizer_config.json; the latter may be nil) into a Vocab the way
// llama.cpp's convert_hf_to_gguf.py does:
//
//   - byte-level BPE becomes ModelBPE with its merges; added tokens become
//     TypeControl when marked special or when they look special (<|...|>),
//     else TypeUserDefined; ids without a token are "[PADn]" of TypeUnused.
//     Pre is recognised from the pre-tokenizer's expression: "llama-bpe"
//     (Llama 3), "qwen2" (Qwen2/3), "gpt2", or "smollm" (digits split, then
//     GPT-2's expression).
//   - SentencePiece-style BPE (byte_fallback, ▁ for spaces) becomes ModelSPM
//     with Pre "default", <0xNN> tokens of TypeByte and the unknown token of
//     TypeUnknown. Scores come from the merge order (the token made by merge
//     rank r scores -r), which makes SentencePiece's highest-score-first
//     merging reproduce the BPE merges; llama.cpp's converter reads them from
//     tokenizer.model instead.
//
// Special ids and add_bos/add_eos come from tokenizer_config.json; the chat
// template is returned in Vocab.ChatTemplate.
func VocabFromHF(tokenizerJSON, tokenizerConfigJSON []byte) (*Vocab, error) {
	v, err := vocabFromHF(tokenizerJSON, tokenizerConfigJSON)
	if err != nil {
		return nil, fmt.Errorf("tokenize: convert hugging face tokenizer: %w", err)
	}
	return v, nil
}

func vocabFromHF(tokenizerJSON, tokenizerConfigJSON []byte) (*Vocab, error) {
	var tj hfTokenizer
	if err := json.Unmarshal(tokenizerJSON, &tj); err != nil {
		return nil, fmt.Errorf("parse tokenizer.json: %w", err)
	}
	var cfg hfConfig
	if len(tokenizerConfigJSON) > 0 {
		if err := json.Unmarshal(tokenizerConfigJSON, &cfg); err != nil {
			return nil, fmt.Errorf("parse tokenizer_config.json: %w", err)
		}
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("unsupported tokenizer model type %q (want BPE)", tj.Model.Type)
	}
	if len(tj.Model.Vocab) == 0 {
		return nil, errors.New("empty vocabulary")
	}

	n := 0
	for _, id := range tj.Model.Vocab {
		if id < 0 || id >= 1<<24 {
			return nil, fmt.Errorf("token id %d out of range", id)
		}
		n = max(n, id+1)
	}
	for _, a := range tj.AddedTokens {
		if a.ID < 0 || a.ID >= 1<<24 {
			return nil, fmt.Errorf("added token id %d out of range", a.ID)
		}
		n = max(n, a.ID+1)
	}
	if n > len(tj.Model.Vocab)+len(tj.AddedTokens)+1024 {
		return nil, fmt.Errorf("token ids are sparse: %d tokens with ids up to %d", len(tj.Model.Vocab)+len(tj.AddedTokens), n-1)
	}
	v := &Vocab{
		Tokens: make([]string, n),
		Types:  make([]int32, n),
		BOS:    -1, EOS: -1, UNK: -1, PAD: -1, EOT: -1, EOM: -1,
	}
	for s, id := range tj.Model.Vocab {
		v.Tokens[id] = s
		v.Types[id] = TypeNormal
	}
	for _, a := range tj.AddedTokens {
		v.Types[a.ID] = TypeNormal // typed below
	}
	for i, typ := range v.Types {
		if typ == TypeUndefined { // an id without a token
			v.Tokens[i] = "[PAD" + strconv.Itoa(i) + "]"
			v.Types[i] = TypeUnused
		}
	}

	spm := tj.Model.ByteFallback || strings.Contains(string(tj.Normalizer), "▁") || strings.Contains(string(tj.PreTokenizer), "Metaspace")
	if spm {
		v.Model = ModelSPM
		v.Pre = "default"
	} else {
		v.Model = ModelBPE
		pre, err := hfPre(tj.PreTokenizer)
		if err != nil {
			return nil, err
		}
		v.Pre = pre
	}

	merges, err := hfMerges(tj.Model.Merges)
	if err != nil {
		return nil, err
	}

	for _, a := range tj.AddedTokens {
		content := a.Content
		switch {
		case a.Special || looksSpecial(content):
			v.Types[a.ID] = TypeControl
		default:
			content = strings.ReplaceAll(content, "▁", " ")
			v.Types[a.ID] = TypeUserDefined
		}
		v.Tokens[a.ID] = content
	}

	lookup := func(raw json.RawMessage) int32 {
		s := specialContent(raw)
		if s == "" {
			return -1
		}
		for _, a := range tj.AddedTokens {
			if a.Content == s {
				return int32(a.ID)
			}
		}
		if id, ok := tj.Model.Vocab[s]; ok {
			return int32(id)
		}
		return -1
	}
	v.BOS, v.EOS, v.UNK, v.PAD = lookup(cfg.BOS), lookup(cfg.EOS), lookup(cfg.UNK), lookup(cfg.PAD)
	if v.UNK < 0 && tj.Model.UnkToken != nil {
		if id, ok := tj.Model.Vocab[*tj.Model.UnkToken]; ok {
			v.UNK = int32(id)
		}
	}

	if spm {
		v.Scores = make([]float32, n)
		made := make([]bool, n)
		for rank, m := range merges {
			sp := strings.IndexByte(m[1:], ' ') + 1
			if id, ok := tj.Model.Vocab[m[:sp]+m[sp+1:]]; ok && !made[id] {
				made[id] = true
				v.Scores[id] = -float32(rank)
			}
		}
		for id, s := range v.Tokens {
			if v.Types[id] == TypeNormal && byteTokenRE.MatchString(s) {
				v.Types[id] = TypeByte
			}
		}
		if v.UNK >= 0 {
			v.Types[v.UNK] = TypeUnknown
		}
		v.AddSpacePrefix = strings.Contains(string(tj.Normalizer), `"Prepend"`) ||
			(strings.Contains(string(tj.PreTokenizer), "Metaspace") && !strings.Contains(string(tj.PreTokenizer), `"never"`))
	} else {
		v.Merges = merges
	}

	// add_bos/add_eos: tokenizer_config.json; else llama.cpp's defaults
	// (true for SentencePiece and Llama 3), else whether the post-processor
	// template puts BOS first.
	switch {
	case cfg.AddBOS != nil:
		v.AddBOS = *cfg.AddBOS
	case v.Model == ModelSPM || v.Pre == "llama-bpe":
		v.AddBOS = true
	case v.BOS >= 0:
		v.AddBOS = strings.Contains(string(tj.PostProcessor), `"TemplateProcessing"`) &&
			strings.Contains(string(tj.PostProcessor), `"`+v.Tokens[v.BOS]+`"`)
	}
	if cfg.AddEOS != nil {
		v.AddEOS = *cfg.AddEOS
	}
	v.AddBOS = v.AddBOS && v.BOS >= 0
	v.AddEOS = v.AddEOS && v.EOS >= 0

	tmpl, err := hfChatTemplate(cfg.ChatTemplate)
	if err != nil {
		return nil, err
	}
	v.ChatTemplate = tmpl
	return v, nil
}

// hfPre names the pre-tokenizer of a byte-level BPE tokenizer.json.
func hfPre(raw json.RawMessage) (string, error) {
	var pt struct {
		Type          string            `json:"type"`
		Pretokenizers []json.RawMessage `json:"pretokenizers"`
		Pattern       struct {
			Regex *string `json:"Regex"`
		} `json:"pattern"`
		UseRegex *bool `json:"use_regex"`
	}
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("byte-level BPE without a pre-tokenizer")
	}
	if err := json.Unmarshal(raw, &pt); err != nil {
		return "", fmt.Errorf("parse pre_tokenizer: %w", err)
	}
	switch pt.Type {
	case "Sequence":
		digits := false
		for _, sub := range pt.Pretokenizers {
			var s struct {
				Type            string `json:"type"`
				IndividualDigit bool   `json:"individual_digits"`
			}
			if err := json.Unmarshal(sub, &s); err != nil {
				return "", fmt.Errorf("parse pre_tokenizer: %w", err)
			}
			if s.Type == "Digits" && s.IndividualDigit {
				digits = true
				continue
			}
			if s.Type == "ByteLevel" && digits {
				return "smollm", nil
			}
			if pre, err := hfPre(sub); err == nil {
				return pre, nil
			}
		}
	case "Split":
		if pt.Pattern.Regex != nil {
			if pre, ok := hfPreRegexes[*pt.Pattern.Regex]; ok {
				return pre, nil
			}
			return "", fmt.Errorf("unrecognized pre-tokenizer expression %q", *pt.Pattern.Regex)
		}
	case "ByteLevel":
		if pt.UseRegex == nil || *pt.UseRegex {
			return "gpt2", nil
		}
	}
	return "", fmt.Errorf("unrecognized pre-tokenizer %s", truncate(string(raw), 200))
}

// hfMerges reads merges written as "a b" strings or as ["a", "b"] pairs.
func hfMerges(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var strs []string
	if first := bytes.TrimLeft(bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("[")), " \t\r\n"); len(first) == 0 || first[0] != '[' {
		if err := json.Unmarshal(raw, &strs); err != nil {
			return nil, fmt.Errorf("parse merges: %w", err)
		}
		for i, m := range strs {
			if len(m) < 3 || strings.IndexByte(m[1:], ' ') < 0 {
				return nil, fmt.Errorf("merge %d %q: want two parts", i, m)
			}
		}
		return strs, nil
	}
	var pairs [][]string
	if err := json.Unmarshal(raw, &pairs); err != nil {
		return nil, fmt.Errorf("parse merges: %w", err)
	}
	strs = make([]string, len(pairs))
	for i, p := range pairs {
		if len(p) != 2 || p[0] == "" || p[1] == "" {
			return nil, fmt.Errorf("merge %d: want two non-empty parts", i)
		}
		strs[i] = p[0] + " " + p[1]
	}
	return strs, nil
}

// specialContent reads a special token written as a string or as an
// AddedToken object ({"content": ...}).
func specialContent(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.Content
	}
	return ""
}

// hfChatTemplate reads chat_template: a string, or a list of named
// templates of which "default" is taken.
func hfChatTemplate(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, nil
	}
	var named []struct {
		Name     string `json:"name"`
		Template string `json:"template"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return "", fmt.Errorf("parse chat_template: %w", err)
	}
	for _, t := range named {
		if t.Name == "default" {
			return t.Template, nil
		}
	}
	if len(named) > 0 {
		return named[0].Template, nil
	}
	return "", nil
}

// looksSpecial is convert_hf_to_gguf.py's does_token_look_special.
func looksSpecial(s string) bool {
	switch s {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return (strings.HasPrefix(s, "<|") && strings.HasSuffix(s, "|>")) ||
		(strings.HasPrefix(s, "<｜") && strings.HasSuffix(s, "｜>")) ||
		(strings.HasPrefix(s, "<unused") && strings.HasSuffix(s, ">"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
