package models

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseContentRange: a server's Content-Range header never panics the
// parser, and what it accepts is a range that starts inside the file.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */200", "bytes 5-4/3", "bytes -1-2/3", "bytes 9223372036854775807-1/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, size, ok := parseContentRange(v)
		if ok && (start < 0 || size <= start) {
			t.Errorf("%q accepted as start %d of %d", v, start, size)
		}
	})
}

// FuzzResolveURL: whatever the source, ResolveURL returns an http(s) URL
// or an error, and an hf:// source resolves under huggingface.co without
// "." or ".." path elements.
func FuzzResolveURL(f *testing.F) {
	for _, s := range []string{"hf://org/repo/file.gguf", "hf://org/repo@rev/a/b.gguf", "hf://org/../x", "https://example.com/m.gguf", "file:///etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		u, err := ResolveURL(src)
		if err != nil {
			return
		}
		p, perr := url.Parse(u)
		if perr != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			t.Fatalf("%q resolved to %q", src, u)
		}
		if strings.HasPrefix(src, "hf://") {
			if p.Host != "huggingface.co" {
				t.Fatalf("%q resolved to host %q", src, p.Host)
			}
			for _, el := range strings.Split(p.Path, "/") {
				if el == "." || el == ".." {
					t.Fatalf("%q resolved to path %q", src, p.Path)
				}
			}
		}
	})
}
