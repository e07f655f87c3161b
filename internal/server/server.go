// Package server wires silo's HTTP surface: the OpenAI-compatible /v1, the
// Ollama-compatible subset under /api/ (internal/ollama), the
// spec-validated admin API /api/v1 with its docs, health, metrics and the
// web root, behind authentication, body limits and security headers.
//
// Every route authenticates except the few listed in publicRoutes, which
// reveal nothing: liveness/readiness, the API's own documentation, the web
// root page, the one-time bootstrap (guarded by its token), passkey
// sign-in and invitation acceptance (guarded by its token), and the
// transparency log under /log/ (public by design, read-only). /metrics is
// open to loopback clients only and otherwise needs the metrics token.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/silo-ai/silo/internal/audit"
	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/models"
	"github.com/silo-ai/silo/internal/ollama"
	"github.com/silo-ai/silo/internal/openai"
	"github.com/silo-ai/silo/internal/problem"
	"github.com/silo-ai/silo/internal/seal"
	"github.com/silo-ai/silo/internal/store"
)

// DefaultMaxBodyBytes bounds request bodies unless configured otherwise.
const DefaultMaxBodyBytes = 8 << 20

// Options configure a Server.
type Options struct {
	Store        store.Store
	Engine       engine.Engine // normally an *engine.Scheduler
	Log          *slog.Logger
	Registry     *prometheus.Registry // nil: a fresh one
	MaxBodyBytes int64
	// MetricsToken, when set, lets non-loopback clients read /metrics with
	// "Authorization: Bearer <token>".
	MetricsToken string
	// Version is reported by /healthz.
	Version string
	// TransitKey opens chat requests sealed in transit (HPKE) and is
	// published at /api/v1/keys/server; nil: a fresh key for this process.
	TransitKey *seal.ServerKey
	// Models is the built-in engine's models directory and Trust the
	// policy checker of its models (both optional; see models_api.go).
	Models *models.Store
	Trust  *models.Checker
	// CertLog, when set, is served read-only under /log/ (see log.go).
	CertLog *models.CertLog
	// Attest, if not nil, answers GET /api/v1/attestation with TPM quotes
	// bound to TLSKey, the SHA-256 of the server's TLS public key (zero
	// when silo serves plain HTTP).
	Attest Attester
	TLSKey [32]byte
	// Passkeys names the WebAuthn relying party (its domain and the web
	// origins allowed to sign in); empty: localhost.
	Passkeys identity.PasskeyConfig
}

// Server is silo's HTTP handler.
type Server struct {
	opts    Options
	st      store.Store
	eng     engine.Engine
	log     *slog.Logger
	keys    *identity.Keys
	auth    *authService // passkeys, sessions, TOTP (auth_api.go)
	audit   *audit.Log
	meter   *metering.Meter
	spec    *Spec
	metrics *metrics
	reg     *prometheus.Registry
	mux     *http.ServeMux
	handler http.Handler
	// quotes bounds TPM quotes per client address (attestation.go).
	quotes addrLimiter
}

// New builds the server.
func New(opts Options) (*Server, error) {
	if opts.Store == nil || opts.Engine == nil {
		return nil, errors.New("server: store and engine are required")
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	spec, err := LoadSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:    opts,
		st:      opts.Store,
		eng:     opts.Engine,
		log:     opts.Log,
		keys:    identity.NewKeys(opts.Store),
		audit:   audit.New(opts.Store),
		meter:   metering.New(opts.Store),
		spec:    spec,
		reg:     opts.Registry,
		metrics: newMetrics(opts.Registry),
		mux:     http.NewServeMux(),
	}
	if s.auth, err = newAuthService(opts.Store, opts.Passkeys); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	s.routes()
	s.handler = s.instrument(s.secureHeaders(s.limitBody(s.authenticate(s.mux))))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// describeModel tells the Ollama subset what the model store knows of
// model name's file. A listing never reads a whole file: the digest is
// there once silo has hashed the file (import, pull, provenance check).
func (s *Server) describeModel(name string, full bool) (ollama.ModelFacts, bool) {
	m, err := s.opts.Models.Info(name)
	if err != nil {
		return ollama.ModelFacts{}, false
	}
	f := ollama.ModelFacts{Size: m.Size, Family: m.Arch, Params: m.Params, Quantization: m.Type}
	f.Digest, _ = s.opts.Models.CachedDigest(name)
	if full {
		f.Metadata, _ = s.opts.Models.Metadata(name)
	}
	return f, true
}

// Spec returns the API validator (tests validate responses with it).
func (s *Server) Spec() *Spec { return s.spec }

// Audit returns the audit log.
func (s *Server) Audit() *audit.Log { return s.audit }

func (s *Server) routes() {
	oa := &openai.Handler{Engine: s.eng, Meter: s.meter, Tokens: s.metrics, Log: s.log}
	oa.Register(s.mux)
	ol := &ollama.Handler{Engine: s.eng, Meter: s.meter, Tokens: s.metrics, Log: s.log, Version: s.opts.Version}
	if s.opts.Models != nil {
		ol.Describe = s.describeModel
	}
	ol.Register(s.mux, s.notFound)
	s.sealedRoutes(oa)
	s.apiRoutes()
	s.authRoutes()
	s.modelRoutes()
	s.logRoutes()
	s.mux.HandleFunc("GET /api/v1/attestation", s.api(s.getAttestation))
	s.mux.HandleFunc("GET /api/v1/openapi.yaml", s.serveSpec)
	s.mux.Handle("GET /api/v1/ui/", docsHandler())
	s.mux.HandleFunc("GET /api/v1/ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/v1/ui/", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", s.metricsHandler())
	app := appHandler()
	s.mux.Handle("GET /{$}", app)
	s.mux.Handle("GET /assets/", app)
	s.mux.HandleFunc("/", s.notFound)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.NotFound(fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)))
}

// publicRoutes need no authentication (exact method+path).
var publicRoutes = map[string]bool{
	"GET /healthz":             true,
	"GET /readyz":              true,
	"GET /":                    true,
	"GET /api/v1/openapi.yaml": true,
	"POST /api/v1/bootstrap":   true,
	"GET /api/v1/attestation":  true, // a quote is for anyone to check
	"GET /metrics":             true, // guarded by metricsHandler itself
	"GET /favicon.ico":         true,
	"GET /api/v1/ui":           true,
	// Signing in, and accepting an invitation (guarded by its token).
	"POST /api/v1/sessions/login/begin":      true,
	"POST /api/v1/sessions/login/finish":     true,
	"POST /api/v1/invitations/accept/begin":  true,
	"POST /api/v1/invitations/accept/finish": true,
}

func isPublic(r *http.Request) bool {
	if publicRoutes[r.Method+" "+r.URL.Path] {
		return true
	}
	return r.Method == http.MethodGet && (strings.HasPrefix(r.URL.Path, "/api/v1/ui/") || strings.HasPrefix(r.URL.Path, "/log/") || strings.HasPrefix(r.URL.Path, "/assets/"))
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate resolves the caller, by API key (Authorization: Bearer) or
// else by session cookie (with the CSRF and restricted-session rules of
// sessionAuth); unauthenticated requests to anything but a public route
// are refused here, before validation or handlers.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p *identity.Principal
		if tok := bearer(r); tok != "" {
			var err error
			p, err = s.keys.Authenticate(r.Context(), tok)
			if err != nil && !errors.Is(err, identity.ErrUnauthenticated) {
				s.log.ErrorContext(r.Context(), "authentication failed", "err", err)
				s.writeErr(w, r, err)
				return
			}
		} else if !isPublic(r) {
			sp, sess, err := s.sessionAuth(r)
			if err != nil {
				s.writeErr(w, r, err)
				return
			}
			if sess != nil {
				p = sp
				r = r.WithContext(identity.WithSession(r.Context(), sess))
			}
		}
		if p == nil && !isPublic(r) {
			s.writeErr(w, r, identity.ErrUnauthenticated)
			return
		}
		if p != nil {
			r = r.WithContext(identity.WithPrincipal(r.Context(), p))
		}
		next.ServeHTTP(w, r)
	})
}

// writeErr answers in the dialect of the route: OpenAI objects on /v1,
// Ollama's {"error"} under /api/ but not /api/v1, problem+json elsewhere.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	if problem.Classify(err).Internal {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if strings.HasPrefix(r.URL.Path, "/v1/") {
		problem.WriteOpenAI(w, err)
		return
	}
	if ollama.Handles(r.URL.Path) {
		ollama.WriteError(w, err)
		return
	}
	problem.Write(w, r, err)
}

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.opts.MaxBodyBytes {
			s.writeErr(w, r, &problem.Error{Status: http.StatusRequestEntityTooLarge, Slug: "too-large",
				Title: "Request body too large", Detail: fmt.Sprintf("request body exceeds %d bytes", s.opts.MaxBodyBytes)})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

func (s *Server) secureHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// statusWriter records the status code for metrics and logs.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				if sw.code == 0 {
					s.writeErr(sw, r, errors.New("panic"))
				}
			}
			// Inner handlers see copies of r; ask the mux for the route.
			_, route := s.mux.Handler(r)
			s.metrics.observe(route, r.Method, sw.code, time.Since(start))
			s.log.DebugContext(r.Context(), "request", "method", r.Method, "route", route, "code", sw.code, "dur", time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz answers 200 when the store answers and at least one engine
// backend is healthy. It names no backend: details are in /metrics.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := s.st.CountAdmins(ctx); err != nil {
		s.log.WarnContext(ctx, "not ready: store", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "store unavailable")
		return
	}
	hs := s.eng.Health(ctx)
	healthy := len(hs) == 0
	for _, h := range hs {
		healthy = healthy || h.Healthy
	}
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "no healthy engine")
		return
	}
	fmt.Fprintln(w, "ready")
}

func isLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Server) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r) {
			tok := bearer(r)
			if s.opts.MetricsToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.opts.MetricsToken)) != 1 {
				s.writeErr(w, r, identity.ErrUnauthenticated)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) serveSpec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(specBytes())
}
