package models

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/silo-ai/silo/internal/provenance"
)

// The signed catalog
//
// A catalog is the list of models silo knows by short name. It is a JSON
// document (the payload) in a DSSE envelope of payload type
// CatalogPayloadType, signed with Ed25519 by silo's maintainers:
//
//	{
//	  "version": 1,
//	  "updated": "2025-06-01T00:00:00Z",
//	  "models": [
//	    {"name": "qwen2.5-0.5b-instruct-q8_0",
//	     "url": "hf://Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf",
//	     "sha256": "<64 lowercase hex, optional>",
//	     "size": 0,                          (bytes, optional: 0 = unknown)
//	     "description": "...",               (optional)
//	     "certificate_url": "https://...",   (optional: a DSSE certificate to fetch)
//	     "certificate": {DSSE envelope},     (optional: the certificate inline)
//	     "default": true}                    (at most one entry)
//	  ]
//	}
//
// Unknown fields are ignored; a change that old readers must not
// misunderstand bumps "version", which readers refuse unless they know it.
// An entry without "sha256" is pulled on trust on first use (see PullEntry).

// CatalogPayloadType is the DSSE payload type of a signed catalog.
const CatalogPayloadType = "application/vnd.silo.catalog+json"

// CatalogVersion is the catalog format version this package reads.
const CatalogVersion = 1

// maxCatalogLen bounds a catalog payload.
const maxCatalogLen = 4 << 20

// Errors (wrapped) of catalogs.
var (
	// ErrCatalogUntrusted: the catalog carries no valid signature by a
	// maintainer key.
	ErrCatalogUntrusted = errors.New("catalog not signed by a trusted maintainer key")
	// ErrCatalogMalformed: the catalog does not parse or breaks a rule of
	// its format.
	ErrCatalogMalformed = errors.New("malformed catalog")
)

// Catalog is a parsed catalog payload.
type Catalog struct {
	Version int            `json:"version"`
	Updated time.Time      `json:"updated"`
	Models  []CatalogEntry `json:"models"`
}

// CatalogEntry is one known model.
type CatalogEntry struct {
	// Name is the short name, also the model's name in the store.
	Name string `json:"name"`
	// URL is where to pull it from (see ResolveURL).
	URL string `json:"url"`
	// SHA256 is the file's digest, empty when the maintainers have not
	// verified one (then the first pull pins it: trust on first use).
	SHA256 string `json:"sha256,omitempty"`
	// Size is the file size in bytes (0: unknown).
	Size        int64  `json:"size,omitempty"`
	Description string `json:"description,omitempty"`
	// CertificateURL is a certificate (DSSE envelope) to fetch and install
	// with the model; Certificate is one given inline.
	CertificateURL string          `json:"certificate_url,omitempty"`
	Certificate    json.RawMessage `json:"certificate,omitempty"`
	// Default marks the model silo starts with when it has none.
	Default bool `json:"default,omitempty"`
}

// ParseCatalog parses and checks a catalog payload (not its signature:
// see OpenCatalog). Every entry has a valid, unique name, a URL ResolveURL
// accepts, a well-formed digest if any, a non-negative size, an inline
// certificate that parses as a DSSE envelope if any; at most one entry is
// the default.
func ParseCatalog(b []byte) (*Catalog, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("models: parse catalog: %w: %s", ErrCatalogMalformed, fmt.Sprintf(format, args...))
	}
	if len(b) > maxCatalogLen {
		return nil, bad("longer than %d bytes", maxCatalogLen)
	}
	var c Catalog
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, bad("%v", err)
	}
	if c.Version != CatalogVersion {
		return nil, bad("version %d (this silo reads version %d)", c.Version, CatalogVersion)
	}
	seen := map[string]bool{}
	defaults := 0
	for i := range c.Models {
		m := &c.Models[i]
		if !ValidName(m.Name) {
			return nil, bad("entry %d: invalid name %q", i, m.Name)
		}
		if seen[m.Name] {
			return nil, bad("entry %d: duplicate name %q", i, m.Name)
		}
		seen[m.Name] = true
		if _, err := ResolveURL(m.URL); err != nil {
			return nil, bad("entry %q: url: %v", m.Name, err)
		}
		if m.SHA256 != "" && !validDigest(m.SHA256) {
			return nil, bad("entry %q: sha256 %q is not 64 lowercase hex digits", m.Name, m.SHA256)
		}
		if m.Size < 0 {
			return nil, bad("entry %q: negative size", m.Name)
		}
		if m.CertificateURL != "" {
			if _, err := ResolveURL(m.CertificateURL); err != nil {
				return nil, bad("entry %q: certificate_url: %v", m.Name, err)
			}
		}
		if len(m.Certificate) > 0 && !bytes.Equal(bytes.TrimSpace(m.Certificate), []byte("null")) {
			if _, err := provenance.ParseEnvelope(m.Certificate); err != nil {
				return nil, bad("entry %q: certificate: %v", m.Name, err)
			}
		} else {
			m.Certificate = nil
		}
		if m.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return nil, bad("%d default entries (at most one)", defaults)
	}
	return &c, nil
}

func validDigest(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// OpenCatalog verifies a signed catalog (a DSSE envelope) against the
// maintainer keys and parses its payload. A catalog with no valid
// signature by one of keys is ErrCatalogUntrusted: its payload is not
// looked at.
func OpenCatalog(envelope []byte, keys []provenance.PublicKey) (*Catalog, error) {
	env, err := provenance.ParseEnvelope(envelope)
	if err != nil {
		return nil, fmt.Errorf("models: open catalog: %w: %w", ErrCatalogMalformed, err)
	}
	if env.PayloadType != CatalogPayloadType {
		return nil, fmt.Errorf("models: open catalog: %w: payload type %q, want %q", ErrCatalogMalformed, env.PayloadType, CatalogPayloadType)
	}
	if len(env.VerifiedKeys(keys)) == 0 {
		return nil, fmt.Errorf("models: open catalog: %w", ErrCatalogUntrusted)
	}
	return ParseCatalog(env.Payload)
}

// SignCatalog signs a catalog payload (checked with ParseCatalog first)
// or adds a signature to a signed catalog (an envelope of
// CatalogPayloadType), and returns the envelope as indented JSON.
func SignCatalog(b []byte, signers ...provenance.Signer) ([]byte, error) {
	env := &provenance.Envelope{PayloadType: CatalogPayloadType, Payload: b}
	if e, err := provenance.ParseEnvelope(b); err == nil {
		if e.PayloadType != CatalogPayloadType {
			return nil, fmt.Errorf("models: sign catalog: %w: payload type %q", ErrCatalogMalformed, e.PayloadType)
		}
		env = e
	}
	if _, err := ParseCatalog(env.Payload); err != nil {
		return nil, fmt.Errorf("models: sign catalog: %w", err)
	}
	for _, s := range signers {
		if err := env.Sign(s); err != nil {
			return nil, fmt.Errorf("models: sign catalog: %w", err)
		}
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("models: sign catalog: %w", err)
	}
	return append(out, '\n'), nil
}

// Lookup returns the entry named name.
func (c *Catalog) Lookup(name string) (*CatalogEntry, bool) {
	for i := range c.Models {
		if c.Models[i].Name == name {
			return &c.Models[i], true
		}
	}
	return nil, false
}

// Default returns the default entry, if the catalog has one.
func (c *Catalog) Default() (*CatalogEntry, bool) {
	for i := range c.Models {
		if c.Models[i].Default {
			return &c.Models[i], true
		}
	}
	return nil, false
}

// The catalog shipped in the binary and the maintainers' public keys.
var (
	//go:embed catalog/catalog.dsse.json
	shippedCatalog []byte
	//go:embed catalog/maintainers
	maintainersFile []byte
)

// ShippedCatalogEnvelope returns the signed catalog built into silo.
func ShippedCatalogEnvelope() []byte { return bytes.Clone(shippedCatalog) }

// MaintainerKeys returns the maintainers' public keys built into silo.
func MaintainerKeys() ([]provenance.PublicKey, error) {
	return ParseMaintainers(maintainersFile)
}

// ParseMaintainers parses a maintainers file: one key per line as "NAME
// KEY" (KEY in any form provenance.ParsePublicKey reads), blank lines and
// lines starting with "#" ignored.
func ParseMaintainers(b []byte) ([]provenance.PublicKey, error) {
	var keys []provenance.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, key, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("models: maintainers line %d: want NAME KEY", n)
		}
		pub, err := provenance.ParsePublicKey(key)
		if err != nil {
			return nil, fmt.Errorf("models: maintainers line %d: %w", n, err)
		}
		keys = append(keys, provenance.PublicKey{Name: name, Key: pub})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("models: maintainers: %w", err)
	}
	if len(keys) == 0 {
		return nil, errors.New("models: maintainers: no keys")
	}
	return keys, nil
}

// ShippedCatalog verifies and parses the catalog built into silo.
func ShippedCatalog() (*Catalog, error) {
	keys, err := MaintainerKeys()
	if err != nil {
		return nil, err
	}
	return OpenCatalog(shippedCatalog, keys)
}
