package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/config"
	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/engine/genmodel"
	"github.com/silo-ai/silo/internal/engine/ggml"
	"github.com/silo-ai/silo/internal/engine/gguf"
	"github.com/silo-ai/silo/internal/engine/llama"
	"github.com/silo-ai/silo/internal/engine/tokenize"
)

// extraCommands are the built-in engine's commands: model import, the
// developer tools and the benchmark.
func extraCommands(e *env) []*cobra.Command {
	return []*cobra.Command{devCmd(e), benchCmd(e)}
}

func devCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "dev", Short: "Developer tools for the built-in engine"}
	cmd.AddCommand(genModelCmd(e), tokenizeCmd(e))
	return cmd
}

func genModelCmd(e *env) *cobra.Command {
	var (
		o        genmodel.Options
		typ      string
		bench1B  bool
		vocab    string
		template string
	)
	cmd := &cobra.Command{
		Use:   "gen-model OUT.gguf",
		Short: "Write a deterministic GGUF model with weights from a seed, for tests and benchmarks",
		Long: `Write a deterministic GGUF of a supported architecture (llama, qwen2, qwen3)
and shape, its weights drawn from --seed, in the chosen tensor type, with a
real vocabulary: the built-in 32,000-token SentencePiece one, or one converted
from a Hugging Face tokenizer.json (--vocab) as llama.cpp's converter does.
The model talks nonsense; it exists to test and measure the engine.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			t, err := ggml.ParseType(strings.ToUpper(typ))
			if err != nil {
				return err
			}
			if bench1B {
				seed := o.Seed
				o = genmodel.Llama1B(t)
				o.Seed = seed
			}
			o.Type = t
			if vocab != "" {
				cfg := filepath.Join(filepath.Dir(vocab), "tokenizer_config.json")
				if !fileExists(cfg) {
					cfg = ""
				}
				if o.Vocab, err = genmodel.VocabFromFiles(vocab, cfg); err != nil {
					return err
				}
			}
			o.ChatTemplate = template
			if err := genmodel.WriteFile(a[0], o); err != nil {
				return err
			}
			fi, err := os.Stat(a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s (%.1f MiB)\n", a[0], float64(fi.Size())/(1<<20))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Arch, "arch", "llama", "architecture: llama, qwen2 or qwen3")
	f.StringVar(&o.Name, "name", "", "general.name")
	f.IntVar(&o.Hidden, "hidden", 0, "embedding length (default 64)")
	f.IntVar(&o.Layers, "layers", 0, "blocks (default 2)")
	f.IntVar(&o.Heads, "heads", 0, "attention heads (default 4)")
	f.IntVar(&o.KVHeads, "kv-heads", 0, "key/value heads (default: heads)")
	f.IntVar(&o.FFN, "ffn", 0, "feed-forward length (default 3*hidden)")
	f.IntVar(&o.Context, "context", 0, "context length (default 2048)")
	f.Int64Var(&o.Seed, "seed", 1, "weight seed")
	f.BoolVar(&o.Tied, "tied", false, "tie the output to the token embeddings")
	f.StringVar(&typ, "type", "F32", "tensor type of the weight matrices: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K...")
	f.BoolVar(&bench1B, "bench-1b", false, "the ~1B benchmark shape: hidden 2048, 16 layers, 32 heads, 8 KV heads, FFN 8192, vocab 32000")
	f.StringVar(&vocab, "vocab", "", "a Hugging Face tokenizer.json to convert (default: the built-in 32k SentencePiece vocabulary)")
	f.StringVar(&template, "chat-template", "", "a chat template to store instead of the vocabulary's")
	return cmd
}

func tokenizeCmd(e *env) *cobra.Command {
	var model, vocab string
	var special bool
	cmd := &cobra.Command{
		Use:   "tokenize [--model FILE.gguf | --vocab tokenizer.json] TEXT",
		Short: "Print the token ids of TEXT as a JSON array",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			var v *tokenize.Vocab
			switch {
			case model != "" && vocab != "":
				return errors.New("give --model or --vocab, not both")
			case model != "":
				f, err := gguf.Open(model)
				if err != nil {
					return err
				}
				defer f.Close()
				if v, err = llama.ReadVocab(f); err != nil {
					return err
				}
			case vocab != "":
				tj, err := os.ReadFile(vocab)
				if err != nil {
					return err
				}
				cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(vocab), "tokenizer_config.json"))
				if v, err = tokenize.VocabFromHF(tj, cfg); err != nil {
					return err
				}
			default:
				return withHint(errors.New("no vocabulary"), "pass --model FILE.gguf or --vocab tokenizer.json")
			}
			tok, err := tokenize.New(v)
			if err != nil {
				return err
			}
			ids := tok.Encode(a[0], special)
			if special {
				ids = tok.AddSpecial(ids)
			}
			if ids == nil {
				ids = []int32{}
			}
			return json.NewEncoder(e.stdout).Encode(ids)
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "GGUF model whose vocabulary to use")
	cmd.Flags().StringVar(&vocab, "vocab", "", "Hugging Face tokenizer.json to use")
	cmd.Flags().BoolVar(&special, "special", false, "parse special tokens in TEXT and add BOS/EOS as the vocabulary asks")
	return cmd
}

func benchCmd(e *env) *cobra.Command {
	var asJSON bool
	var o builtin.BenchOptions
	cmd := &cobra.Command{
		Use:   "bench MODEL",
		Short: "Measure prefill and decode speed of a GGUF model beside this machine's memory-bandwidth roofline",
		Long: `Measure the built-in engine on MODEL (a .gguf path, or a model name in the
models directory): prefill tokens/s, decode tokens/s, and, measured in the
same run, the memory bandwidth of a large copy divided by the bytes read per
token (the roofline), with the ratio, and resident memory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, a []string) error {
			path := a[0]
			if !strings.HasSuffix(path, ".gguf") {
				dir := filepath.Join(config.DefaultDataDir(), "models")
				if d := e.getenv("SILO_DATA_DIR"); d != "" {
					dir = filepath.Join(d, "models")
				}
				path = filepath.Join(dir, path+".gguf")
			}
			r, err := builtin.Bench(cmd.Context(), path, o)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(r)
			}
			_, err = io.WriteString(e.stdout, r.String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	cmd.Flags().IntVar(&o.PrefillTokens, "prefill", 128, "prompt tokens for the prefill figure")
	cmd.Flags().IntVar(&o.DecodeTokens, "decode", 64, "tokens for the decode figure")
	return cmd
}
