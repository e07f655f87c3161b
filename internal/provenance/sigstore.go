package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// OpenSSF Model Signing
//
// The OpenSSF Model Signing format (sigstore/model-transparency) is a
// Sigstore bundle (JSON, mediaType SigstoreBundleV03) whose dsseEnvelope is
// a DSSE envelope of an in-toto Statement v1 with predicateType
// ModelSigningV1:
//
//	{"_type": "https://in-toto.io/Statement/v1",
//	 "subject": [{"name": "<model>", "digest": {"sha256": "<root>"}}],
//	 "predicateType": "https://model_signing/signature/v1.0",
//	 "predicate": {
//	   "serialization": {"method": "files", "hash_type": "sha256", ...},
//	   "resources": [{"name": "<file>", "algorithm": "sha256", "digest": "<hex>"}, ...]}}
//
// The single subject is the model as a whole: its sha256 is the SHA-256 of
// the concatenated raw digests of the resources, in their order. Only
// bundles signed with keys are verified here (verificationMaterial.publicKey,
// ECDSA P-256 with SHA-256 over the DSSE PAE, or Ed25519): bundles that
// carry a Fulcio certificate are refused, and tlogEntries (Rekor) are not
// checked; silo's own transparency log takes their place. Evaluate accepts
// such a bundle wherever it accepts a DSSE envelope: the trusted keys that
// signed it count toward the rule's threshold, and every file must be a
// sha256 resource of the predicate.

// Media and predicate types of OpenSSF Model Signing.
const (
	// SigstoreBundleV03 is the mediaType of Sigstore bundles v0.3.
	SigstoreBundleV03 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// sigstoreBundleV03Alt is the older spelling of the same version.
	sigstoreBundleV03Alt = "application/vnd.dev.sigstore.bundle+json;version=0.3"
	// ModelSigningV1 is the predicateType of OpenSSF Model Signing v1.0.
	ModelSigningV1 = "https://model_signing/signature/v1.0"
)

// maxResources bounds the resources of one model signature.
const maxResources = 1 << 16

// SigstoreBundle is a Sigstore bundle holding a DSSE envelope signed with
// a key.
type SigstoreBundle struct {
	MediaType string
	// KeyHint is verificationMaterial.publicKey.hint (model-transparency
	// writes the hex SHA-256 of the PEM public key); only a hint, never
	// trusted: signatures are checked against every trusted key.
	KeyHint  string
	Envelope *Envelope
}

type wireBundle struct {
	MediaType            string `json:"mediaType"`
	VerificationMaterial *struct {
		PublicKey *struct {
			Hint string `json:"hint"`
		} `json:"publicKey"`
		Certificate          json.RawMessage   `json:"certificate"`
		X509CertificateChain json.RawMessage   `json:"x509CertificateChain"`
		TlogEntries          []json.RawMessage `json:"tlogEntries"`
	} `json:"verificationMaterial"`
	DSSEEnvelope     json.RawMessage `json:"dsseEnvelope"`
	MessageSignature json.RawMessage `json:"messageSignature"`
}

// ParseSigstoreBundle parses a Sigstore bundle v0.3 (JSON) signed with a
// key and carrying a DSSE envelope. It checks encoding only: use Evaluate
// or VerifyModelSignature to check signatures and content.
func ParseSigstoreBundle(b []byte) (*SigstoreBundle, error) {
	bad := func(format string, a ...any) (*SigstoreBundle, error) {
		return nil, fmt.Errorf("provenance: parse sigstore bundle: %w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) > maxEnvelopeLen+1<<16 {
		return bad("too long")
	}
	if err := checkNoDuplicateKeys(b); err != nil {
		return bad("%v", err)
	}
	var w wireBundle
	if err := json.Unmarshal(b, &w); err != nil {
		return bad("%v", err)
	}
	if w.MediaType != SigstoreBundleV03 && w.MediaType != sigstoreBundleV03Alt {
		return bad("mediaType %q, want %q", w.MediaType, SigstoreBundleV03)
	}
	vm := w.VerificationMaterial
	if vm == nil {
		return bad("no verificationMaterial")
	}
	if len(vm.Certificate) > 0 || len(vm.X509CertificateChain) > 0 {
		return bad("signed with a certificate (Fulcio); only bundles signed with keys are supported")
	}
	if vm.PublicKey == nil {
		return bad("no verificationMaterial.publicKey")
	}
	if len(w.MessageSignature) > 0 || len(w.DSSEEnvelope) == 0 {
		return bad("no dsseEnvelope")
	}
	env, err := ParseEnvelope(w.DSSEEnvelope)
	if err != nil {
		return nil, fmt.Errorf("provenance: parse sigstore bundle: %w", err)
	}
	if len(env.Signatures) == 0 {
		return bad("unsigned dsseEnvelope")
	}
	return &SigstoreBundle{MediaType: w.MediaType, KeyHint: vm.PublicKey.Hint, Envelope: env}, nil
}

// isSigstoreBundle reports whether b looks like a Sigstore bundle (a JSON
// object with a mediaType) rather than a bare DSSE envelope.
func isSigstoreBundle(b []byte) bool {
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	return bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) && json.Unmarshal(b, &probe) == nil && probe.MediaType != ""
}

// ParseCertificate parses a model certificate: a DSSE envelope, or a
// Sigstore bundle (whose DSSE envelope it returns).
func ParseCertificate(b []byte) (*Envelope, error) {
	if isSigstoreBundle(b) {
		sb, err := ParseSigstoreBundle(b)
		if err != nil {
			return nil, err
		}
		return sb.Envelope, nil
	}
	return ParseEnvelope(b)
}

// ModelResource is one resource of a model signature.
type ModelResource struct {
	Name      string `json:"name"`
	Algorithm string `json:"algorithm"`
	Digest    string `json:"digest"`
}

// ModelSignature is the content of an OpenSSF Model Signing v1.0
// statement.
type ModelSignature struct {
	// Model is the subject's name; Root its sha256 (hex).
	Model string
	Root  string
	// Method is predicate.serialization.method ("files", "shards", ...).
	Method    string
	Resources []ModelResource
}

// ParseModelSignature reads an OpenSSF Model Signing v1.0 statement: one
// subject, resources with hex digests, and the subject's sha256 equal to
// the SHA-256 of the concatenated resource digests (a statement whose root
// does not match its resources is refused).
func ParseModelSignature(st *Statement) (*ModelSignature, error) {
	bad := func(format string, a ...any) (*ModelSignature, error) {
		return nil, fmt.Errorf("provenance: model signature: %w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if st.PredicateType != ModelSigningV1 {
		return bad("predicateType %q, want %q", st.PredicateType, ModelSigningV1)
	}
	if len(st.Subject) != 1 {
		return bad("%d subjects, want 1", len(st.Subject))
	}
	root := st.Subject[0].Digest[DigestSHA256]
	if root == "" {
		return bad("subject has no sha256 digest")
	}
	var pred struct {
		Serialization struct {
			Method string `json:"method"`
		} `json:"serialization"`
		Resources []ModelResource `json:"resources"`
	}
	if err := json.Unmarshal(st.Predicate, &pred); err != nil {
		return bad("predicate: %v", err)
	}
	if len(pred.Resources) == 0 || len(pred.Resources) > maxResources {
		return bad("%d resources", len(pred.Resources))
	}
	h := sha256.New()
	for i, r := range pred.Resources {
		d, err := hex.DecodeString(r.Digest)
		if err != nil || len(d) == 0 || hex.EncodeToString(d) != r.Digest || r.Name == "" || r.Algorithm == "" {
			return bad("resource %d (%q): bad name, algorithm or digest", i, r.Name)
		}
		if r.Algorithm == DigestSHA256 && len(d) != sha256.Size {
			return bad("resource %d (%q): sha256 digest of %d bytes", i, r.Name, len(d))
		}
		h.Write(d)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != root {
		return bad("the resources hash to %s, the subject says %s", got, root)
	}
	return &ModelSignature{Model: st.Subject[0].Name, Root: root, Method: pred.Serialization.Method, Resources: pred.Resources}, nil
}

// VerifyModelSignature verifies a Sigstore bundle of an OpenSSF model
// signature against trusted keys: it returns the statement's content and
// the trusted keys that signed it (at least one, else an error).
func VerifyModelSignature(bundle []byte, trusted []PublicKey) (*ModelSignature, []PublicKey, error) {
	sb, err := ParseSigstoreBundle(bundle)
	if err != nil {
		return nil, nil, err
	}
	if sb.Envelope.PayloadType != PayloadType {
		return nil, nil, fmt.Errorf("provenance: verify model signature: %w: payloadType %q", ErrMalformed, sb.Envelope.PayloadType)
	}
	signers := sb.Envelope.VerifiedKeys(trusted)
	if len(signers) == 0 {
		return nil, nil, fmt.Errorf("provenance: verify model signature: no valid signature by a trusted key: %w", ErrUnverifiedModel)
	}
	st, err := ParseStatement(sb.Envelope.Payload)
	if err != nil {
		return nil, nil, fmt.Errorf("provenance: verify model signature: %w", err)
	}
	ms, err := ParseModelSignature(st)
	if err != nil {
		return nil, nil, err
	}
	return ms, signers, nil
}
