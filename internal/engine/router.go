package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Router is an Engine over several engines (the built-in engine and the
// upstream pool): each request goes to the first engine, in order, that
// lists its model.
type Router struct {
	engines []Engine
}

var _ Engine = (*Router)(nil)

// NewRouter returns a Router over engines, in order of preference.
func NewRouter(engines ...Engine) *Router { return &Router{engines: engines} }

func (r *Router) find(ctx context.Context, model string) (Engine, error) {
	var errs []error
	for _, e := range r.engines {
		ms, err := e.Models(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			if m.ID == model {
				return e, nil
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %q (and %w)", ErrModelNotFound, model, errors.Join(errs...))
	}
	return nil, fmt.Errorf("%w: %q", ErrModelNotFound, model)
}

// Models lists every engine's models; a model served by two engines is
// listed once, from the preferred one.
func (r *Router) Models(ctx context.Context) ([]ModelInfo, error) {
	seen := map[string]bool{}
	var out []ModelInfo
	var errs []error
	for _, e := range r.engines {
		ms, err := e.Models(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, m := range ms {
			if !seen[m.ID] {
				seen[m.ID] = true
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Generate runs req on the engine that serves its model.
func (r *Router) Generate(ctx context.Context, req *Request, emit EmitFunc) (Result, error) {
	e, err := r.find(ctx, req.Model)
	if err != nil {
		return Result{}, err
	}
	return e.Generate(ctx, req, emit)
}

// Embed runs on the engine that serves model.
func (r *Router) Embed(ctx context.Context, model string, inputs []string) ([][]float32, Usage, error) {
	e, err := r.find(ctx, model)
	if err != nil {
		return nil, Usage{}, err
	}
	return e.Embed(ctx, model, inputs)
}

// Health joins every engine's reports.
func (r *Router) Health(ctx context.Context) []Health {
	var out []Health
	for _, e := range r.engines {
		out = append(out, e.Health(ctx)...)
	}
	return out
}

// Close closes every engine.
func (r *Router) Close() error {
	var errs []error
	for _, e := range r.engines {
		errs = append(errs, e.Close())
	}
	return errors.Join(errs...)
}
