package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/silo-ai/silo/internal/engine/builtin"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/problem"
)

// modelRoutes serves the models API: the models engines serve, with the
// provenance status of the built-in engine's models (Options.Models and
// Options.Trust), one model's details, and deletion.
func (s *Server) modelRoutes() {
	s.mux.HandleFunc("GET /api/v1/models", s.api(s.listModels))
	s.mux.HandleFunc("GET /api/v1/models/{name}", s.api(s.getModel))
	s.mux.HandleFunc("DELETE /api/v1/models/{name}", s.api(adminOnly(s.deleteModel)))
	s.mux.HandleFunc("POST /api/v1/models/pull", s.api(adminOnly(s.pullModel)))
}

type modelJSON struct {
	ID         string        `json:"id"`
	Engine     string        `json:"engine"`
	OwnedBy    string        `json:"owned_by,omitempty"`
	Embeddings bool          `json:"embeddings"`
	Served     bool          `json:"served"`
	Status     models.Status `json:"status,omitempty"`
	Reason     string        `json:"reason,omitempty"`
}

// trust returns the checker (a no-policy one when none is configured, which
// reports every model unverified, as silo serve does).
func (s *Server) trust() *models.Checker {
	if s.opts.Trust != nil {
		return s.opts.Trust
	}
	return &models.Checker{Log: s.log}
}

func (s *Server) listModels(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	ms, err := s.eng.Models(r.Context())
	if err != nil {
		return err
	}
	out := make([]modelJSON, 0, len(ms))
	index := map[string]int{}
	for _, m := range ms {
		index[m.ID] = len(out)
		out = append(out, modelJSON{ID: m.ID, Engine: m.Engine, OwnedBy: m.OwnedBy, Embeddings: m.Embeddings, Served: true})
	}
	if s.opts.Models != nil {
		local, err := s.opts.Models.List()
		if err != nil {
			return err
		}
		for _, m := range local {
			v := s.trust().Check(r.Context(), m.Name, m.Path)
			i, ok := index[m.Name]
			if !ok || out[i].Engine != builtin.Name {
				// Not served by the built-in engine: the policy refused it
				// (or another engine serves a model of the same name).
				out = append(out, modelJSON{ID: m.Name, Engine: builtin.Name, OwnedBy: "silo", Embeddings: true})
				i = len(out) - 1
				out[i].Served = false
			}
			out[i].Status, out[i].Reason = v.Status, v.Reason
		}
	}
	return respond(w, http.StatusOK, map[string]any{"models": out})
}

type modelDetailJSON struct {
	Name         string          `json:"name"`
	Size         int64           `json:"size"`
	Modified     time.Time       `json:"modified"`
	Architecture string          `json:"architecture,omitempty"`
	Type         string          `json:"type,omitempty"`
	Parameters   uint64          `json:"parameters,omitempty"`
	SHA256       string          `json:"sha256,omitempty"`
	Served       bool            `json:"served"`
	Status       models.Status   `json:"status"`
	Reason       string          `json:"reason"`
	Signers      []string        `json:"signers,omitempty"`
	Error        string          `json:"error,omitempty"`
	Metadata     map[string]any  `json:"metadata,omitempty"`
	Certificate  json.RawMessage `json:"certificate,omitempty"`
	Log          *inclusionJSON  `json:"log,omitempty"`
}

type inclusionJSON struct {
	Index      int64  `json:"index"`
	TreeSize   int64  `json:"tree_size"`
	Checkpoint string `json:"checkpoint"`
}

var errNoModel = problem.NotFound("no such model in the models directory")

func (s *Server) getModel(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if s.opts.Models == nil {
		return errNoModel
	}
	name := r.PathValue("name")
	m, err := s.opts.Models.Info(name)
	if errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrInvalidName) {
		return errNoModel
	}
	if err != nil {
		return err
	}
	v := s.trust().Check(r.Context(), m.Name, m.Path)
	out := modelDetailJSON{Name: m.Name, Size: m.Size, Modified: m.ModTime, Architecture: m.Arch, Type: m.Type,
		Parameters: m.Params, SHA256: v.SHA256, Served: v.Allow, Status: v.Status, Reason: v.Reason,
		Signers: v.Signers, Error: m.Err}
	if out.SHA256 == "" {
		if out.SHA256, err = s.opts.Models.Digest(name); err != nil {
			return err
		}
	}
	if m.Err == "" {
		if out.Metadata, err = s.opts.Models.Metadata(name); err != nil {
			return err
		}
	}
	if v.Statement != nil {
		// Only a statement whose signatures met the policy is shown as the
		// model's certificate.
		if out.Certificate, err = json.Marshal(v.Statement); err != nil {
			return err
		}
	}
	if env, err := os.ReadFile(models.CertPath(m.Path)); err == nil {
		out.Log = s.certInclusion(env)
	}
	return respond(w, http.StatusOK, out)
}

func (s *Server) deleteModel(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if s.opts.Models == nil {
		return errNoModel
	}
	name := r.PathValue("name")
	if err := s.opts.Models.Remove(name); errors.Is(err, models.ErrNotFound) || errors.Is(err, models.ErrInvalidName) {
		return errNoModel
	} else if err != nil {
		return err
	}
	if err := s.record(r, p, "model.delete", "model:"+name, nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type progressJSON struct {
	Done  int64   `json:"done"`
	Total int64   `json:"total"`
	Rate  float64 `json:"rate"`
	ETA   float64 `json:"eta_seconds"`
}

// pullModel downloads a model, streaming progress as server-sent events.
// Errors found before the download starts are problem+json; later ones are
// an "error" event. Details of a failure that are not about the request (a
// path, a disk error) go to the log, not to the client.
func (s *Server) pullModel(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if s.opts.Models == nil {
		return problem.NotFound("this server has no models directory")
	}
	var in struct {
		Source string `json:"source"`
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Force  bool   `json:"force"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, err := models.ResolveURL(in.Source)
	if err != nil {
		return problem.Invalid("source must be an http(s) URL or hf://org/repo/file.gguf")
	}
	if in.Name == "" {
		pu, _ := url.Parse(u)
		in.Name = models.NameOf(pu.Path)
	}
	if !models.ValidName(in.Name) {
		return problem.Invalid("the model name taken from the source is not valid; give one as name")
	}
	if _, err := s.opts.Models.Info(in.Name); err == nil && !in.Force {
		return problem.Conflict("a model of this name exists; pass force to replace it")
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func(event string, v any) {
		b, _ := json.Marshal(v)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		rc.Flush()
	}
	m, err := s.opts.Models.Pull(r.Context(), in.Source, models.PullOptions{Name: in.Name, SHA256: in.SHA256, Force: in.Force,
		ProgressEvery: 500 * time.Millisecond,
		Progress: func(pr models.Progress) {
			send("progress", progressJSON{Done: pr.Done, Total: pr.Total, Rate: pr.Rate, ETA: pr.ETA.Seconds()})
		}})
	if err != nil {
		s.log.WarnContext(r.Context(), "model pull failed", "model", in.Name, "source", in.Source, "err", err)
		detail := "the download failed or was interrupted (details in the server log); pull again to resume"
		switch {
		case errors.Is(err, models.ErrDigestMismatch):
			detail = "the downloaded file does not match the expected sha256; it was discarded"
		case errors.Is(err, models.ErrNotGGUF):
			detail = "the downloaded file is not a GGUF model; it was discarded"
		case errors.Is(err, models.ErrExists):
			detail = "a model of this name exists; pass force to replace it"
		}
		send("error", map[string]any{"type": "urn:silo:problem:pull-failed", "title": "Pull failed", "status": 502, "detail": detail})
		return nil
	}
	sum, _ := s.opts.Models.Digest(m.Name) // recorded while downloading: a cache hit
	if err := s.record(r, p, "model.pull", "model:"+m.Name, map[string]any{"source": in.Source, "sha256": sum}); err != nil {
		s.log.ErrorContext(r.Context(), "audit: model pull", "err", err)
	}
	send("done", map[string]any{"name": m.Name, "size": m.Size, "sha256": sum})
	return nil
}
