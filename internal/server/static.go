package server

import (
	"embed"
	"io/fs"
	"net/http"

	"github.com/silo-ai/silo/api"
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

// rootPage is the plain page at /; the web app replaces it.
var rootPage = []byte(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>silo</title></head>
<body>
<h1>silo</h1>
<p>A private AI server you can verify.</p>
<ul>
<li>OpenAI-compatible API: <code>/v1</code> (use an API key as the bearer token)</li>
<li>silo API: <a href="/api/v1/ui/">/api/v1/ui</a> (<a href="/api/v1/openapi.yaml">openapi.yaml</a>)</li>
</ul>
</body></html>
`)
