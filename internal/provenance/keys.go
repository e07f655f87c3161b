package provenance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// KeyID returns the key id of an Ed25519 public key: the lowercase hex
// SHA-256 of its raw 32 bytes.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])
}

// PublicKey is a trusted public key with a name: Ed25519 (Key), or ECDSA
// P-256 (ECDSA, when set; see ParseTrustedKey).
type PublicKey struct {
	Name  string
	Key   ed25519.PublicKey
	ECDSA *ecdsa.PublicKey
}

// ID returns the key id (see KeyID; for ECDSA, the hex SHA-256 of its PEM
// encoding).
func (k PublicKey) ID() string {
	if k.ECDSA != nil {
		return ecdsaKeyID(k.ECDSA)
	}
	return KeyID(k.Key)
}

// Verify reports whether sig is a valid signature of msg by k (ECDSA:
// ASN.1, over SHA-256 of msg).
func (k PublicKey) Verify(msg, sig []byte) bool {
	if k.ECDSA != nil {
		return verifyECDSA(k.ECDSA, msg, sig)
	}
	return len(k.Key) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(k.Key, msg, sig)
}

// ParsePublicKey parses an Ed25519 public key written as an OpenSSH
// authorized_keys line ("ssh-ed25519 AAAA... comment"), as "ed25519:" and
// the base64 of the raw 32 bytes, or as a PEM "PUBLIC KEY" (PKIX) block.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "ed25519:"):
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "ed25519:"))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("provenance: parse public key: %w: bad ed25519: key", ErrMalformed)
		}
		return ed25519.PublicKey(b), nil
	case strings.HasPrefix(s, "-----BEGIN"):
		blk, _ := pem.Decode([]byte(s))
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("provenance: parse public key: %w: not a PUBLIC KEY PEM block", ErrMalformed)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("provenance: parse public key: %w: %w", ErrMalformed, err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("provenance: parse public key: %w: not an Ed25519 key", ErrMalformed)
		}
		return pub, nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, fmt.Errorf("provenance: parse public key: %w: %w", ErrMalformed, err)
	}
	ck, ok := pk.(ssh.CryptoPublicKey)
	if !ok {
		return nil, fmt.Errorf("provenance: parse public key: %w: not an Ed25519 key", ErrMalformed)
	}
	pub, ok := ck.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("provenance: parse public key: %w: %s is not an Ed25519 key", ErrMalformed, pk.Type())
	}
	return pub, nil
}

// FormatPublicKey writes pub as "ed25519:<base64>".
func FormatPublicKey(pub ed25519.PublicKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(pub)
}

// ParsePrivateKey parses an Ed25519 private key: an OpenSSH private key
// file ("-----BEGIN OPENSSH PRIVATE KEY-----", unencrypted), a PKCS#8 PEM
// "PRIVATE KEY", or the base64 of a 32-byte seed. Passphrase-protected SSH
// keys are refused with an error saying so.
func ParsePrivateKey(b []byte) (ed25519.PrivateKey, error) {
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "-----BEGIN") {
		seed, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("provenance: parse private key: %w: not PEM and not a base64 seed", ErrMalformed)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	k, err := ssh.ParseRawPrivateKey([]byte(s))
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("provenance: parse private key: passphrase-protected keys are not supported (use ssh-agent or an unencrypted copy): %w", err)
		}
		return nil, fmt.Errorf("provenance: parse private key: %w: %w", ErrMalformed, err)
	}
	switch k := k.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	}
	return nil, fmt.Errorf("provenance: parse private key: %w: %T is not an Ed25519 key", ErrMalformed, k)
}

func decodeH1(h1 string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h1, "h1:"))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("bad dirhash %q", h1)
	}
	return b, nil
}
