package server_test

import (
	"io"
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/silo-ai/silo/web"
)

// TestWebAppServed checks what the server promises about the embedded web
// app: index.html at / and every built asset under /assets/, without
// authentication, each with the strict Content-Security-Policy; assets
// cached for good (their names carry a content hash), the page revalidated.
// The browser tests (internal/e2e TestWebApp) check that the page keeps to
// that policy.
func TestWebAppServed(t *testing.T) {
	h := newHarness(t)
	get := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := h.ts.Client().Get(h.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	csp := func(resp *http.Response) {
		t.Helper()
		p := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(p, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", resp.Request.URL.Path, p, want)
			}
		}
		if strings.Contains(p, "unsafe-") {
			t.Errorf("%s: Content-Security-Policy allows %q", resp.Request.URL.Path, p)
		}
	}

	resp, page := get("/")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	csp(resp)
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET /: Cache-Control %q, want no-cache", cc)
	}
	// No inline script or style: everything the page loads is a file of
	// this origin, and every one of them is served.
	if regexp.MustCompile(`<script[^>]*>[^<\s]`).MatchString(page) || strings.Contains(page, "<style") || strings.Contains(page, " style=") {
		t.Errorf("index.html has inline script or style:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	assets := 0
	for _, m := range refs {
		ref := m[1]
		if ref == "data:," { // the empty favicon
			continue
		}
		if !strings.HasPrefix(ref, "/assets/") {
			t.Errorf("index.html loads %q, not a file under /assets/", ref)
			continue
		}
		assets++
		resp, _ := get(ref)
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", ref, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("GET %s: Cache-Control %q", ref, cc)
		}
		csp(resp)
	}
	if assets < 2 {
		t.Errorf("index.html loads %d assets, want the script and the stylesheet", assets)
	}

	// Every built file is reachable; nothing else is.
	n := 0
	if err := fs.WalkDir(web.Dist(), "assets", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		if resp, _ := get("/" + path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET /%s: %d", path, resp.StatusCode)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("the embedded build has no assets")
	}
	for _, path := range []string{"/assets/nope.js", "/assets/../embed.go", "/index.html/x"} {
		if resp, _ := get(path); resp.StatusCode == http.StatusOK {
			t.Errorf("GET %s: 200", path)
		}
	}
}
