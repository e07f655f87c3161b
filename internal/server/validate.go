package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"

	"github.com/silo-ai/silo/api"
	"github.com/silo-ai/silo/internal/problem"
)

// Spec validates requests (always) and responses (in tests) against
// api/openapi.yaml.
type Spec struct {
	v validator.Validator
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
	return &Spec{v: v}, nil
}

// ValidateRequest checks a request against the spec.
func (s *Spec) ValidateRequest(r *http.Request) error {
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
