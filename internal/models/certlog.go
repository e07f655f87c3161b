package models

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/silo-ai/silo/internal/provenance"
	"github.com/silo-ai/silo/internal/tlog"
)

// CertLog is the transparency log of model certificates: each certificate
// envelope (its exact bytes) is a record of an internal/tlog Log kept in
// one directory, with the log's Ed25519 key in its "key" file (created on
// first open, mode 0600) and an exclusive lock so only one process (the
// server) writes it. A certificate is appended once; later calls find it.
type CertLog struct {
	log    *tlog.Log
	lock   *os.File
	origin string
	vkey   string

	mu        sync.Mutex
	index     map[[32]byte]int64 // sha256 of envelope -> record index
	witnesses []note.Verifier
}

// TrustWitnesses names the witnesses whose cosignatures (C2SP
// tlog-cosignature) the log accepts with AddCosignatures and counts in
// Evidence.
func (c *CertLog) TrustWitnesses(ws ...note.Verifier) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.witnesses = append([]note.Verifier(nil), ws...)
}

// AddCosignatures merges trusted witnesses' cosignatures of the current
// checkpoint into it (see tlog.Log.AddCosignatures): clients then fetch
// them with the checkpoint. A checkpoint that is not the current one is
// tlog.ErrNotFound; one without a trusted cosignature tlog.ErrBadSignature.
func (c *CertLog) AddCosignatures(signed []byte) error {
	c.mu.Lock()
	ws := c.witnesses
	c.mu.Unlock()
	if len(ws) == 0 {
		return fmt.Errorf("models: add cosignatures: no trusted witnesses: %w", tlog.ErrBadSignature)
	}
	return c.log.AddCosignatures(signed, ws...)
}

// State identifies the current signed checkpoint, cosignatures included:
// it changes when the log grows or is cosigned.
func (c *CertLog) State() string {
	sum := sha256.Sum256(c.log.Checkpoint())
	return hex.EncodeToString(sum[:])
}

// OpenCertLog opens (creating if needed) the certificate log in dir.
// The log's origin is "silo.log/" followed by the first 16 hex digits of
// its key id, so it is stable for the life of the key.
func OpenCertLog(dir string) (*CertLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	c, err := openCertLog(dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	c.lock = lock
	return c, nil
}

func openCertLog(dir string) (*CertLog, error) {
	key, err := loadOrCreateKey(filepath.Join(dir, "key"))
	if err != nil {
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	pub := key.Public().(ed25519.PublicKey)
	origin := "silo.log/" + provenance.KeyID(pub)[:16]
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	st, err := tlog.OpenFileStorage(filepath.Join(dir, "data"))
	if err != nil {
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	l, err := tlog.Open(st, origin, key)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("models: open log: %w", err)
	}
	c := &CertLog{log: l, origin: origin, vkey: vkey, index: map[[32]byte]int64{}}
	for i := range l.Size() {
		rec, err := l.Record(i)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("models: open log: record %d: %w", i, err)
		}
		if _, dup := c.index[sha256.Sum256(rec)]; !dup {
			c.index[sha256.Sum256(rec)] = i
		}
	}
	return c, nil
}

// loadOrCreateKey reads an Ed25519 seed (hex) from file, creating it first.
func loadOrCreateKey(file string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		if err := writeFileAtomic(file, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
			return nil, err
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(string(trimNL(b)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("log key %s: not a hex Ed25519 seed", file)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// Log returns the underlying log (ReadTile serves it under /log/).
func (c *CertLog) Log() *tlog.Log { return c.log }

// Origin returns the log's checkpoint origin.
func (c *CertLog) Origin() string { return c.origin }

// VerifierKey returns the log's signed-note verifier key
// ("<origin>+<hash>+<base64 key>", see golang.org/x/mod/sumdb/note).
func (c *CertLog) VerifierKey() string { return c.vkey }

// Add appends a certificate envelope unless it is in the log already, and
// returns its inclusion proof against the current checkpoint.
func (c *CertLog) Add(envelope []byte) (tlog.InclusionProof, error) {
	if len(envelope) == 0 {
		return tlog.InclusionProof{}, errors.New("models: log certificate: empty")
	}
	sum := sha256.Sum256(envelope)
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.index[sum]; ok {
		return c.proofLocked(i)
	}
	i, p, err := c.log.Append(envelope)
	if err != nil {
		return tlog.InclusionProof{}, fmt.Errorf("models: log certificate: %w", err)
	}
	c.index[sum] = i
	return p, nil
}

// Find returns the proof of an envelope already in the log.
func (c *CertLog) Find(envelope []byte) (tlog.InclusionProof, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[sha256.Sum256(envelope)]
	if !ok {
		return tlog.InclusionProof{}, false
	}
	p, err := c.proofLocked(i)
	return p, err == nil
}

func (c *CertLog) proofLocked(i int64) (tlog.InclusionProof, error) {
	signed := c.log.Checkpoint()
	cp, _, err := tlog.OpenCheckpoint(signed, c.origin, note.VerifierList(c.log.Verifier()))
	if err != nil {
		return tlog.InclusionProof{}, fmt.Errorf("models: log checkpoint: %w", err)
	}
	rp, err := c.log.InclusionProof(i, cp.Size)
	if err != nil {
		return tlog.InclusionProof{}, fmt.Errorf("models: log proof: %w", err)
	}
	return tlog.InclusionProof{Index: i, TreeSize: cp.Size, Proof: rp, Checkpoint: signed}, nil
}

// Evidence is a Checker.Evidence: it logs a signed envelope (once), checks
// the inclusion proof against the log's signed checkpoint with
// golang.org/x/mod/sumdb/tlog, and counts the distinct trusted witnesses
// that cosigned that checkpoint.
func (c *CertLog) Evidence(_ string, envelope []byte) *provenance.LogEvidence {
	// Only a well-formed, signed envelope earns a place in the log.
	if env, err := provenance.ParseEnvelope(envelope); err != nil || len(env.Signatures) == 0 {
		return nil
	}
	p, err := c.Add(envelope)
	if err != nil {
		return nil
	}
	if VerifyInclusion(p, envelope, c.origin, c.log.Verifier()) != nil {
		return nil
	}
	ev := &provenance.LogEvidence{Included: true}
	c.mu.Lock()
	ws := c.witnesses
	c.mu.Unlock()
	if len(ws) > 0 {
		vs := append([]note.Verifier{c.log.Verifier()}, ws...)
		if _, n, err := tlog.OpenCheckpoint(p.Checkpoint, c.origin, note.VerifierList(vs...)); err == nil {
			seen := map[string]bool{}
			for _, sig := range n.Sigs {
				if sig.Name != c.origin && !seen[sig.Name] {
					seen[sig.Name] = true
					ev.Witnesses++
				}
			}
		}
	}
	return ev
}

// VerifyInclusion checks an inclusion proof of record: the checkpoint is
// signed by the log key and the audit path leads from the record to its
// root hash.
func VerifyInclusion(p tlog.InclusionProof, record []byte, origin string, logKey note.Verifier) error {
	cp, _, err := tlog.OpenCheckpoint(p.Checkpoint, origin, note.VerifierList(logKey))
	if err != nil {
		return fmt.Errorf("models: inclusion: %w", err)
	}
	if cp.Size != p.TreeSize {
		return fmt.Errorf("models: inclusion: proof for size %d, checkpoint size %d", p.TreeSize, cp.Size)
	}
	if err := sumtlog.CheckRecord(p.Proof, p.TreeSize, cp.Hash, p.Index, sumtlog.RecordHash(record)); err != nil {
		return fmt.Errorf("models: inclusion: %w", err)
	}
	return nil
}

// Close closes the log and releases its lock.
func (c *CertLog) Close() error {
	err := c.log.Close()
	if c.lock != nil {
		c.lock.Close()
	}
	return err
}
