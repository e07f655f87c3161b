package provenance

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Envelope is a DSSE v1 JSON envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     []byte      `json:"-"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature.
type Signature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   []byte `json:"-"`
}

// maxSignatures bounds the signatures parsed from one envelope.
const maxSignatures = 64

// maxEnvelopeLen bounds an envelope (base64 payload plus signatures).
const maxEnvelopeLen = maxStatementLen*4/3 + 1<<16

// PAE is the DSSE v1 pre-authentication encoding of a payload type and body:
// "DSSEv1" SP len(type) SP type SP len(body) SP body, lengths in decimal.
func PAE(payloadType string, body []byte) []byte {
	b := make([]byte, 0, 32+len(payloadType)+len(body))
	b = append(b, "DSSEv1 "...)
	b = strconv.AppendInt(b, int64(len(payloadType)), 10)
	b = append(b, ' ')
	b = append(b, payloadType...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, ' ')
	return append(b, body...)
}

type wireEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []wireSignature `json:"signatures"`
}

type wireSignature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

// MarshalJSON encodes the envelope with standard base64 payload and sigs.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	w := wireEnvelope{PayloadType: e.PayloadType, Payload: base64.StdEncoding.EncodeToString(e.Payload), Signatures: []wireSignature{}}
	for _, s := range e.Signatures {
		w.Signatures = append(w.Signatures, wireSignature{KeyID: s.KeyID, Sig: base64.StdEncoding.EncodeToString(s.Sig)})
	}
	return json.Marshal(w)
}

// decodeBase64 accepts standard or URL-safe base64, padded or not, as DSSE
// requires of verifiers.
func decodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

// ParseEnvelope parses a DSSE JSON envelope. It checks encoding only; use
// VerifyEnvelope (or Evaluate) to check signatures.
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > maxEnvelopeLen {
		return nil, fmt.Errorf("provenance: parse envelope: %w: too long", ErrMalformed)
	}
	if err := checkNoDuplicateKeys(b); err != nil {
		return nil, fmt.Errorf("provenance: parse envelope: %w: %w", ErrMalformed, err)
	}
	var w wireEnvelope
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("provenance: parse envelope: %w: %w", ErrMalformed, err)
	}
	if w.PayloadType == "" {
		return nil, fmt.Errorf("provenance: parse envelope: %w: no payloadType", ErrMalformed)
	}
	if len(w.Signatures) > maxSignatures {
		return nil, fmt.Errorf("provenance: parse envelope: %w: %d signatures", ErrMalformed, len(w.Signatures))
	}
	payload, err := decodeBase64(w.Payload)
	if err != nil {
		return nil, fmt.Errorf("provenance: parse envelope: %w: payload: %w", ErrMalformed, err)
	}
	e := &Envelope{PayloadType: w.PayloadType, Payload: payload}
	for i, s := range w.Signatures {
		sig, err := decodeBase64(s.Sig)
		if err != nil || len(sig) == 0 {
			return nil, fmt.Errorf("provenance: parse envelope: %w: signature %d", ErrMalformed, i)
		}
		e.Signatures = append(e.Signatures, Signature{KeyID: s.KeyID, Sig: sig})
	}
	return e, nil
}

// Signer signs DSSE envelopes.
type Signer interface {
	KeyID() string
	Sign(msg []byte) ([]byte, error)
}

// Ed25519Signer signs with an Ed25519 private key.
type Ed25519Signer struct{ Key ed25519.PrivateKey }

// KeyID is the lowercase hex SHA-256 of the raw 32-byte public key.
func (s Ed25519Signer) KeyID() string { return KeyID(s.Key.Public().(ed25519.PublicKey)) }

// Sign implements Signer.
func (s Ed25519Signer) Sign(msg []byte) ([]byte, error) {
	if len(s.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("provenance: sign: invalid Ed25519 key")
	}
	return ed25519.Sign(s.Key, msg), nil
}

// NewEnvelope wraps a statement in an unsigned DSSE envelope (payloadType
// application/vnd.in-toto+json).
func NewEnvelope(s *Statement) (*Envelope, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("provenance: new envelope: %w", err)
	}
	return &Envelope{PayloadType: PayloadType, Payload: b}, nil
}

// Sign adds a signature over PAE(payloadType, payload) by signer. Signing
// again with a key that already signed replaces that signature.
func (e *Envelope) Sign(signer Signer) error {
	sig, err := signer.Sign(PAE(e.PayloadType, e.Payload))
	if err != nil {
		return fmt.Errorf("provenance: sign envelope: %w", err)
	}
	id := signer.KeyID()
	for i := range e.Signatures {
		if e.Signatures[i].KeyID == id {
			e.Signatures[i].Sig = sig
			return nil
		}
	}
	e.Signatures = append(e.Signatures, Signature{KeyID: id, Sig: sig})
	return nil
}

// VerifiedKeys returns the keys among trusted (by any name) that made a
// valid signature on the envelope, each at most once however many times it
// signed. keyid is only a hint: every signature is tried against every key.
func (e *Envelope) VerifiedKeys(trusted []PublicKey) []PublicKey {
	msg := PAE(e.PayloadType, e.Payload)
	var out []PublicKey
	seen := map[string]bool{}
	for _, k := range trusted {
		if seen[k.ID()] {
			continue
		}
		for _, s := range e.Signatures {
			if k.Verify(msg, s.Sig) {
				out = append(out, k)
				seen[k.ID()] = true
				break
			}
		}
	}
	return out
}
