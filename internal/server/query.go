package server

import (
	"net/http"
	"strconv"

	"github.com/silo-ai/silo/internal/problem"
)

// queryInts parses integer query parameters into *int or *int64 targets,
// leaving absent ones as they are (the validator checked their ranges).
func queryInts(r *http.Request, dst map[string]any) error {
	q := r.URL.Query()
	for name, p := range dst {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return problem.Invalid(name + " must be an integer")
		}
		switch p := p.(type) {
		case *int64:
			*p = n
		case *int:
			*p = int(n)
		}
	}
	return nil
}
