package ollama

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/silo-ai/silo/internal/engine"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/problem"
)

func TestOllamaHandles(t *testing.T) {
	for path, want := range map[string]bool{
		"/api/chat": true, "/api/tags": true, "/api/": true, "/api/v2/x": true, "/api/v1x": true,
		"/api/v1": false, "/api/v1/": false, "/api/v1/me": false, "/v1/models": false, "/": false, "/api": false,
	} {
		if got := Handles(path); got != want {
			t.Errorf("Handles(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestOllamaOptions(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	seed := int64(42)
	for _, tc := range []struct {
		name string
		in   string
		want engine.Request
		err  string
	}{
		{"none", ``, engine.Request{}, ""},
		{"null", `null`, engine.Request{}, ""},
		{"all", `{"temperature":0.7,"top_k":40,"top_p":0.9,"min_p":0.05,"seed":42,"num_predict":128,"stop":["\n","user:"],
			"repeat_penalty":1.1,"presence_penalty":0.5,"frequency_penalty":-0.5,"num_ctx":8192,"num_gpu":1}`,
			engine.Request{Temperature: f(0.7), TopK: 40, TopP: f(0.9), MinP: 0.05, Seed: &seed, MaxTokens: 128, Stop: []string{"\n", "user:"},
				RepetitionPenalty: 1.1, PresencePenalty: 0.5, FrequencyPenalty: -0.5}, ""},
		{"stop as a string", `{"stop":"END"}`, engine.Request{Stop: []string{"END"}}, ""},
		{"random seed", `{"seed":-1}`, engine.Request{}, ""},
		{"no limit", `{"num_predict":-1}`, engine.Request{}, ""},
		{"fill context", `{"num_predict":-2}`, engine.Request{}, ""},
		{"not an object", `[1]`, engine.Request{}, "options must be an object"},
		{"wrong type", `{"top_k":"many"}`, engine.Request{}, "options.top_k must be an integer, not string"},
		{"float for int", `{"seed":1.5}`, engine.Request{}, "options.seed must be an integer"},
		{"unsupported", `{"typical_p":0.5,"mirostat":1}`, engine.Request{}, `option "mirostat" is not supported`},
		{"num_predict 0", `{"num_predict":0}`, engine.Request{}, "num_predict must be positive"},
		{"num_predict -3", `{"num_predict":-3}`, engine.Request{}, "num_predict must be positive"},
		{"top_p 0", `{"top_p":0}`, engine.Request{}, "top_p"},
		{"too many stops", `{"stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}`, engine.Request{}, "at most 16 stop sequences"},
		{"empty stop", `{"stop":[""]}`, engine.Request{}, "stop sequences"},
		{"penalty", `{"presence_penalty":3}`, engine.Request{}, "presence_penalty must be between -2 and 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got engine.Request
			o, err := parseOptions(json.RawMessage(tc.in))
			if err == nil {
				err = o.apply(&got)
			}
			if tc.err != "" {
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Status != 400 || !strings.Contains(pe.Detail, tc.err) {
					t.Fatalf("error %v, want a 400 containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
		})
	}
}

func TestOllamaWriteError(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
		retry  string
	}{
		{identity.ErrUnauthenticated, 401, "missing or invalid API key", ""},
		{metering.ErrQuotaExceeded, 429, "Daily token quota exceeded", ""},
		{modelErr("x", engine.ErrModelNotFound), 404, `model "x" not found`, ""},
		{problem.Invalid("bad"), 400, "bad", ""},
		{errors.New("disk on fire at /var/lib"), 500, "Internal error", ""},
		{retryErr{engine.ErrUnavailable}, 503, "No engine can serve this model now", "3"},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, tc.err)
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q: %v", tc.err, rec.Body, err)
		}
		if rec.Code != tc.status || len(body) != 1 || body["error"] != tc.msg || rec.Header().Get("Retry-After") != tc.retry {
			t.Errorf("%v: %d %v Retry-After %q, want %d {error: %q} %q", tc.err, rec.Code, body, rec.Header().Get("Retry-After"), tc.status, tc.msg, tc.retry)
		}
	}
}

type retryErr struct{ error }

func (retryErr) RetryAfter() time.Duration { return 3 * time.Second }
func (e retryErr) Unwrap() error           { return e.error }

// TestOllamaNoPrincipal: a handler reached without authentication refuses
// instead of generating.
func TestOllamaNoPrincipal(t *testing.T) {
	mux := http.NewServeMux()
	h := &Handler{Engine: nil, Log: nil}
	h.Register(mux, http.NotFound)
	req := httptest.NewRequest("POST", "/api/chat", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"x"}]}`))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	if rec.Code != 401 || !strings.Contains(rec.Body.String(), `"error"`) {
		t.Errorf("%d %s, want 401", rec.Code, rec.Body)
	}
}

// FuzzOptions: no options object makes parsing or applying panic, and an
// accepted one yields a request within the documented bounds.
func FuzzOptions(f *testing.F) {
	for _, s := range []string{`{}`, `{"temperature":0.7,"stop":["a"]}`, `{"stop":"x"}`, `{"num_predict":-2,"seed":-1}`, `[]`, `{"top_k":1e99}`, `{"mirostat":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := parseOptions(b)
		if err != nil {
			return
		}
		var req engine.Request
		if o.apply(&req) != nil {
			return
		}
		if req.MaxTokens < 0 || len(req.Stop) > maxStops || req.TopK < 0 || req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
			t.Errorf("options %s gave %+v", b, req)
		}
	})
}
func TestParameterSize(t *testing.T) {
	for n, want := range map[uint64]string{0: "", 135_000: "135K", 494_032_768: "494M", 1_104_218_112: "1.1B", 8_030_261_248: "8.0B"} {
		if got := parameterSize(n); got != want {
			t.Errorf("parameterSize(%d) = %q, want %q", n, got, want)
		}
	}
}
