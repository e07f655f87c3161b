package seal

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Domain-separation strings, used as HPKE info (see the package doc).
const (
	RequestInfo  = "silo/seal/request/v1"
	ResponseInfo = "silo/seal/response/v1"
)

// Version is the version byte that starts sealed requests and responses.
const Version byte = 0x01

// Sizes of the MLKEM768-X25519 encodings.
const (
	PublicKeySize = 1216 // a transport public key (server or response key)
	EncSize       = 1120 // an HPKE encapsulated key
	requestIDSize = 16
	serverKeyPEM  = "SILO TRANSPORT PRIVATE KEY"
)

// More sentinel errors for sealing in transit.
var (
	// ErrUnsupportedVersion means a sealed request or response starts with
	// a version byte this package does not know.
	ErrUnsupportedVersion = errors.New("unsupported sealed message version")
	// ErrReplay means a sealed request was seen before within the window.
	ErrReplay = errors.New("sealed request replayed")
	// ErrStale means a sealed request's timestamp is outside the replay
	// window, or older than what the guard can still vouch for.
	ErrStale = errors.New("sealed request timestamp outside the replay window")
)

func kem() hpke.KEM   { return hpke.MLKEM768X25519() }
func kdf() hpke.KDF   { return hpke.HKDFSHA256() }
func aead() hpke.AEAD { return hpke.AES256GCM() }

// ServerKey is the server's own long-lived transport key. It opens sealed
// requests; it never opens anything stored. It is safe for concurrent use.
type ServerKey struct {
	priv hpke.PrivateKey
	pub  []byte
}

// GenerateServerKey makes a new random transport key.
func GenerateServerKey() (*ServerKey, error) {
	priv, err := kem().GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("seal: generate server key: %w", err)
	}
	return &ServerKey{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// LoadOrCreateServerKey loads the transport key at path, or, if there is no
// file, generates one and writes it there with mode 0600 (atomically: if
// several processes race, all end up with the key of the one that won). It
// refuses a key file that group or others can read or write.
func LoadOrCreateServerKey(path string) (*ServerKey, error) {
	k, err := LoadServerKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	k, err = GenerateServerKey()
	if err != nil {
		return nil, err
	}
	b, err := k.marshal()
	if err != nil {
		return nil, fmt.Errorf("seal: create server key: %w", err)
	}
	if err := writeNewFile(path, b); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadServerKey(path)
		}
		return nil, fmt.Errorf("seal: create server key: %w", err)
	}
	return k, nil
}

// LoadServerKey reads a transport key written by LoadOrCreateServerKey.
func LoadServerKey(path string) (*ServerKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("seal: load server key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("seal: load server key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("seal: load server key %s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("seal: load server key %s: mode %v is too open, want 0600", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("seal: load server key: %w", err)
	}
	k, err := parseServerKey(b)
	if err != nil {
		return nil, fmt.Errorf("seal: load server key %s: %w", path, err)
	}
	return k, nil
}

func parseServerKey(b []byte) (*ServerKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != serverKeyPEM {
		return nil, fmt.Errorf("no %q PEM block", serverKeyPEM)
	}
	priv, err := kem().NewPrivateKey(blk.Bytes)
	if err != nil {
		return nil, errors.New("malformed MLKEM768-X25519 private key")
	}
	return &ServerKey{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

func (k *ServerKey) marshal() ([]byte, error) {
	seed, err := k.priv.Bytes()
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{
		Type:    serverKeyPEM,
		Headers: map[string]string{"Fingerprint": k.Fingerprint()},
		Bytes:   seed,
	}), nil
}

// PublicKey returns the encoded public key (PublicKeySize bytes), to
// publish.
func (k *ServerKey) PublicKey() []byte { return bytes.Clone(k.pub) }

// Fingerprint returns "SHA256:" and the unpadded standard base64 of the
// SHA-256 of PublicKey, for clients to compare out of band.
func (k *ServerKey) Fingerprint() string { return fingerprint(k.pub) }

// String names the key by its fingerprint only.
func (k *ServerKey) String() string { return "seal.ServerKey(" + k.Fingerprint() + ")" }

// GoString is like String, so %#v does not print key material.
func (k *ServerKey) GoString() string { return k.String() }

// PublicKeyFingerprint returns the fingerprint of an encoded transport
// public key, as ServerKey.Fingerprint does.
func PublicKeyFingerprint(pub []byte) string { return fingerprint(pub) }

// envelope is the JSON plaintext of a sealed request.
type envelope struct {
	ID   string          `json:"id"`
	TS   int64           `json:"ts"`
	Key  string          `json:"key"`
	Body json.RawMessage `json:"body"`
}

// requestAAD binds a sealed request to its method and path.
func requestAAD(method, path string) ([]byte, error) {
	if len(method) > 0xffff || len(path) > 0xffff {
		return nil, errors.New("method or path too long")
	}
	aad := make([]byte, 0, 1+2+len(method)+2+len(path))
	aad = append(aad, Version)
	aad = binary.BigEndian.AppendUint16(aad, uint16(len(method)))
	aad = append(aad, method...)
	aad = binary.BigEndian.AppendUint16(aad, uint16(len(path)))
	aad = append(aad, path...)
	return aad, nil
}

func responseInfo(id []byte) []byte {
	info := make([]byte, 0, len(ResponseInfo)+1+len(id))
	info = append(info, ResponseInfo...)
	info = append(info, 0)
	return append(info, id...)
}

// ResponseKey is the client's side of one sealed exchange: the fresh private
// key the response is sealed to, and the request id. Use it once.
type ResponseKey struct {
	priv hpke.PrivateKey
	id   []byte
}

// RequestID returns the id sealed inside the request.
func (k *ResponseKey) RequestID() string { return base64.RawURLEncoding.EncodeToString(k.id) }

// String names the exchange by request id only.
func (k *ResponseKey) String() string { return "seal.ResponseKey(" + k.RequestID() + ")" }

// GoString is like String.
func (k *ResponseKey) GoString() string { return k.String() }

// SealRequest seals the JSON body of an HTTP request with the given method
// and path (no query) to the server's public key. It returns the sealed
// body and the key to open the response with.
func SealRequest(serverPub, body []byte, method, path string) ([]byte, *ResponseKey, error) {
	return sealRequestAt(serverPub, body, method, path, time.Now())
}

func sealRequestAt(serverPub, body []byte, method, path string, now time.Time) ([]byte, *ResponseKey, error) {
	pk, err := kem().NewPublicKey(serverPub)
	if err != nil {
		return nil, nil, errors.New("seal: seal request: malformed server public key")
	}
	if !json.Valid(body) {
		return nil, nil, errors.New("seal: seal request: body is not valid JSON")
	}
	aad, err := requestAAD(method, path)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: seal request: %w", err)
	}
	resp, err := kem().GenerateKey()
	if err != nil {
		return nil, nil, fmt.Errorf("seal: seal request: %w", err)
	}
	id := make([]byte, requestIDSize)
	rand.Read(id)
	rk := &ResponseKey{priv: resp, id: id}

	// Built by hand so that body goes in verbatim (json.Marshal would
	// reformat a RawMessage).
	var pt bytes.Buffer
	pt.WriteString(`{"id":"`)
	pt.WriteString(rk.RequestID())
	pt.WriteString(`","ts":`)
	fmt.Fprintf(&pt, "%d", now.UnixMilli())
	pt.WriteString(`,"key":"`)
	pt.WriteString(base64.StdEncoding.EncodeToString(resp.PublicKey().Bytes()))
	pt.WriteString(`","body":`)
	pt.Write(body)
	pt.WriteString(`}`)

	enc, s, err := hpke.NewSender(pk, kdf(), aead(), []byte(RequestInfo))
	if err != nil {
		return nil, nil, fmt.Errorf("seal: seal request: %w", err)
	}
	ct, err := s.Seal(aad, pt.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("seal: seal request: %w", err)
	}
	out := make([]byte, 0, 1+len(enc)+len(ct))
	out = append(out, Version)
	out = append(out, enc...)
	out = append(out, ct...)
	return out, rk, nil
}

// Request is an opened sealed request. The response to it must be sealed
// with SealResponse.
type Request struct {
	ID   string    // the request id, unpadded base64url of 16 bytes
	Time time.Time // when the client sealed it
	Body []byte    // the JSON body, as the client sent it

	id      []byte
	respKey hpke.PublicKey
}

// OpenRequest opens a sealed request body that arrived with the given HTTP
// method and path, then admits it through guard. It fails with an error
// matching ErrCorrupt if the body is malformed, was tampered with, was sealed
// to another key or for another method or path; ErrUnsupportedVersion for an
// unknown version; and ErrReplay or ErrStale from the guard. A guard is
// required.
func (k *ServerKey) OpenRequest(sealed []byte, method, path string, guard *ReplayGuard) (*Request, error) {
	if guard == nil {
		return nil, errors.New("seal: open request: no replay guard")
	}
	req, err := k.openRequest(sealed, method, path)
	if err != nil {
		return nil, fmt.Errorf("seal: open request: %w", err)
	}
	if err := guard.Admit(req.ID, req.Time); err != nil {
		return nil, fmt.Errorf("seal: open request: %w", err)
	}
	return req, nil
}

func (k *ServerKey) openRequest(sealed []byte, method, path string) (*Request, error) {
	if len(sealed) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if sealed[0] != Version {
		return nil, fmt.Errorf("%w %d", ErrUnsupportedVersion, sealed[0])
	}
	if len(sealed) < 1+EncSize+16 {
		return nil, fmt.Errorf("%w: too short", ErrCorrupt)
	}
	aad, err := requestAAD(method, path)
	if err != nil {
		return nil, err
	}
	enc, ct := sealed[1:1+EncSize], sealed[1+EncSize:]
	r, err := hpke.NewRecipient(enc, k.priv, kdf(), aead(), []byte(RequestInfo))
	if err != nil {
		return nil, fmt.Errorf("%w: bad encapsulated key", ErrCorrupt)
	}
	pt, err := r.Open(aad, ct)
	if err != nil {
		return nil, fmt.Errorf("%w: does not open (tampered, another key or another endpoint)", ErrCorrupt)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(pt))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrCorrupt, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: envelope: trailing data", ErrCorrupt)
	}
	id, err := base64.RawURLEncoding.Strict().DecodeString(env.ID)
	if err != nil || len(id) != requestIDSize {
		return nil, fmt.Errorf("%w: envelope: bad id", ErrCorrupt)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(env.Key)
	if err != nil || len(key) != PublicKeySize {
		return nil, fmt.Errorf("%w: envelope: bad response key", ErrCorrupt)
	}
	respKey, err := kem().NewPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: envelope: bad response key", ErrCorrupt)
	}
	if len(env.Body) == 0 || bytes.Equal(env.Body, []byte("null")) {
		return nil, fmt.Errorf("%w: envelope: no body", ErrCorrupt)
	}
	return &Request{
		ID:      env.ID,
		Time:    time.UnixMilli(env.TS),
		Body:    env.Body,
		id:      id,
		respKey: respKey,
	}, nil
}
