package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/engine"
)

// maxEmbeddingsBody bounds an embeddings response.
const maxEmbeddingsBody = 256 << 20

// errIdle is the cause of cancelling a stream that went quiet.
var errIdle = errors.New("stream idle")

// Generate streams one completion from the least-loaded healthy backend
// serving req.Model, retrying on another backend only while nothing has
// been emitted.
func (p *Pool) Generate(ctx context.Context, req *engine.Request, emit engine.EmitFunc) (engine.Result, error) {
	if req == nil || req.Model == "" {
		return engine.Result{}, fmt.Errorf("upstream: generate: %w: no model", engine.ErrInvalidRequest)
	}
	body, chat, err := newGenerateBody(req, req.Model)
	if err != nil {
		return engine.Result{}, fmt.Errorf("upstream: generate: %w", err)
	}
	path := "/completions"
	if chat {
		path = "/chat/completions"
	}
	var res engine.Result
	err = p.route(ctx, req.Model, func(b *backend, um string) attempt {
		body.Model = um
		var a attempt
		res, a = p.streamFrom(ctx, b, path, body, emit)
		return a
	})
	if err != nil {
		return engine.Result{}, err
	}
	return res, nil
}

// streamFrom runs one streamed generation on b.
func (p *Pool) streamFrom(parent context.Context, b *backend, path string, body *generateBody, emit engine.EmitFunc) (engine.Result, attempt) {
	data, err := json.Marshal(body)
	if err != nil {
		return engine.Result{}, attempt{err: fmt.Errorf("upstream: encode request: %w", err)}
	}
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	req, err := b.newRequest(ctx, http.MethodPost, path, bytes.NewReader(data))
	if err != nil {
		return engine.Result{}, attempt{err: err}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		if perr := parent.Err(); perr != nil {
			return engine.Result{}, attempt{err: fmt.Errorf("upstream: generate: %w", perr), outcome: neutral}
		}
		return engine.Result{}, attempt{
			err:   fmt.Errorf("upstream: backend %q: %w: %w", b.cfg.Name, engine.ErrUnavailable, redact(err)),
			retry: true, outcome: failure,
		}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return engine.Result{}, classifyStatus(b, resp, msg)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return engine.Result{}, attempt{
			err:   fmt.Errorf("upstream: backend %q: %w: answered %q, not an event stream", b.cfg.Name, engine.ErrUnavailable, clip(mt)),
			retry: true, outcome: failure,
		}
	}

	idle := time.AfterFunc(p.cfg.IdleTimeout, func() { cancel(errIdle) })
	defer idle.Stop()
	emitted := false
	var emitErr error
	res, err := decodeStream(resp.Body, func(c engine.Chunk) error {
		emitted = true
		// A slow client is not an idle upstream.
		idle.Stop()
		defer idle.Reset(p.cfg.IdleTimeout)
		emitErr = emit(c)
		return emitErr
	}, func() { idle.Reset(p.cfg.IdleTimeout) })
	switch {
	case err == nil:
		return res, attempt{outcome: success}
	case emitErr != nil:
		return engine.Result{}, attempt{err: emitErr, outcome: neutral}
	case parent.Err() != nil:
		return engine.Result{}, attempt{err: fmt.Errorf("upstream: generate: %w", parent.Err()), outcome: neutral}
	case errors.Is(context.Cause(ctx), errIdle):
		err = fmt.Errorf("no event for %s", p.cfg.IdleTimeout)
	}
	return engine.Result{}, attempt{
		err:   fmt.Errorf("upstream: backend %q: %w: %w", b.cfg.Name, engine.ErrUnavailable, redact(err)),
		retry: !emitted, outcome: failure,
	}
}

// Embed returns one vector per input from /v1/embeddings, retrying on
// another backend when one fails.
func (p *Pool) Embed(ctx context.Context, model string, inputs []string) ([][]float32, engine.Usage, error) {
	if model == "" || len(inputs) == 0 {
		return nil, engine.Usage{}, fmt.Errorf("upstream: embed: %w: no model or no input", engine.ErrInvalidRequest)
	}
	var (
		vecs  [][]float32
		usage engine.Usage
	)
	body := embeddingsBody{Input: inputs, EncodingFormat: "float"}
	err := p.route(ctx, model, func(b *backend, um string) attempt {
		body.Model = um
		var a attempt
		vecs, usage, a = p.embedOn(ctx, b, body)
		return a
	})
	if err != nil {
		return nil, engine.Usage{}, err
	}
	return vecs, usage, nil
}

func (p *Pool) embedOn(parent context.Context, b *backend, body embeddingsBody) ([][]float32, engine.Usage, attempt) {
	data, err := json.Marshal(body)
	if err != nil {
		return nil, engine.Usage{}, attempt{err: fmt.Errorf("upstream: encode request: %w", err)}
	}
	ctx, cancel := context.WithTimeout(parent, p.cfg.ResponseTimeout)
	defer cancel()
	req, err := b.newRequest(ctx, http.MethodPost, "/embeddings", bytes.NewReader(data))
	if err != nil {
		return nil, engine.Usage{}, attempt{err: err}
	}
	fail := func(err error) ([][]float32, engine.Usage, attempt) {
		if perr := parent.Err(); perr != nil {
			return nil, engine.Usage{}, attempt{err: fmt.Errorf("upstream: embed: %w", perr), outcome: neutral}
		}
		return nil, engine.Usage{}, attempt{
			err:   fmt.Errorf("upstream: backend %q: %w: %w", b.cfg.Name, engine.ErrUnavailable, redact(err)),
			retry: true, outcome: failure,
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, engine.Usage{}, classifyStatus(b, resp, msg)
	}
	vecs, usage, err := decodeEmbeddings(io.LimitReader(resp.Body, maxEmbeddingsBody), len(body.Input))
	if err != nil {
		return fail(err)
	}
	return vecs, usage, attempt{outcome: success}
}

// redact drops the URL from an HTTP client error: backends are named by
// their Name, and a URL may carry credentials.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
