package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/silo-ai/silo/internal/provenance"
)

// Trust on first use
//
// A catalog entry without a digest is pinned by its first pull: the digest
// of the file downloaded is written to the pins file and appended to the
// certificate log (CertLog) as a TOFU record, and every later pull of the
// name must produce the same digest. A TOFU record is the text
//
//	silo-tofu-digest/v1
//	name <model name>
//	url <source URL as written in the catalog>
//	sha256 <64 lowercase hex digits>
//
// each line ending in "\n". It is not a DSSE envelope, so it never counts
// as a certificate. The pins file (PinsFile in the data directory) is JSON:
//
//	{"<name>": {"sha256": "<hex>", "url": "<url>", "pinned": "<RFC 3339>", "log_index": <n>}}
//
// A pin missing from the file but present in the log is taken from the log
// (and written back), so deleting the pins file does not reopen the name
// to a first use.

// PinsFile is the file name of the pins in the data directory.
const PinsFile = "pins.json"

const tofuHeader = "silo-tofu-digest/v1\n"

// maxTOFURecord bounds a TOFU record.
const maxTOFURecord = 4096

// Errors (wrapped) of catalog pulls.
var (
	// ErrOffline: the download server could not be reached (no route,
	// name not resolved, connection refused or timed out).
	ErrOffline = errors.New("cannot reach the download server (offline?)")
	// ErrPinMismatch: the file differs from the digest pinned on first use.
	ErrPinMismatch = errors.New("digest differs from the one pinned on first use")
)

// TOFURecord returns the log record pinning sum for name.
func TOFURecord(name, url, sum string) []byte {
	return fmt.Appendf(nil, "%sname %s\nurl %s\nsha256 %s\n", tofuHeader, name, url, sum)
}

// ParseTOFURecord parses a TOFU record; ok is false for anything else
// (such as a certificate envelope).
func ParseTOFURecord(b []byte) (name, url, sum string, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte(tofuHeader))
	if !found || len(b) > maxTOFURecord || !bytes.HasSuffix(rest, []byte("\n")) {
		return "", "", "", false
	}
	lines := strings.Split(string(rest[:len(rest)-1]), "\n")
	if len(lines) != 3 {
		return "", "", "", false
	}
	var vals [3]string
	for i, key := range []string{"name ", "url ", "sha256 "} {
		v, found := strings.CutPrefix(lines[i], key)
		if !found || v == "" {
			return "", "", "", false
		}
		vals[i] = v
	}
	if !ValidName(vals[0]) || !validDigest(vals[2]) || strings.ContainsAny(vals[1], " \r") {
		return "", "", "", false
	}
	return vals[0], vals[1], vals[2], true
}

// FindTOFU returns the first TOFU record of name in the log.
func (c *CertLog) FindTOFU(name string) (sum string, index int64, ok bool) {
	for i := range c.log.Size() {
		rec, err := c.log.Record(i)
		if err != nil {
			return "", 0, false
		}
		if n, _, s, ok := ParseTOFURecord(rec); ok && n == name {
			return s, i, true
		}
	}
	return "", 0, false
}

// Pin is a digest pinned on first use.
type Pin struct {
	SHA256   string    `json:"sha256"`
	URL      string    `json:"url"`
	Pinned   time.Time `json:"pinned"`
	LogIndex int64     `json:"log_index"`
}

// Pins is the pins file.
type Pins struct {
	file string
	mu   sync.Mutex
	m    map[string]Pin
}

// OpenPins reads the pins file (absent: no pins).
func OpenPins(file string) (*Pins, error) {
	p := &Pins{file: file, m: map[string]Pin{}}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("models: open pins: %w", err)
	}
	if err := json.Unmarshal(b, &p.m); err != nil {
		return nil, fmt.Errorf("models: open pins %s: %w", file, err)
	}
	for name, pin := range p.m {
		if !ValidName(name) || !validDigest(pin.SHA256) {
			return nil, fmt.Errorf("models: open pins %s: bad pin %q", file, name)
		}
	}
	return p, nil
}

// Get returns the pin of name.
func (p *Pins) Get(name string) (Pin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pin, ok := p.m[name]
	return pin, ok
}

// Set pins name and writes the file.
func (p *Pins) Set(name string, pin Pin) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[name] = pin
	b, err := json.MarshalIndent(p.m, "", "  ")
	if err != nil {
		return fmt.Errorf("models: write pins: %w", err)
	}
	if err := writeFileAtomic(p.file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("models: write pins: %w", err)
	}
	return nil
}

// DigestSource says what a pulled catalog model was checked against.
type DigestSource string

// Digest sources.
const (
	FromCatalog  DigestSource = "catalog"   // the signed catalog's digest
	FromPin      DigestSource = "pin"       // the pins file
	FromLog      DigestSource = "log"       // a TOFU record in the log
	FromFirstUse DigestSource = "first-use" // nothing: pinned now
)

// TOFU is what PullEntry needs to pin digests.
type TOFU struct {
	Pins *Pins
	// OpenLog opens the certificate log; it is called only when the pins
	// file has no pin for an entry without a catalog digest. PullEntry
	// closes what it returns.
	OpenLog func() (*CertLog, error)
}

// PulledEntry is the result of PullEntry.
type PulledEntry struct {
	Model  *Model
	SHA256 string
	Source DigestSource
	// LogIndex is the TOFU record's index (Source FromLog or FromFirstUse).
	LogIndex int64
}

// PullEntry pulls a catalog entry into the store under its name, checked
// against the entry's digest, else against the digest pinned by an earlier
// pull (pins file, then log), else pinned now: its TOFU record is appended
// to the log and the pins file before PullEntry returns, and if that fails
// the model is removed again. The entry's certificate (inline, or fetched
// from certificate_url) is installed with the model. Network failures
// reaching the server are ErrOffline.
func (s *Store) PullEntry(ctx context.Context, e *CatalogEntry, t TOFU, o PullOptions) (*PulledEntry, error) {
	o.Name = e.Name
	res := &PulledEntry{SHA256: e.SHA256, Source: FromCatalog}
	var log *CertLog
	if e.SHA256 == "" {
		if t.Pins == nil || t.OpenLog == nil {
			return nil, fmt.Errorf("models: pull %q: no digest in the catalog and no pins to check it against", e.Name)
		}
		if pin, ok := t.Pins.Get(e.Name); ok {
			res.SHA256, res.Source, res.LogIndex = pin.SHA256, FromPin, pin.LogIndex
		} else {
			var err error
			if log, err = t.OpenLog(); err != nil {
				return nil, fmt.Errorf("models: pull %q: %w", e.Name, err)
			}
			defer log.Close()
			if sum, i, ok := log.FindTOFU(e.Name); ok {
				res.SHA256, res.Source, res.LogIndex = sum, FromLog, i
				if err := t.Pins.Set(e.Name, Pin{SHA256: sum, URL: e.URL, Pinned: time.Now().UTC(), LogIndex: i}); err != nil {
					return nil, err
				}
			} else {
				res.Source = FromFirstUse
			}
		}
	}
	o.SHA256 = res.SHA256
	switch {
	case len(e.Certificate) > 0:
		o.Certificate = e.Certificate
	case e.CertificateURL != "":
		cert, err := fetchCertificate(ctx, e.CertificateURL, o.Client)
		if err != nil {
			return nil, fmt.Errorf("models: pull %q: certificate: %w", e.Name, offline(err))
		}
		o.Certificate = cert
	}
	m, err := s.Pull(ctx, e.URL, o)
	if err != nil {
		if errors.Is(err, ErrDigestMismatch) && (res.Source == FromPin || res.Source == FromLog) {
			return nil, fmt.Errorf("%w (%s): %w", ErrPinMismatch, res.Source, err)
		}
		return nil, offline(err)
	}
	res.Model = m
	if res.Source != FromFirstUse {
		return res, nil
	}
	sum, err := s.Digest(e.Name)
	if err == nil {
		res.SHA256 = sum
		proof, lerr := log.Add(TOFURecord(e.Name, e.URL, sum))
		err = lerr
		if err == nil {
			res.LogIndex = proof.Index
			err = t.Pins.Set(e.Name, Pin{SHA256: sum, URL: e.URL, Pinned: time.Now().UTC(), LogIndex: proof.Index})
		}
	}
	if err != nil {
		s.Remove(e.Name)
		return nil, fmt.Errorf("models: pull %q: pin on first use: %w", e.Name, err)
	}
	return res, nil
}

// offline wraps err with ErrOffline when it is a failure to reach the server.
func offline(err error) error {
	var dns *net.DNSError
	var op *net.OpError
	if errors.As(err, &dns) || errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrOffline, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: %w", ErrOffline, err)
	}
	return err
}

// maxCertificate bounds a fetched certificate.
const maxCertificate = 1 << 20

func fetchCertificate(ctx context.Context, src string, cl *http.Client) ([]byte, error) {
	u, err := ResolveURL(src)
	if err != nil {
		return nil, err
	}
	if cl == nil {
		cl = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cl.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxCertificate+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxCertificate {
		return nil, fmt.Errorf("GET %s: longer than %d bytes", u, maxCertificate)
	}
	if _, err := provenance.ParseEnvelope(b); err != nil {
		return nil, err
	}
	return b, nil
}

// NewPullClient returns an HTTP client for pulls that fails fast when the
// server cannot be reached: connecting, the TLS handshake and the response
// headers each get at most timeout (the body may take as long as it takes).
func NewPullClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = timeout
	tr.ResponseHeaderTimeout = timeout
	return &http.Client{Transport: tr}
}
