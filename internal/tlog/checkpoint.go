package tlog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the body of a C2SP tlog-checkpoint: the log's origin, its
// size and its RFC 6962 root hash, plus optional extension lines.
type Checkpoint struct {
	Origin     string
	Size       int64
	Hash       sumtlog.Hash
	Extensions []string
}

// maxCheckpointLen bounds a checkpoint body; real ones are ~100 bytes.
const maxCheckpointLen = 4096

// String formats c as a checkpoint note body (each line ending in a newline).
func (c Checkpoint) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String()
}

// ParseCheckpoint parses a checkpoint note body (the text of a signed note,
// without signatures) strictly per C2SP tlog-checkpoint: a non-empty origin,
// a decimal size with no leading zeroes, a base64 SHA-256 root hash, and
// non-empty extension lines, each line ending in a newline.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(text) > maxCheckpointLen {
		return c, fmt.Errorf("tlog: parse checkpoint: %w: too long", ErrMalformed)
	}
	if !utf8.Valid(text) || len(text) == 0 || text[len(text)-1] != '\n' {
		return c, fmt.Errorf("tlog: parse checkpoint: %w: not newline-terminated UTF-8", ErrMalformed)
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return c, fmt.Errorf("tlog: parse checkpoint: %w: fewer than three lines", ErrMalformed)
	}
	for _, l := range lines {
		if l == "" {
			return c, fmt.Errorf("tlog: parse checkpoint: %w: empty line", ErrMalformed)
		}
		if strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return c, fmt.Errorf("tlog: parse checkpoint: %w: control character", ErrMalformed)
		}
	}
	c.Origin = lines[0]
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return Checkpoint{}, fmt.Errorf("tlog: parse checkpoint: %w: bad tree size %q", ErrMalformed, lines[1])
	}
	c.Size = size
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != sumtlog.HashSize {
		return Checkpoint{}, fmt.Errorf("tlog: parse checkpoint: %w: bad root hash", ErrMalformed)
	}
	copy(c.Hash[:], h)
	if len(lines) > 3 {
		c.Extensions = lines[3:]
	}
	return c, nil
}

// OpenCheckpoint verifies a signed checkpoint note against known verifiers
// (see golang.org/x/mod/sumdb/note.Open) and checks that its origin is
// origin. It returns the parsed body and the opened note, whose Sigs lists
// every verified signature (the log's and any known cosigners').
func OpenCheckpoint(signed []byte, origin string, known note.Verifiers) (Checkpoint, *note.Note, error) {
	n, err := note.Open(signed, known)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("tlog: open checkpoint: %w: %w", ErrBadSignature, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != origin {
		return Checkpoint{}, nil, fmt.Errorf("tlog: open checkpoint: origin %q, want %q", c.Origin, origin)
	}
	return c, n, nil
}

// validName reports whether name is a valid signed-note key name.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// NewNoteSigner returns the standard signed-note Ed25519 signer (algorithm 0x01)
// for a log named name. Use the log's origin as the name.
func NewNoteSigner(name string, key ed25519.PrivateKey) (note.Signer, error) {
	if !validName(name) || len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("tlog: new signer %q: invalid name or key", name)
	}
	vkey, err := note.NewEd25519VerifierKey(name, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("tlog: new signer: %w", err)
	}
	// vkey is name+hash+base64(0x01||pub); the signer key carries the seed.
	parts := strings.SplitN(vkey, "+", 3)
	skey := "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{0x01}, key.Seed()...))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("tlog: new signer: %w", err)
	}
	return s, nil
}

// NewNoteVerifier returns the signed-note Ed25519 verifier for a log named name.
func NewNoteVerifier(name string, key ed25519.PublicKey) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, key)
	if err != nil {
		return nil, fmt.Errorf("tlog: new verifier: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("tlog: new verifier: %w", err)
	}
	return v, nil
}

// cosignatureHeader is the domain-separation line of C2SP tlog-cosignature
// v1 signed messages.
const cosignatureHeader = "cosignature/v1\n"

// cosignatureAlg is the key ID algorithm byte of Ed25519 cosignatures.
const cosignatureAlg = 0x04

// cosignatureLen is len(timestamp) + len(Ed25519 signature).
const cosignatureLen = 8 + ed25519.SignatureSize

func cosignerKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', cosignatureAlg})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func cosignedMessage(t uint64, body []byte) []byte {
	return append([]byte(cosignatureHeader+"time "+strconv.FormatUint(t, 10)+"\n"), body...)
}

// CosignatureSigner is a note.Signer that makes C2SP tlog-cosignature v1
// Ed25519 cosignatures: base64(keyID || uint64 timestamp || signature over
// "cosignature/v1\ntime <t>\n" || checkpoint body).
type CosignatureSigner struct {
	name string
	key  ed25519.PrivateKey
	hash uint32
	now  func() time.Time
}

// NewCosignatureSigner returns a cosigner named name. now supplies the
// timestamp; nil means time.Now.
func NewCosignatureSigner(name string, key ed25519.PrivateKey, now func() time.Time) (*CosignatureSigner, error) {
	if !validName(name) || len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("tlog: new cosigner %q: invalid name or key", name)
	}
	if now == nil {
		now = time.Now
	}
	return &CosignatureSigner{name: name, key: key, hash: cosignerKeyHash(name, key.Public().(ed25519.PublicKey)), now: now}, nil
}

// Name implements note.Signer.
func (s *CosignatureSigner) Name() string { return s.name }

// KeyHash implements note.Signer.
func (s *CosignatureSigner) KeyHash() uint32 { return s.hash }

// Sign implements note.Signer.
func (s *CosignatureSigner) Sign(msg []byte) ([]byte, error) {
	t := s.now().Unix()
	if t < 0 {
		return nil, errors.New("tlog: cosign: time before the epoch")
	}
	sig := binary.BigEndian.AppendUint64(make([]byte, 0, cosignatureLen), uint64(t))
	return append(sig, ed25519.Sign(s.key, cosignedMessage(uint64(t), msg))...), nil
}

// Verifier returns the matching CosignatureVerifier.
func (s *CosignatureSigner) Verifier() *CosignatureVerifier {
	v, _ := NewCosignatureVerifier(s.name, s.key.Public().(ed25519.PublicKey))
	return v
}

// CosignatureVerifier is a note.Verifier for C2SP tlog-cosignature v1
// Ed25519 cosignatures.
type CosignatureVerifier struct {
	name string
	key  ed25519.PublicKey
	hash uint32
}

// NewCosignatureVerifier returns the verifier of cosigner name's key.
func NewCosignatureVerifier(name string, key ed25519.PublicKey) (*CosignatureVerifier, error) {
	if !validName(name) || len(key) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("tlog: new cosignature verifier %q: invalid name or key", name)
	}
	return &CosignatureVerifier{name: name, key: key, hash: cosignerKeyHash(name, key)}, nil
}

// Name implements note.Verifier.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash implements note.Verifier.
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify implements note.Verifier.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	t, ok := parseCosignature(sig)
	if !ok {
		return false
	}
	return ed25519.Verify(v.key, cosignedMessage(t, msg), sig[8:])
}

func parseCosignature(sig []byte) (uint64, bool) {
	if len(sig) != cosignatureLen {
		return 0, false
	}
	t := binary.BigEndian.Uint64(sig)
	return t, t <= 1<<63-1
}

// CosignatureTime returns the timestamp of a cosignature found in an opened
// note (a note.Signature whose Base64 is keyID || timestamp || signature).
func CosignatureTime(sig note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) != 4+cosignatureLen {
		return time.Time{}, fmt.Errorf("tlog: cosignature time: %w: not a cosignature/v1 signature", ErrMalformed)
	}
	t, ok := parseCosignature(b[4:])
	if !ok {
		return time.Time{}, fmt.Errorf("tlog: cosignature time: %w: timestamp out of range", ErrMalformed)
	}
	return time.Unix(int64(t), 0).UTC(), nil
}

// splitSignatures splits a signed note into its text (ending in a newline)
// and its signature block (the lines after the blank line).
func splitSignatures(signed []byte) (text, sigs []byte, err error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return nil, nil, fmt.Errorf("tlog: %w: note without signatures", ErrMalformed)
	}
	return signed[:i+1], signed[i+2:], nil
}
