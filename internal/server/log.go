package server

import (
	"errors"
	"net/http"
	"strings"

	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/tlog"
)

// logRoutes serves the certificate transparency log (Options.CertLog) as
// C2SP tlog-tiles under /log/: /log/checkpoint, /log/tile/..., plus
// /log/key, the log's signed-note verifier key for clients that trust it on
// first use. The routes are public and read-only, like static tiles on a
// CDN: full tiles never change and may be cached for good; the checkpoint
// and partial tiles may not.
func (s *Server) logRoutes() {
	s.mux.HandleFunc("POST /api/v1/log/cosignatures", s.api(adminOnly(s.addCosignatures)))
	s.mux.HandleFunc("POST /api/v1/log/releases", s.api(adminOnly(s.addRelease)))
	if s.opts.CertLog == nil {
		return
	}
	l := s.opts.CertLog.Log()
	s.mux.HandleFunc("GET /log/key", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(s.opts.CertLog.VerifierKey() + "\n"))
	})
	s.mux.HandleFunc("GET /log/{path...}", func(w http.ResponseWriter, r *http.Request) {
		p := r.PathValue("path")
		b, err := l.ReadTile(p)
		switch {
		case errors.Is(err, tlog.ErrNotFound):
			problem.Write(w, r, problem.NotFound("no such log resource"))
			return
		case errors.Is(err, tlog.ErrMalformed):
			problem.Write(w, r, problem.Invalid("not a tlog-tiles path"))
			return
		case err != nil:
			s.writeErr(w, r, err)
			return
		}
		if p == "checkpoint" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
		} else {
			w.Header().Set("Content-Type", "application/octet-stream")
			if strings.Contains(p, ".p/") {
				w.Header().Set("Cache-Control", "no-cache")
			} else {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			}
		}
		w.Write(b)
	})
}

// certInclusion returns where a certificate envelope is in the log, if the
// server has logged it.
func (s *Server) certInclusion(envelope []byte) *inclusionJSON {
	if s.opts.CertLog == nil {
		return nil
	}
	p, ok := s.opts.CertLog.Find(envelope)
	if !ok {
		return nil
	}
	return &inclusionJSON{Index: p.Index, TreeSize: p.TreeSize, Checkpoint: string(p.Checkpoint)}
}

// addCosignatures merges witness cosignatures into the current checkpoint.
func (s *Server) addCosignatures(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if s.opts.CertLog == nil {
		return problem.NotFound("this server has no certificate log")
	}
	var in struct {
		Checkpoint string `json:"checkpoint"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	err := s.opts.CertLog.AddCosignatures([]byte(in.Checkpoint))
	switch {
	case errors.Is(err, tlog.ErrNotFound):
		return problem.Conflict("not the log's current checkpoint (it has grown since): cosign the current one")
	case errors.Is(err, tlog.ErrBadSignature):
		return problem.Invalid("no valid cosignature from a witness this server trusts (silo serve --log-witness)")
	case err != nil:
		return err
	}
	if err := s.record(r, p, "log.cosign", "log:"+s.opts.CertLog.Origin(), nil); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addRelease appends a release record (a silo binary's version and sha256)
// to the log; the server holds the log's lock, so this is how an admin
// publishes a release while it runs.
func (s *Server) addRelease(w http.ResponseWriter, r *http.Request, p *identity.Principal) error {
	if s.opts.CertLog == nil {
		return problem.NotFound("this server has no certificate log")
	}
	var in struct {
		Version string `json:"version"`
		SHA256  string `json:"sha256"`
	}
	if err := readJSON(r, &in); err != nil {
		return err
	}
	proof, err := s.opts.CertLog.AddRelease(in.Version, in.SHA256)
	if err != nil {
		return err
	}
	if err := s.record(r, p, "log.release", "log:"+s.opts.CertLog.Origin(), map[string]any{"version": in.Version, "sha256": in.SHA256, "index": proof.Index}); err != nil {
		return err
	}
	return respond(w, http.StatusCreated, inclusionJSON{Index: proof.Index, TreeSize: proof.TreeSize, Checkpoint: string(proof.Checkpoint)})
}
