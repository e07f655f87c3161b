// Package web holds silo's web app (chat and admin console) as built files:
// dist/ is the output of `npm run build` over this directory's TypeScript
// sources, committed so that `go build` alone gives a working UI.
// scripts/web-check.sh rebuilds it and fails when it differs from the
// sources, so the embedded build always matches them.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// Dist is the built web app: index.html and assets/.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return sub
}
