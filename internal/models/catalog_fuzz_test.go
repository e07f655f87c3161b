package models

import (
	"errors"
	"testing"

	"github.com/silo-ai/silo/internal/provenance"
)

// FuzzParseCatalog: no catalog payload panics the parser, and every
// catalog it accepts keeps the format's rules (valid unique names,
// resolvable URLs, well-formed digests, at most one default).
func FuzzParseCatalog(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"updated":"2025-06-01T00:00:00Z","models":[{"name":"a","url":"hf://o/r/a.gguf","default":true}]}`,
		`{"version":1,"models":[{"name":"a","url":"https://x/a.gguf","sha256":"` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","size":5}]}`,
		`{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf","certificate":{"payloadType":"t","payload":"","signatures":[]}}]}`,
		`{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf"},{"name":"a","url":"hf://o/r/a.gguf"}]}`,
		`{"version":2}`, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCatalog(b)
		if err != nil {
			if !errors.Is(err, ErrCatalogMalformed) {
				t.Fatalf("error not ErrCatalogMalformed: %v", err)
			}
			return
		}
		seen, defaults := map[string]bool{}, 0
		for _, m := range c.Models {
			if !ValidName(m.Name) || seen[m.Name] {
				t.Fatalf("accepted name %q", m.Name)
			}
			seen[m.Name] = true
			if _, err := ResolveURL(m.URL); err != nil {
				t.Fatalf("accepted url %q", m.URL)
			}
			if m.SHA256 != "" && !validDigest(m.SHA256) {
				t.Fatalf("accepted digest %q", m.SHA256)
			}
			if m.Default {
				defaults++
			}
		}
		if defaults > 1 {
			t.Fatalf("%d defaults accepted", defaults)
		}
	})
}

// FuzzOpenCatalog: no envelope panics OpenCatalog, and none is accepted
// without a maintainer's signature (the fuzzer cannot forge one).
func FuzzOpenCatalog(f *testing.F) {
	env, err := SignCatalog([]byte(`{"version":1,"models":[{"name":"a","url":"hf://o/r/a.gguf"}]}`), provenance.Ed25519Signer{Key: catalogKey("stranger")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(env)
	f.Add([]byte(`{"payloadType":"application/vnd.silo.catalog+json","payload":"e30=","signatures":[{"sig":"AAAA"}]}`))
	keys := []provenance.PublicKey{catalogPub("maintainer")}
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := OpenCatalog(b, keys); err == nil {
			t.Fatal("accepted a catalog without the maintainer's signature")
		}
	})
}

// FuzzParseTOFURecord: no log record panics the parser; what it accepts
// has a valid name and digest and formats back to the same bytes.
func FuzzParseTOFURecord(f *testing.F) {
	f.Add(TOFURecord("qwen", "hf://o/r/q.gguf", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Add([]byte("silo-tofu-digest/v1\nname a\nurl u\nsha256 00\n"))
	f.Add([]byte(`{"payloadType":"x","payload":"","signatures":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		name, url, sum, ok := ParseTOFURecord(b)
		if !ok {
			return
		}
		if !ValidName(name) || !validDigest(sum) {
			t.Fatalf("accepted %q %q", name, sum)
		}
		if got := TOFURecord(name, url, sum); string(got) != string(b) {
			t.Fatalf("round trip %q -> %q", b, got)
		}
	})
}
