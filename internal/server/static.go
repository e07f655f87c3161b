package server

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/silo-ai/silo/api"
	"github.com/silo-ai/silo/web"
)

// docsFS holds the API documentation UI (swagger-ui-dist, see docs/SOURCE).
//
//go:embed docs
var docsFS embed.FS

func docsHandler() http.Handler {
	sub, err := fs.Sub(docsFS, "docs")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return http.StripPrefix("/api/v1/ui/", http.FileServerFS(sub))
}

func specBytes() []byte { return api.Spec }

// appHandler serves the web app (package web) at / and /assets/. Asset
// names carry a hash of their content, so they are cached for good;
// index.html is revalidated every time so a new build shows at once.
func appHandler() http.Handler {
	files := http.FileServerFS(web.Dist())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		files.ServeHTTP(w, r)
	})
}
