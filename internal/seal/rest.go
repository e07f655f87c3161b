package seal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
)

// Sentinel errors. They are part of the API: callers match them with
// errors.Is.
var (
	// ErrNoIdentity means none of the identities given to Open or OpenFrom
	// is a recipient of the sealed data (or no identity was given).
	ErrNoIdentity = errors.New("no identity opens the sealed data")
	// ErrNoRecipients means Seal or SealTo was called without recipients.
	ErrNoRecipients = errors.New("no recipients")
	// ErrNotHybrid means a key is not a hybrid post-quantum age key (for
	// example a classic X25519 "age1..." key or an SSH key).
	ErrNotHybrid = errors.New("not a hybrid post-quantum (age1pq1) key")
	// ErrCorrupt means sealed data is malformed, truncated or was tampered
	// with, or (in transit) was sealed to another key or for another
	// endpoint.
	ErrCorrupt = errors.New("sealed data is corrupt or forged")
)

const (
	recipientPrefix = "age1pq1"
	identityPrefix  = "AGE-SECRET-KEY-PQ-1"
)

// Recipient is a hybrid post-quantum (ML-KEM-768 + X25519) age public key.
// The zero Recipient is invalid and refused by Seal.
type Recipient struct {
	r *age.HybridRecipient
}

// ParseRecipient parses an "age1pq1..." public key. Any other kind of key,
// including a classic X25519 "age1..." key, is refused with ErrNotHybrid.
func ParseRecipient(s string) (Recipient, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, recipientPrefix) {
		return Recipient{}, fmt.Errorf("seal: parse recipient: %w", ErrNotHybrid)
	}
	r, err := age.ParseHybridRecipient(s)
	if err != nil {
		// age's message quotes the whole key; ours stays short.
		return Recipient{}, fmt.Errorf("seal: parse recipient: malformed age1pq1 key")
	}
	return Recipient{r: r}, nil
}

// String returns the "age1pq1..." encoding, which the age tool accepts with -r.
func (r Recipient) String() string {
	if r.r == nil {
		return ""
	}
	return r.r.String()
}

// Fingerprint returns a short, stable name for the key, for listing devices
// and recording who a blob was sealed to: "SHA256:" followed by the unpadded
// standard base64 of the SHA-256 of the "age1pq1..." string (50 characters
// in all), in the style of OpenSSH fingerprints. Anyone can recompute it
// with `printf %s age1pq1... | sha256sum`.
func (r Recipient) Fingerprint() string {
	return fingerprint([]byte(r.String()))
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// Fingerprints returns the sorted, deduplicated fingerprints of rs: the set
// a writer records beside a blob sealed to rs (see the package doc).
func Fingerprints(rs []Recipient) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Fingerprint())
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Identity is a hybrid post-quantum age private key. It belongs on a client
// (a device, the admin's machine, an offline backup); silo's server never
// makes or holds one. The zero Identity is invalid.
//
// String and GoString print only the public fingerprint, so an Identity that
// reaches a log line does not leak; SecretKey and MarshalFile are the
// explicit ways to get at the key material.
type Identity struct {
	id *age.HybridIdentity
}

// GenerateIdentity makes a new random identity.
func GenerateIdentity() (Identity, error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return Identity{}, fmt.Errorf("seal: generate identity: %w", err)
	}
	return Identity{id: id}, nil
}

// ParseIdentity parses an "AGE-SECRET-KEY-PQ-1..." private key. Any other
// kind of key is refused with ErrNotHybrid. Errors never quote the input.
func ParseIdentity(s string) (Identity, error) {
	id, err := parseIdentity(s)
	if err != nil {
		return Identity{}, fmt.Errorf("seal: parse identity: %w", err)
	}
	return id, nil
}

func parseIdentity(s string) (Identity, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, identityPrefix) {
		return Identity{}, ErrNotHybrid
	}
	id, err := age.ParseHybridIdentity(s)
	if err != nil {
		return Identity{}, errors.New("malformed AGE-SECRET-KEY-PQ-1 key")
	}
	return Identity{id: id}, nil
}

// ParseIdentities reads an identity file in age's syntax (one key per line,
// blank lines and lines starting with "#" ignored), as written by
// MarshalFile or age-keygen -pq. Every key must be hybrid.
func ParseIdentities(r io.Reader) ([]Identity, error) {
	const limit = 1 << 20
	lr := &io.LimitedReader{R: r, N: limit + 1}
	sc := bufio.NewScanner(lr)
	var ids []Identity
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := parseIdentity(line)
		if err != nil {
			return nil, fmt.Errorf("seal: parse identities: line %d: %w", n, err)
		}
		ids = append(ids, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("seal: parse identities: %w", err)
	}
	if lr.N <= 0 {
		return nil, errors.New("seal: parse identities: file too long")
	}
	if len(ids) == 0 {
		return nil, errors.New("seal: parse identities: no identity found")
	}
	return ids, nil
}

// Recipient returns the public key of i.
func (i Identity) Recipient() Recipient {
	if i.id == nil {
		return Recipient{}
	}
	return Recipient{r: i.id.Recipient()}
}

// SecretKey returns the "AGE-SECRET-KEY-PQ-1..." encoding of the private
// key, to print for offline storage. Handle with care.
func (i Identity) SecretKey() string {
	if i.id == nil {
		return ""
	}
	return i.id.String()
}

// MarshalFile returns the identity file age-keygen would write: two comment
// lines (creation time and public key) and the secret key. The stock age
// tool reads it with -i.
func (i Identity) MarshalFile(created time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n", created.Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", i.Recipient())
	fmt.Fprintf(&b, "%s\n", i.SecretKey())
	return b.Bytes()
}

// String returns a redacted description naming only the public fingerprint.
func (i Identity) String() string {
	if i.id == nil {
		return "seal.Identity(invalid)"
	}
	return "seal.Identity(" + i.Recipient().Fingerprint() + ")"
}

// GoString is like String, so %#v does not print key material either.
func (i Identity) GoString() string { return i.String() }

// WriteIdentityFile writes i to a new file at path with mode 0600, in the
// format of MarshalFile. It refuses to overwrite an existing file.
func WriteIdentityFile(path string, i Identity) error {
	if i.id == nil {
		return errors.New("seal: write identity file: invalid identity")
	}
	return writeNewFile(path, i.MarshalFile(time.Now()))
}

// writeNewFile creates path with mode 0600 and contents b, atomically: the
// data goes to a temporary file in the same directory, which is synced and
// then hard-linked to path, so path either does not exist or is complete.
// It fails with an error matching fs.ErrExist if path exists.
func writeNewFile(path string, b []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".seal-tmp-*")
	if err != nil {
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	return nil
}

// ageRecipients validates and deduplicates rs.
func ageRecipients(rs []Recipient) ([]age.Recipient, error) {
	if len(rs) == 0 {
		return nil, ErrNoRecipients
	}
	seen := make(map[string]bool, len(rs))
	out := make([]age.Recipient, 0, len(rs))
	for n, r := range rs {
		if r.r == nil {
			return nil, fmt.Errorf("recipient %d is invalid", n)
		}
		s := r.r.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, r.r)
	}
	return out, nil
}

// Seal encrypts plaintext to every recipient (duplicates are sealed to
// once) and returns the age file. It refuses an empty list with
// ErrNoRecipients.
func Seal(plaintext []byte, recipients []Recipient) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(plaintext) + len(plaintext)/64*16 + 256 + 2048*len(recipients))
	w, err := sealTo(&buf, recipients)
	if err != nil {
		return nil, fmt.Errorf("seal: seal: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("seal: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("seal: seal: %w", err)
	}
	return buf.Bytes(), nil
}

// SealTo returns a writer that encrypts what is written to it to every
// recipient and writes the age file to w. The caller must Close it to
// finish the file; Close does not close w.
func SealTo(w io.Writer, recipients []Recipient) (io.WriteCloser, error) {
	wc, err := sealTo(w, recipients)
	if err != nil {
		return nil, fmt.Errorf("seal: seal to: %w", err)
	}
	return wc, nil
}

func sealTo(w io.Writer, recipients []Recipient) (io.WriteCloser, error) {
	ars, err := ageRecipients(recipients)
	if err != nil {
		return nil, err
	}
	return age.Encrypt(w, ars...)
}

// Open decrypts an age file sealed to one of ids. It returns ErrNoIdentity
// if none of ids is a recipient and ErrCorrupt if the file is malformed,
// truncated or tampered with.
func Open(sealed []byte, ids ...Identity) ([]byte, error) {
	r, err := openFrom(bytes.NewReader(sealed), "seal: open", ids)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// OpenFrom returns a reader of the plaintext of the age file read from r.
// The header is read and checked before it returns; errors are as for Open,
// with ErrCorrupt also reported by Read when the payload was tampered with
// or truncated. Errors from r itself are returned as they are, wrapped.
// Read only returns authenticated plaintext.
func OpenFrom(r io.Reader, ids ...Identity) (io.Reader, error) {
	return openFrom(r, "seal: open from", ids)
}

func openFrom(r io.Reader, op string, ids []Identity) (io.Reader, error) {
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: %w", op, ErrNoIdentity)
	}
	aids := make([]age.Identity, 0, len(ids))
	for n, id := range ids {
		if id.id == nil {
			return nil, fmt.Errorf("%s: identity %d is invalid", op, n)
		}
		aids = append(aids, id.id)
	}
	src := &errReader{r: r}
	pr, err := age.Decrypt(src, aids...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, src.classify(err))
	}
	return &openReader{r: pr, src: src, op: op}, nil
}

// errReader remembers whether the underlying reader failed, so that a
// failure of r is not mistaken for corrupt data.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

func (e *errReader) classify(err error) error {
	var nomatch *age.NoIdentityMatchError
	switch {
	case e.err != nil:
		return e.err
	case errors.As(err, &nomatch):
		return ErrNoIdentity
	default:
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
}

type openReader struct {
	r   io.Reader
	src *errReader
	op  string
	err error
}

func (o *openReader) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF {
		o.err = fmt.Errorf("%s: %w", o.op, o.src.classify(err))
		return n, o.err
	}
	return n, err
}
