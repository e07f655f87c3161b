package server_test

import (
	"net/http/httptest"
	"strings"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
