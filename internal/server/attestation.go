package server

import (
	"encoding/hex"
	"net/http"

	"github.com/silo-ai/silo/internal/attest"
	"github.com/silo-ai/silo/internal/identity"
	"github.com/silo-ai/silo/internal/metering"
	"github.com/silo-ai/silo/internal/problem"
)

// Attester quotes what the server runs (an *attest.TPM).
type Attester interface {
	Quote(nonce []byte, tlsKey [32]byte) (*attest.Evidence, error)
	AKFingerprint() string
}

// attestationResponse is the Attestation schema.
type attestationResponse struct {
	*attest.Evidence
	AKFingerprint string `json:"ak_fingerprint"`
	PCR           int    `json:"pcr"`
	TLSKey        string `json:"tls_key_sha256"`
}

// getAttestation answers a verifier's nonce with a quote. It is public: a
// quote tells nothing a verifier could not learn from the binary, the
// configuration and the models it expects.
func (s *Server) getAttestation(w http.ResponseWriter, r *http.Request, _ *identity.Principal) error {
	if s.opts.Attest == nil {
		return problem.NotFound("this server runs without a TPM (silo serve --tpm)")
	}
	// The route is public and each quote keeps the TPM busy: the same bound
	// per client address as the sign-in starts.
	if !s.quotes.allow(r) {
		return metering.ErrRateLimited
	}
	nonce, err := hex.DecodeString(r.URL.Query().Get("nonce"))
	if err != nil || len(nonce) < attest.MinNonce || len(nonce) > attest.MaxNonce {
		return problem.Invalid("nonce: 16 to 64 bytes, hex")
	}
	ev, err := s.opts.Attest.Quote(nonce, s.opts.TLSKey)
	if err != nil {
		s.log.Error("attestation: quote", "err", err)
		return &problem.Error{Status: http.StatusServiceUnavailable, Slug: "tpm-unavailable", Title: "The TPM did not answer", Err: err}
	}
	out := attestationResponse{Evidence: ev, AKFingerprint: s.opts.Attest.AKFingerprint(), PCR: attest.PCR}
	if s.opts.TLSKey != ([32]byte{}) {
		out.TLSKey = hex.EncodeToString(s.opts.TLSKey[:])
	}
	return respond(w, http.StatusOK, out)
}
