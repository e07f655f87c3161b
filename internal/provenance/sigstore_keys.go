package provenance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
)

// ParseTrustedKey parses a key a policy may trust: an Ed25519 key in any
// form ParsePublicKey reads, or an ECDSA P-256 public key as a PEM
// "PUBLIC KEY" (PKIX) block, the keys OpenSSF Model Signing signs with.
func ParseTrustedKey(name, s string) (PublicKey, error) {
	if blk, _ := pem.Decode([]byte(strings.TrimSpace(s))); blk != nil && blk.Type == "PUBLIC KEY" {
		if k, err := x509.ParsePKIXPublicKey(blk.Bytes); err == nil {
			if ek, ok := k.(*ecdsa.PublicKey); ok {
				if ek.Curve != elliptic.P256() {
					return PublicKey{}, fmt.Errorf("provenance: parse public key: %w: ECDSA curve %s (only P-256)", ErrMalformed, ek.Curve.Params().Name)
				}
				return PublicKey{Name: name, ECDSA: ek}, nil
			}
		}
	}
	k, err := ParsePublicKey(s)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey{Name: name, Key: k}, nil
}

// ecdsaKeyID is the key id of an ECDSA key: the lowercase hex SHA-256 of
// its PEM "PUBLIC KEY" encoding, which is the hint model-transparency puts
// in its bundles.
func ecdsaKeyID(k *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return hex.EncodeToString(sum[:])
}

// verifyECDSA checks an ASN.1 ECDSA P-256 signature over SHA-256(msg).
func verifyECDSA(k *ecdsa.PublicKey, msg, sig []byte) bool {
	if k == nil || k.Curve != elliptic.P256() || len(sig) == 0 || len(sig) > 80 {
		return false
	}
	h := sha256.Sum256(msg)
	return ecdsa.VerifyASN1(k, h[:], sig)
}
