// Package attest proves what a silo process runs with TPM 2.0 quotes.
//
// silo resets PCR 23 (the application PCR, resettable from locality 0) at
// start and extends it with one event per measurement: its binary, its
// configuration and each model it loads, each the SHA-256 of a file or
// document. A quote is the TPM's signature, by an attestation key (AK),
// over the SHA-256 of PCR 23 and extra data that binds the verifier's
// nonce and the hash of the TLS public key the verifier is talking to: a
// quote cannot be replayed, nor relayed by another server. Verify checks a
// quote against the event log and returns the AK's fingerprint.
//
// The AK is a restricted ECDSA P-256 signing key made from the TPM's owner
// seed with a fixed template, so the same TPM gives the same AK after a
// restart: verifiers pin its fingerprint on first use, as SSH pins host
// keys. Binding the AK to the TPM's endorsement key (and so to a
// manufacturer's certificate) is not done here. The measurements are
// taken by silo itself: a quote shows which binary, configuration and
// models a silo process declared, and that declaration cannot be changed
// afterwards without a new PCR value; it cannot show that a modified
// binary did not declare another's digest (measured boot, IMA or a TEE
// can).
//
// The package has no HTTP and no database; it talks to a TPM device
// (/dev/tpmrm0) or to a Unix socket (swtpm).
package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"regexp"
	"sync"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
)

// PCR is the PCR silo resets and extends.
const PCR = 23

// Event kinds.
const (
	KindBinary = "binary"
	KindConfig = "config"
	KindModel  = "model"
)

// Event is one measurement extended into PCR.
type Event struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

var (
	kindRe   = regexp.MustCompile(`^[a-z]{1,16}$`)
	sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

func (e Event) check() error {
	if !kindRe.MatchString(e.Kind) {
		return fmt.Errorf("attest: bad event kind %q", e.Kind)
	}
	if len(e.Name) > 256 || bytes.IndexByte([]byte(e.Name), 0) >= 0 {
		return fmt.Errorf("attest: bad event name (%d bytes)", len(e.Name))
	}
	if !sha256Re.MatchString(e.SHA256) {
		return fmt.Errorf("attest: event %s %q: digest is not 64 lowercase hex digits", e.Kind, e.Name)
	}
	return nil
}

// Digest is what the event extends into PCR: the SHA-256 of
// "silo-event\x00" kind "\x00" name "\x00" sha256 (hex).
func (e Event) Digest() [32]byte {
	return sha256.Sum256([]byte("silo-event\x00" + e.Kind + "\x00" + e.Name + "\x00" + e.SHA256))
}

// Replay returns the value of PCR after it is reset and extended with
// events in order.
func Replay(events []Event) [32]byte {
	var pcr [32]byte
	for _, e := range events {
		d := e.Digest()
		pcr = sha256.Sum256(append(pcr[:], d[:]...))
	}
	return pcr
}

// TLSKey is what a quote binds of the server's TLS certificate: the
// SHA-256 of its public key (SubjectPublicKeyInfo, DER).
func TLSKey(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// ExtraData is what a quote's extra data must be for nonce and the TLS
// key (TLSKey) of the server.
func ExtraData(nonce []byte, tlsKey [32]byte) [32]byte {
	b := append([]byte("silo-attest\x00"), tlsKey[:]...)
	return sha256.Sum256(append(b, nonce...))
}

// Nonce bounds: at least 16 bytes of the verifier's randomness.
const (
	MinNonce = 16
	MaxNonce = 64
)

// Evidence is a quote with what a verifier needs to check it.
type Evidence struct {
	// Quote is the TPMS_ATTEST structure the TPM signed.
	Quote []byte `json:"quote"`
	// Signature is the TPMT_SIGNATURE over it.
	Signature []byte `json:"signature"`
	// AKPublic is the TPMT_PUBLIC area of the attestation key.
	AKPublic []byte `json:"ak_public"`
	// Events is the log of PCR's extensions, in order.
	Events []Event `json:"events"`
}

// TPM is an open TPM with silo's attestation key loaded and the event log
// of this process.
type TPM struct {
	mu     sync.Mutex
	t      transport.TPMCloser
	ak     tpm2.TPMHandle
	akName tpm2.TPM2BName
	akPub  []byte
	events []Event
}

// akTemplate is the attestation key: ECDSA P-256 with SHA-256, restricted
// to signing TPM-made structures, fixed to this TPM.
var akTemplate = tpm2.TPMTPublic{
	Type:    tpm2.TPMAlgECC,
	NameAlg: tpm2.TPMAlgSHA256,
	ObjectAttributes: tpm2.TPMAObject{
		FixedTPM:            true,
		FixedParent:         true,
		SensitiveDataOrigin: true,
		UserWithAuth:        true,
		NoDA:                true,
		Restricted:          true,
		SignEncrypt:         true,
	},
	Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
		Scheme: tpm2.TPMTECCScheme{
			Scheme:  tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256}),
		},
		CurveID: tpm2.TPMECCNistP256,
	}),
	Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
		Y: tpm2.TPM2BECCParameter{Buffer: make([]byte, 32)},
	}),
}

// Open opens the TPM at path (a TPM character device such as /dev/tpmrm0,
// or the Unix socket of a software TPM), resets PCR and loads the
// attestation key.
func Open(path string) (*TPM, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("attest: open TPM: %w", err)
	}
	var t transport.TPMCloser
	if fi.Mode()&os.ModeSocket != 0 {
		t, err = linuxudstpm.Open(path)
	} else {
		t, err = linuxtpm.Open(path)
	}
	if err != nil {
		return nil, fmt.Errorf("attest: open TPM %s: %w", path, err)
	}
	a := &TPM{t: t}
	if err := a.init(); err != nil {
		t.Close()
		return nil, err
	}
	return a, nil
}

func (a *TPM) init() error {
	reset := tpm2.PCRReset{PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(PCR), Auth: tpm2.PasswordAuth(nil)}}
	if _, err := reset.Execute(a.t); err != nil {
		return fmt.Errorf("attest: reset PCR %d: %w", PCR, err)
	}
	rsp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(akTemplate)}.Execute(a.t)
	if err != nil {
		return fmt.Errorf("attest: create the attestation key: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return fmt.Errorf("attest: attestation key: %w", err)
	}
	a.ak, a.akName, a.akPub = rsp.ObjectHandle, rsp.Name, tpm2.Marshal(pub)
	return nil
}

// Close unloads the attestation key and closes the TPM.
func (a *TPM) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.t == nil {
		return nil
	}
	_, ferr := tpm2.FlushContext{FlushHandle: a.ak}.Execute(a.t)
	err := a.t.Close()
	a.t = nil
	return errors.Join(ferr, err)
}

// AKFingerprint is the hex SHA-256 of the attestation key's public area.
func (a *TPM) AKFingerprint() string { return Fingerprint(a.akPub) }

// Fingerprint is the hex SHA-256 of an attestation key's public area.
func Fingerprint(akPublic []byte) string {
	s := sha256.Sum256(akPublic)
	return hex.EncodeToString(s[:])
}

// Measure extends PCR with e and appends it to the log.
func (a *TPM) Measure(e Event) error {
	if err := e.check(); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.t == nil {
		return errors.New("attest: TPM closed")
	}
	d := e.Digest()
	ext := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(PCR), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}
	if _, err := ext.Execute(a.t); err != nil {
		return fmt.Errorf("attest: extend PCR %d with %s %q: %w", PCR, e.Kind, e.Name, err)
	}
	a.events = append(a.events, e)
	return nil
}

// Events returns a copy of the event log.
func (a *TPM) Events() []Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Event(nil), a.events...)
}

func pcrSelection() tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{
		{Hash: tpm2.TPMAlgSHA256, PCRSelect: tpm2.PCClientCompatible.PCRs(PCR)},
	}}
}

// Quote has the TPM sign PCR and ExtraData(nonce, tlsKey).
func (a *TPM) Quote(nonce []byte, tlsKey [32]byte) (*Evidence, error) {
	if len(nonce) < MinNonce || len(nonce) > MaxNonce {
		return nil, fmt.Errorf("attest: nonce of %d bytes, want %d to %d", len(nonce), MinNonce, MaxNonce)
	}
	extra := ExtraData(nonce, tlsKey)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.t == nil {
		return nil, errors.New("attest: TPM closed")
	}
	rsp, err := tpm2.Quote{
		SignHandle:     tpm2.NamedHandle{Handle: a.ak, Name: a.akName},
		QualifyingData: tpm2.TPM2BData{Buffer: extra[:]},
		InScheme:       tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgNull},
		PCRSelect:      pcrSelection(),
	}.Execute(a.t)
	if err != nil {
		return nil, fmt.Errorf("attest: quote: %w", err)
	}
	return &Evidence{
		Quote:     rsp.Quoted.Bytes(),
		Signature: tpm2.Marshal(rsp.Signature),
		AKPublic:  append([]byte(nil), a.akPub...),
		Events:    append([]Event(nil), a.events...),
	}, nil
}

// Verify checks ev for nonce and tlsKey: the quote is a TPM-made quote of
// PCR (SHA-256 bank) alone, its extra data is ExtraData(nonce, tlsKey), its
// PCR digest is that of the replayed event log, and it is signed by the
// restricted, TPM-fixed ECDSA key in ev. It returns that key's
// fingerprint, for the caller to compare with the one it trusts.
func Verify(ev *Evidence, nonce []byte, tlsKey [32]byte) (fingerprint string, err error) {
	// The TPM structures come from the network: a malformed one must be an
	// error, whatever the unmarshalling library does with it.
	defer func() {
		if r := recover(); r != nil {
			fingerprint, err = "", fmt.Errorf("attest: malformed evidence: %v", r)
		}
	}()
	if ev == nil {
		return "", errors.New("attest: no evidence")
	}
	for _, e := range ev.Events {
		if err := e.check(); err != nil {
			return "", err
		}
	}
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](ev.AKPublic)
	if err != nil {
		return "", fmt.Errorf("attest: attestation key: %w", err)
	}
	if !bytes.Equal(tpm2.Marshal(pub), ev.AKPublic) {
		return "", errors.New("attest: attestation key: trailing bytes")
	}
	attr := pub.ObjectAttributes
	if pub.Type != tpm2.TPMAlgECC || pub.NameAlg != tpm2.TPMAlgSHA256 || !attr.Restricted || !attr.SignEncrypt || attr.Decrypt || !attr.FixedTPM || !attr.SensitiveDataOrigin {
		return "", errors.New("attest: the attestation key is not a restricted, TPM-made ECC signing key")
	}
	key, err := tpm2.Pub(*pub)
	if err != nil {
		return "", fmt.Errorf("attest: attestation key: %w", err)
	}
	ecKey, ok := key.(*ecdsa.PublicKey)
	if !ok {
		return "", errors.New("attest: attestation key: not ECDSA")
	}
	sig, err := tpm2.Unmarshal[tpm2.TPMTSignature](ev.Signature)
	if err != nil {
		return "", fmt.Errorf("attest: signature: %w", err)
	}
	if sig.SigAlg != tpm2.TPMAlgECDSA {
		return "", fmt.Errorf("attest: signature algorithm %v, want ECDSA", sig.SigAlg)
	}
	es, err := sig.Signature.ECDSA()
	if err != nil {
		return "", fmt.Errorf("attest: signature: %w", err)
	}
	if es.Hash != tpm2.TPMAlgSHA256 {
		return "", fmt.Errorf("attest: signature hash %v, want SHA-256", es.Hash)
	}
	h := sha256.Sum256(ev.Quote)
	r, s := new(big.Int).SetBytes(es.SignatureR.Buffer), new(big.Int).SetBytes(es.SignatureS.Buffer)
	if !ecdsa.Verify(ecKey, h[:], r, s) {
		return "", errors.New("attest: the quote's signature does not verify with the attestation key")
	}
	att, err := tpm2.Unmarshal[tpm2.TPMSAttest](ev.Quote)
	if err != nil {
		return "", fmt.Errorf("attest: quote: %w", err)
	}
	if att.Magic != tpm2.TPMGeneratedValue || att.Type != tpm2.TPMSTAttestQuote {
		return "", errors.New("attest: not a TPM-made quote")
	}
	extra := ExtraData(nonce, tlsKey)
	if !bytes.Equal(att.ExtraData.Buffer, extra[:]) {
		return "", errors.New("attest: the quote is not for this nonce and TLS key")
	}
	q, err := att.Attested.Quote()
	if err != nil {
		return "", fmt.Errorf("attest: quote: %w", err)
	}
	want := pcrSelection()
	if !bytes.Equal(tpm2.Marshal(q.PCRSelect), tpm2.Marshal(want)) {
		return "", fmt.Errorf("attest: the quote covers other PCRs than %d", PCR)
	}
	pcr := Replay(ev.Events)
	pd := sha256.Sum256(pcr[:])
	if !bytes.Equal(q.PCRDigest.Buffer, pd[:]) {
		return "", fmt.Errorf("attest: PCR %d does not match the event log", PCR)
	}
	return Fingerprint(ev.AKPublic), nil
}
