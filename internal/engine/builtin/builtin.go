// Package builtin is silo's embedded inference engine: pure Go, serving the
// GGUF files of a models directory by name (the file name without .gguf).
//
// A model is loaded on first use (or by Load) and stays until Unload or
// Close: its weights stay in the file's read-only mapping. Each loaded model
// has one batch loop. The loop admits new requests between forward steps,
// feeds their prompts in chunks, and decodes the next token of every active
// sequence in one batched forward pass (continuous batching). Requests get
// their text through a channel; the caller's goroutine turns tokens into
// UTF-8 text, applies stop strings and calls emit. Finished sequences are
// kept for a while (Options.KeepSequences): a request whose prompt starts
// with the tokens of a kept one (a chat's next turn) reuses its KV cache.
//
// Promises:
//   - Chat requests are rendered with the model's tokenizer.chat_template,
//     or with ChatML when the model has none (or it cannot be rendered).
//   - Generation ends at an end-of-generation token, a stop string (not
//     emitted), MaxTokens, or the context window, whichever comes first.
//   - Streamed text is valid UTF-8: a character split across tokens is sent
//     whole, with its last byte.
//   - The same Seed and request give the same tokens.
//   - A cancelled context, or an error from emit, stops the request's
//     compute within one token: the loop runs at most one more forward step
//     that includes the sequence.
//   - Embed returns the mean over tokens of the last hidden states (after
//     the final norm), scaled to unit length.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/engine/llama"
)

// Name is the engine name reported in ModelInfo.Engine and Health.
const Name = "builtin"

// Extension is the file extension of served models.
const Extension = ".gguf"

// DefaultMaxContext is the context window when Options.MaxContext is 0
// and the model's is longer.
const DefaultMaxContext = 8192

// Options configures an Engine.
type Options struct {
	// Dir is the models directory: NAME.gguf is served as model NAME.
	Dir string
	// CacheType is the KV cache element type (default F16).
	CacheType llama.CacheType
	// MaxContext caps each sequence's context window: 0 means the model's
	// context length up to DefaultMaxContext (the KV cache of a long-context
	// model would not fit in memory otherwise); a positive value is the cap.
	MaxContext int
	// MaxSequences is how many sequences one model decodes together; more
	// requests wait in the loop's queue (default 8).
	MaxSequences int
	// PrefillChunk is the most prompt tokens fed in one forward step
	// (default 256); longer prompts take several steps, interleaved with
	// the decoding of other sequences.
	PrefillChunk int
	// KeepSequences is how many finished sequences each model keeps, with
	// their KV caches, for reuse by a later request whose prompt starts the
	// same way (a chat's next turn feeds only its new tokens). Default 4;
	// negative: none. Whatever the count, kept caches hold at most the
	// memory of one full context window.
	KeepSequences int
	// Logger receives load and unload events (default slog.Default()).
	Logger *slog.Logger
	// Verify, when set, decides whether model name (file path) may be
	// served: Models omits a model it refuses, and loading one fails with
	// its error (wrapped with engine.ErrModelNotFound) and logs it. It is
	// called on every Models call and before every load, so it should be
	// cheap for an unchanged file (internal/models caches digests).
	Verify func(ctx context.Context, name, path string) error
	// Loaded, if not nil, is called once a model is loaded and before it
	// serves (silo serve --tpm measures it there); an error fails the load
	// (engine.ErrUnavailable: the next request tries again).
	Loaded func(name, path string) error
}

// Engine serves GGUF models from a directory. It implements engine.Engine
// and engine.Loader.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	models map[string]*entry
	closed bool
}

// entry is a model being loaded or loaded.
type entry struct {
	ready chan struct{} // closed when loading ends
	m     *model
	err   error
}

var (
	_ engine.Engine = (*Engine)(nil)
	_ engine.Loader = (*Engine)(nil)
)

// New returns an Engine serving the models in opts.Dir. The directory is
// read on each Models call; it need not exist yet.
func New(opts Options) (*Engine, error) {
	if opts.Dir == "" {
		return nil, errors.New("builtin: new: no models directory")
	}
	if opts.MaxSequences <= 0 {
		opts.MaxSequences = 8
	}
	if opts.PrefillChunk <= 0 {
		opts.PrefillChunk = 256
	}
	if opts.KeepSequences == 0 {
		opts.KeepSequences = 4
	}
	if opts.MaxContext < 0 {
		return nil, fmt.Errorf("builtin: new: negative MaxContext %d", opts.MaxContext)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Engine{opts: opts, log: log, models: map[string]*entry{}}, nil
}

// validName reports whether name can be a model file name in Dir.
func validName(name string) bool {
	return name != "" && len(name) <= 255 && !strings.ContainsAny(name, `/\`+"\x00") &&
		name != "." && name != ".." && !strings.HasPrefix(name, ".")
}

// Path returns the file that serves model name.
func (e *Engine) Path(name string) (string, error) {
	if !validName(name) {
		return "", fmt.Errorf("builtin: model %q: %w", name, engine.ErrModelNotFound)
	}
	return filepath.Join(e.opts.Dir, name+Extension), nil
}

// Models lists the .gguf files of the models directory.
func (e *Engine) Models(ctx context.Context) ([]engine.ModelInfo, error) {
	ents, err := os.ReadDir(e.opts.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("builtin: list models: %w", err)
	}
	var out []engine.ModelInfo
	for _, de := range ents {
		name, ok := strings.CutSuffix(de.Name(), Extension)
		if !ok || !validName(name) || de.IsDir() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		if e.opts.Verify != nil && e.opts.Verify(ctx, name, filepath.Join(e.opts.Dir, de.Name())) != nil {
			continue
		}
		out = append(out, engine.ModelInfo{ID: name, OwnedBy: "silo", Created: info.ModTime().UTC(),
			Engine: Name, Embeddings: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Load loads model name if it is not loaded yet.
func (e *Engine) Load(ctx context.Context, name string) error {
	_, err := e.get(ctx, name)
	return err
}

// get returns the loaded model, loading it first if needed. Concurrent
// callers share one load.
func (e *Engine) get(ctx context.Context, name string) (*model, error) {
	path, err := e.Path(name)
	if err != nil {
		return nil, err
	}
	if e.opts.Verify != nil {
		if err := e.opts.Verify(ctx, name, path); err != nil {
			e.log.WarnContext(ctx, "builtin: load refused", "model", name, "err", err)
			return nil, fmt.Errorf("builtin: model %q refused: %w (%w)", name, engine.ErrModelNotFound, err)
		}
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, fmt.Errorf("builtin: engine closed: %w", engine.ErrUnavailable)
	}
	ent, ok := e.models[name]
	if !ok {
		ent = &entry{ready: make(chan struct{})}
		e.models[name] = ent
		go func() {
			start := time.Now()
			m, err := openModel(name, path, e.opts, e.log)
			if err == nil && e.opts.Loaded != nil {
				if lerr := e.opts.Loaded(name, path); lerr != nil {
					m.close()
					m, err = nil, fmt.Errorf("builtin: model %q: %w (%w)", name, engine.ErrUnavailable, lerr)
				}
			}
			e.mu.Lock()
			ent.m, ent.err = m, err
			if err != nil {
				delete(e.models, name)
			}
			e.mu.Unlock()
			close(ent.ready)
			switch {
			case errors.Is(err, engine.ErrModelNotFound):
				e.log.Debug("builtin: no such model", "model", name)
			case err != nil:
				e.log.Warn("builtin: load failed", "model", name, "err", err)
			default:
				e.log.Info("builtin: model loaded", "model", name, "arch", m.lm.Config.Arch,
					"layers", m.lm.Config.Layers, "seconds", time.Since(start).Seconds())
			}
		}()
	}
	e.mu.Unlock()
	select {
	case <-ent.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if ent.err != nil {
		return nil, ent.err
	}
	return ent.m, nil
}

// Unload stops model name's batch loop (failing its requests with
// engine.ErrUnavailable) and releases its memory. Unloading a model that is
// not loaded does nothing.
func (e *Engine) Unload(ctx context.Context, name string) error {
	e.mu.Lock()
	ent, ok := e.models[name]
	if ok {
		delete(e.models, name)
	}
	e.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-ent.ready:
	case <-ctx.Done():
		// Finish the unload in the background once loading ends.
		go func() {
			<-ent.ready
			if ent.m != nil {
				ent.m.close()
			}
		}()
		return ctx.Err()
	}
	if ent.m != nil {
		return ent.m.close()
	}
	return nil
}

// Loaded lists the names of the loaded models.
func (e *Engine) Loaded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for name, ent := range e.models {
		select {
		case <-ent.ready:
			if ent.m != nil {
				out = append(out, name)
			}
		default:
		}
	}
	sort.Strings(out)
	return out
}

// Generate runs one request (see the package documentation).
func (e *Engine) Generate(ctx context.Context, req *engine.Request, emit engine.EmitFunc) (engine.Result, error) {
	if (len(req.Messages) == 0) == (req.Prompt == "") {
		return engine.Result{}, fmt.Errorf("builtin: exactly one of messages and prompt: %w", engine.ErrInvalidRequest)
	}
	m, err := e.get(ctx, req.Model)
	if err != nil {
		return engine.Result{}, err
	}
	return m.generate(ctx, req, emit)
}

// Embed returns one unit vector per input.
func (e *Engine) Embed(ctx context.Context, name string, inputs []string) ([][]float32, engine.Usage, error) {
	m, err := e.get(ctx, name)
	if err != nil {
		return nil, engine.Usage{}, err
	}
	return m.embed(ctx, inputs)
}

// Health reports the engine as healthy while it is open.
func (e *Engine) Health(ctx context.Context) []engine.Health {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	loaded := e.Loaded()
	h := engine.Health{Name: Name, Healthy: !closed,
		Detail: fmt.Sprintf("%d model(s) loaded, %d threads", len(loaded), runtime.GOMAXPROCS(0))}
	if closed {
		h.Detail = "closed"
	}
	return []engine.Health{h}
}

// Close unloads every model. Later calls fail with engine.ErrUnavailable.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	ents := e.models
	e.models = map[string]*entry{}
	e.mu.Unlock()
	var errs []error
	for _, ent := range ents {
		<-ent.ready
		if ent.m != nil {
			errs = append(errs, ent.m.close())
		}
	}
	return errors.Join(errs...)
}
