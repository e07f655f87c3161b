package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/provenance"
)

func certCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "cert", Short: "Model certificates: create, sign, verify",
		Long: `A model certificate is an in-toto Statement v1 with a SLSA Provenance v1 predicate
(subjects: the weight files by SHA-256; dependencies: datasets, base model, training
code; the training config; the builder) in a DSSE envelope signed with Ed25519 keys.
silo serve looks for it beside the model as NAME.gguf.dsse.json.`}
	cmd.AddCommand(certCreateCmd(e), certSignCmd(e), certVerifyCmd(e))
	return cmd
}

// digestOf hashes a file (sha256) or a directory tree (dirHash1).
func digestOf(path string) (map[string]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		d, err := provenance.DirDigest(path)
		if err != nil {
			return nil, err
		}
		return map[string]string{provenance.DigestDirHash1: d}, nil
	}
	d, err := provenance.FileDigest(path)
	if err != nil {
		return nil, err
	}
	return map[string]string{provenance.DigestSHA256: d}, nil
}

// pathDep parses URI=PATH: the URI names the resource, PATH (a file or a
// directory) is hashed.
func pathDep(name, arg string) (provenance.Dependency, error) {
	i := strings.LastIndex(arg, "=")
	if i <= 0 || i == len(arg)-1 {
		return provenance.Dependency{}, fmt.Errorf("%s %q: want URI=PATH", name, arg)
	}
	d, err := digestOf(arg[i+1:])
	if err != nil {
		return provenance.Dependency{}, fmt.Errorf("%s %q: %w", name, arg, err)
	}
	return provenance.Dependency{Name: name, URI: arg[:i], Digest: d}, nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

func certCreateCmd(e *env) *cobra.Command {
	var weights, datasets, envs []string
	var baseModel, code, configFile, builder, out string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an unsigned certificate (a DSSE envelope) for a model's weight files",
		Example: `  silo cert create --weights model.gguf --dataset https://example.org/wiki=./data \
    --base-model hf://org/base=./base.gguf --code git+https://github.com/org/train@<commit> \
    --config train.json --builder https://ci.example.org/runner -o model.gguf.dsse.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := provenance.ModelInfo{Files: map[string]string{}, BuilderID: builder}
			for _, w := range weights {
				d, err := provenance.FileDigest(w)
				if err != nil {
					return fmt.Errorf("weights: %w", err)
				}
				name := filepath.Base(w)
				if _, dup := info.Files[name]; dup {
					return fmt.Errorf("weights: two files named %s", name)
				}
				info.Files[name] = d
			}
			for _, ds := range datasets {
				dep, err := pathDep("dataset", ds)
				if err != nil {
					return err
				}
				dep.Name = "dataset:" + dep.URI
				info.Datasets = append(info.Datasets, dep)
			}
			if baseModel != "" {
				dep, err := pathDep("base-model", baseModel)
				if err != nil {
					return err
				}
				info.BaseModel = &dep
			}
			if code != "" {
				i := strings.LastIndex(code, "@")
				if i <= 0 || !isHex(code[i+1:]) || (len(code)-i-1 != 40 && len(code)-i-1 != 64) {
					return fmt.Errorf("code %q: want GIT-URI@COMMIT with a full lowercase hex commit id", code)
				}
				info.TrainingCode = &provenance.Dependency{Name: "training-code", URI: code[:i],
					Digest: map[string]string{provenance.DigestGitCommit: code[i+1:]}}
			}
			if configFile != "" {
				b, err := os.ReadFile(configFile)
				if err != nil {
					return fmt.Errorf("config: %w", err)
				}
				if err := json.Unmarshal(b, &info.Config); err != nil {
					return fmt.Errorf("config %s: want a JSON object: %w", configFile, err)
				}
			}
			if len(envs) > 0 {
				info.Environment = map[string]string{}
				for _, kv := range envs {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return fmt.Errorf("env %q: want NAME=VALUE", kv)
					}
					info.Environment[k] = v
				}
			}
			st, err := provenance.NewModelStatement(info)
			if err != nil {
				return err
			}
			env, err := provenance.NewEnvelope(st)
			if err != nil {
				return err
			}
			return e.writeEnvelope(env, out)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&weights, "weights", nil, "a weight file (repeatable): a subject, by SHA-256")
	f.StringArrayVar(&datasets, "dataset", nil, "a dataset as URI=PATH (repeatable); PATH, a file or a directory, is hashed")
	f.StringVar(&baseModel, "base-model", "", "the base model as URI=PATH; PATH is hashed")
	f.StringVar(&code, "code", "", "the training code as GIT-URI@COMMIT")
	f.StringVar(&configFile, "config", "", "the training configuration (a JSON object)")
	f.StringVar(&builder, "builder", "", "who or what ran the training (an id, e.g. a URI)")
	f.StringArrayVar(&envs, "env", nil, "an environment measurement as NAME=VALUE (repeatable)")
	f.StringVarP(&out, "output", "o", "", "write the certificate here (default: standard output)")
	cmd.MarkFlagRequired("weights")
	cmd.MarkFlagRequired("builder")
	return cmd
}

func (e *env) writeEnvelope(env *provenance.Envelope, out string) error {
	b, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" {
		_, err := e.stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}

func readEnvelope(file string) (*provenance.Envelope, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	env, err := provenance.ParseEnvelope(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return env, nil
}

func certSignCmd(e *env) *cobra.Command {
	var keyFile, out string
	cmd := &cobra.Command{
		Use:   "sign CERT --key FILE",
		Short: "Add a signature to a certificate (Ed25519: an OpenSSH key, PKCS#8 PEM, or a base64 seed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kb, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			key, err := provenance.ParsePrivateKey(kb)
			if err != nil {
				return fmt.Errorf("key %s: %w", keyFile, err)
			}
			env, err := readEnvelope(args[0])
			if err != nil {
				return err
			}
			// Sign only what parses as a model statement: a signature is a
			// claim about its content.
			if _, err := provenance.ParseStatement(env.Payload); err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			signer := provenance.Ed25519Signer{Key: key}
			if err := env.Sign(signer); err != nil {
				return err
			}
			if out == "" {
				out = args[0]
			}
			if err := e.writeEnvelope(env, out); err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "signed with key %s; %d signature(s)\n", signer.KeyID(), len(env.Signatures))
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file")
	cmd.Flags().StringVarP(&out, "output", "o", "", "write here (default: replace CERT)")
	cmd.MarkFlagRequired("key")
	return cmd
}

func certVerifyCmd(e *env) *cobra.Command {
	var policyFile, model string
	cmd := &cobra.Command{
		Use:   "verify CERT WEIGHTS... --policy FILE",
		Short: "Check a certificate and weight files against a trust policy, as silo serve would in mode enforce",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := models.LoadPolicy(policyFile)
			if err != nil {
				return err
			}
			enforce := *p
			enforce.Mode = provenance.ModeEnforce
			envBytes, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			files := map[string]string{}
			for _, w := range args[1:] {
				d, err := provenance.FileDigest(w)
				if err != nil {
					return err
				}
				files[filepath.Base(w)] = d
			}
			if model == "" {
				model = models.NameOf(args[1])
			}
			d := provenance.Evaluate(&enforce, provenance.Input{Model: model, Envelope: envBytes, Files: files})
			if !d.Passed {
				if d.Err == nil {
					d.Err = errors.New(d.Reason)
				}
				return d.Err
			}
			fmt.Fprintf(e.stdout, "ok: %s\n", d.Reason)
			return nil
		},
	}
	cmd.Flags().StringVar(&policyFile, "policy", "", "trust policy file")
	cmd.Flags().StringVar(&model, "model", "", "the model name the policy rules match (default: the first weight file's name without .gguf)")
	cmd.MarkFlagRequired("policy")
	return cmd
}
