package tlog

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// ErrUnknownLog is returned by a Witness for a checkpoint whose origin it
// is not configured for (tlog-witness: 404 Not Found).
var ErrUnknownLog = errors.New("unknown log")

// maxProofLines is the largest consistency proof a witness accepts.
const maxProofLines = 63

// maxAddCheckpoint bounds an add-checkpoint request body.
const maxAddCheckpoint = 64 << 10

// WitnessConfig configures a Witness.
type WitnessConfig struct {
	Name string             // the cosigner key name, e.g. "witness.example/w1"
	Key  ed25519.PrivateKey // the cosigner key
	// Logs maps each log origin the witness follows to its checkpoint key.
	Logs map[string]note.Verifier
	// StatePath is the JSON file holding, per origin, the size and root hash
	// of the last checkpoint cosigned.
	StatePath string
	Now       func() time.Time // nil: time.Now
}

// Witness cosigns checkpoints (C2SP tlog-cosignature v1, Ed25519) only when
// they are consistent with the last checkpoint it cosigned for the same
// origin, following C2SP tlog-witness add-checkpoint semantics. It is safe
// for concurrent use; the check and the state update are atomic.
type Witness struct {
	cfg    WitnessConfig
	signer *CosignatureSigner

	mu    sync.Mutex
	state map[string]witnessEntry
}

type witnessEntry struct {
	Size int64        `json:"size"`
	Hash sumtlog.Hash `json:"hash"`
}

type witnessState struct {
	Logs map[string]witnessEntry `json:"logs"`
}

// NewWitness returns a Witness, loading its state file if present.
func NewWitness(cfg WitnessConfig) (*Witness, error) {
	signer, err := NewCosignatureSigner(cfg.Name, cfg.Key, cfg.Now)
	if err != nil {
		return nil, err
	}
	if cfg.StatePath == "" {
		return nil, errors.New("tlog: new witness: state path is required")
	}
	w := &Witness{cfg: cfg, signer: signer, state: map[string]witnessEntry{}}
	b, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("tlog: new witness: %w", err)
	default:
		var st witnessState
		if err := json.Unmarshal(b, &st); err != nil {
			return nil, fmt.Errorf("tlog: new witness: state %s: %w", cfg.StatePath, err)
		}
		for o, e := range st.Logs {
			if e.Size < 0 {
				return nil, fmt.Errorf("tlog: new witness: state %s: negative size for %q", cfg.StatePath, o)
			}
			w.state[o] = e
		}
	}
	return w, nil
}

// Verifier returns the note verifier for this witness's cosignatures.
func (w *Witness) Verifier() *CosignatureVerifier { return w.signer.Verifier() }

// Latest returns the size and hash of the last checkpoint cosigned for
// origin (size 0 if none).
func (w *Witness) Latest(origin string) (int64, sumtlog.Hash) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := w.state[origin]
	return e.Size, e.Hash
}

// Cosign checks signed (a checkpoint signed by the log's key) against the
// last cosigned state for its origin and, if consistent, records it and
// returns the witness's cosignature line ("— <name> <base64>\n"). oldSize
// must equal the witness's latest size for the origin (else *ConflictError),
// and proof must be a consistency proof from oldSize (empty when oldSize is
// 0). Errors: ErrUnknownLog, ErrBadSignature, ErrMalformed (old size larger
// than the checkpoint), *ConflictError, ErrInconsistent (proof fails, or same
// size with another hash).
func (w *Witness) Cosign(oldSize int64, proof sumtlog.TreeProof, signed []byte) ([]byte, error) {
	text, _, err := splitSignatures(signed)
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: %w", err)
	}
	body, err := ParseCheckpoint(text)
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: %w", err)
	}
	logKey, ok := w.cfg.Logs[body.Origin]
	if !ok {
		return nil, fmt.Errorf("tlog: witness: origin %q: %w", body.Origin, ErrUnknownLog)
	}
	c, opened, err := OpenCheckpoint(signed, body.Origin, note.VerifierList(logKey))
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: %w", err)
	}
	if oldSize < 0 || oldSize > c.Size {
		return nil, fmt.Errorf("tlog: witness: old size %d larger than checkpoint size %d: %w", oldSize, c.Size, ErrMalformed)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.state[c.Origin]
	if oldSize != prev.Size {
		return nil, &ConflictError{Origin: c.Origin, Size: prev.Size}
	}
	switch {
	case oldSize == 0:
		if len(proof) != 0 {
			return nil, fmt.Errorf("tlog: witness: proof from size 0 must be empty: %w", ErrMalformed)
		}
	case oldSize == c.Size:
		if c.Hash != prev.Hash {
			return nil, fmt.Errorf("tlog: witness: %s size %d: root hash differs from the one cosigned: %w", c.Origin, c.Size, ErrInconsistent)
		}
	default:
		if err := sumtlog.CheckTree(proof, c.Size, c.Hash, prev.Size, prev.Hash); err != nil {
			return nil, fmt.Errorf("tlog: witness: %s %d -> %d: %w: %w", c.Origin, prev.Size, c.Size, ErrInconsistent, err)
		}
	}
	cosigned, err := note.Sign(&note.Note{Text: opened.Text}, w.signer)
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: cosign: %w", err)
	}
	_, line, err := splitSignatures(cosigned)
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: cosign: %w", err)
	}
	next := map[string]witnessEntry{}
	for o, e := range w.state {
		next[o] = e
	}
	next[c.Origin] = witnessEntry{Size: c.Size, Hash: c.Hash}
	st, err := json.MarshalIndent(witnessState{Logs: next}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("tlog: witness: save state: %w", err)
	}
	if err := writeFileAtomic(w.cfg.StatePath, append(st, '\n')); err != nil {
		return nil, fmt.Errorf("tlog: witness: save state: %w", err)
	}
	w.state = next
	return line, nil
}

// AddCheckpoint answers a C2SP tlog-witness add-checkpoint request body:
// "old <size>\n", up to 63 base64 consistency proof lines, an empty line,
// then the signed checkpoint. It returns the cosignature line(s); errors are
// those of ParseAddCheckpoint and Cosign.
func (w *Witness) AddCheckpoint(body []byte) ([]byte, error) {
	old, proof, signed, err := ParseAddCheckpoint(body)
	if err != nil {
		return nil, err
	}
	return w.Cosign(old, proof, signed)
}

// ParseAddCheckpoint parses a C2SP tlog-witness add-checkpoint request body.
func ParseAddCheckpoint(body []byte) (oldSize int64, proof sumtlog.TreeProof, signed []byte, err error) {
	bad := func(why string) (int64, sumtlog.TreeProof, []byte, error) {
		return 0, nil, nil, fmt.Errorf("tlog: parse add-checkpoint: %w: %s", ErrMalformed, why)
	}
	if len(body) > maxAddCheckpoint {
		return bad("too long")
	}
	line, rest, ok := bytes.Cut(body, []byte("\n"))
	if !ok {
		return bad("no old size line")
	}
	s, ok := strings.CutPrefix(string(line), "old ")
	if !ok {
		return bad("no old size line")
	}
	old, err := strconv.ParseInt(s, 10, 64)
	if err != nil || old < 0 || strconv.FormatInt(old, 10) != s {
		return bad("bad old size")
	}
	for {
		line, rest, ok = bytes.Cut(rest, []byte("\n"))
		if !ok {
			return bad("no empty line before the checkpoint")
		}
		if len(line) == 0 {
			break
		}
		if len(proof) == maxProofLines {
			return bad("too many proof lines")
		}
		h, err := base64.StdEncoding.Strict().DecodeString(string(line))
		if err != nil || len(h) != sumtlog.HashSize {
			return bad("bad proof line")
		}
		proof = append(proof, sumtlog.Hash(h))
	}
	if len(rest) == 0 {
		return bad("no checkpoint")
	}
	return old, proof, rest, nil
}

// FormatAddCheckpoint builds an add-checkpoint request body.
func FormatAddCheckpoint(oldSize int64, proof sumtlog.TreeProof, signed []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", oldSize)
	for _, h := range proof {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.Write(signed)
	return b.Bytes()
}
