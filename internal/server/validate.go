package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/silo-ai/silo/api"
	"github.com/silo-ai/silo/internal/problem"
)

// Spec validates requests (always) and responses (in tests) against
// api/openapi.yaml.
type Spec struct {
	v   validator.Validator
	ops []Operation
	// queries maps "METHOD /api/v1/path/{param}" to declared query names.
	queries map[string]map[string]bool
}

// Operation is one operation of the spec.
type Operation struct {
	ID     string
	Method string // GET, POST...
	Path   string // full path with {params}, e.g. /api/v1/users/{id}
	Query  []string
	Body   bool
	Public bool // security: [] (no authentication)
}

// LoadSpec parses the embedded OpenAPI document.
func LoadSpec() (*Spec, error) {
	doc, err := libopenapi.NewDocument(api.Spec)
	if err != nil {
		return nil, fmt.Errorf("server: parse openapi.yaml: %w", err)
	}
	v, errs := validator.NewValidator(doc, config.WithoutSecurityValidation(), config.WithFormatAssertions())
	if len(errs) > 0 {
		return nil, fmt.Errorf("server: build validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		return nil, fmt.Errorf("server: openapi.yaml is invalid: %s", joinErrors(verrs))
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, fmt.Errorf("server: build openapi model: %w", err)
	}
	sp := &Spec{v: v, queries: map[string]map[string]bool{}}
	for path, item := range m.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			o := Operation{ID: op.OperationId, Method: strings.ToUpper(method), Path: "/api/v1" + path,
				Body: op.RequestBody != nil, Public: op.Security != nil && len(op.Security) == 0}
			q := map[string]bool{}
			for _, p := range append(append([]*v3.Parameter{}, item.Parameters...), op.Parameters...) {
				if p.In == "query" {
					q[p.Name] = true
					o.Query = append(o.Query, p.Name)
				}
			}
			sp.queries[o.Method+" "+o.Path] = q
			sp.ops = append(sp.ops, o)
		}
	}
	return sp, nil
}

// Operations lists every operation of the spec.
func (s *Spec) Operations() []Operation { return s.ops }

// ValidateRequest checks a request against the spec.
func (s *Spec) ValidateRequest(r *http.Request) error {
	if declared, ok := s.queries[r.Method+" "+r.Pattern[len(r.Method)+1:]]; ok {
		for name := range r.URL.Query() {
			if !declared[name] {
				return problem.Invalid(fmt.Sprintf("unknown query parameter %q", truncateName(name)))
			}
		}
	}
	if ok, errs := s.v.ValidateHttpRequestSync(r); !ok {
		return problem.Invalid("the request does not match the API specification", messages(errs)...)
	}
	return nil
}

// ValidateResponse checks a response against the spec (used by tests).
func (s *Spec) ValidateResponse(r *http.Request, resp *http.Response) error {
	if ok, errs := s.v.ValidateHttpResponse(r, resp); !ok {
		return fmt.Errorf("response does not match the spec: %s", joinErrors(errs))
	}
	return nil
}

func truncateName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}

func messages(errs []*verrors.ValidationError) []string {
	var out []string
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" && e.Reason != e.Message {
			msg += ": " + e.Reason
		}
		for _, sv := range e.SchemaValidationErrors {
			if sv.Reason != "" {
				msg += "; " + sv.Reason
			}
		}
		out = append(out, msg)
	}
	return out
}

func joinErrors(errs []*verrors.ValidationError) string {
	return strings.Join(messages(errs), "; ")
}
