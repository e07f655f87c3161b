package tlog

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// FetchFunc fetches a C2SP tlog-tiles resource by its path relative to the
// log prefix ("checkpoint", "tile/0/000", ...). Log.ReadTile is one; an HTTP
// GET of prefix+path is another.
type FetchFunc func(path string) ([]byte, error)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	Origin    string        // the log's checkpoint origin
	LogKey    note.Verifier // the log's checkpoint key
	Witnesses []note.Verifier
	// Quorum is how many of Witnesses must have cosigned a checkpoint for
	// it to be accepted (0: none).
	Quorum int
	// StatePath is the file holding the last checkpoint accepted (a signed
	// note). It is created on first use and only ever moves forward.
	StatePath string
	// Fetch reads tiles; needed by Update and VerifyInclusion.
	Fetch FetchFunc
}

// Verifier is a log client. It remembers the last checkpoint it accepted and
// accepts a new one only if it is signed by the log, cosigned by a quorum of
// witnesses, and consistent with the remembered one, so a truncated,
// rewritten or forked log is caught. It is safe for concurrent use.
type Verifier struct {
	cfg   VerifierConfig
	known note.Verifiers

	mu   sync.Mutex
	last *Checkpoint // nil before the first checkpoint
}

// NewVerifier returns a Verifier, loading its state file if present (the
// stored checkpoint is verified again).
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.LogKey == nil || cfg.StatePath == "" || cfg.Origin == "" {
		return nil, errors.New("tlog: new verifier: origin, log key and state path are required")
	}
	if cfg.Quorum < 0 || cfg.Quorum > len(cfg.Witnesses) {
		return nil, fmt.Errorf("tlog: new verifier: quorum %d of %d witnesses", cfg.Quorum, len(cfg.Witnesses))
	}
	v := &Verifier{cfg: cfg, known: note.VerifierList(append([]note.Verifier{cfg.LogKey}, cfg.Witnesses...)...)}
	b, err := os.ReadFile(cfg.StatePath)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("tlog: new verifier: %w", err)
	default:
		c, err := v.open(b)
		if err != nil {
			return nil, fmt.Errorf("tlog: new verifier: state %s: %w", cfg.StatePath, err)
		}
		v.last = &c
	}
	return v, nil
}

// Last returns the last accepted checkpoint, if any.
func (v *Verifier) Last() (Checkpoint, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last == nil {
		return Checkpoint{}, false
	}
	return *v.last, true
}

// open verifies a signed checkpoint: origin, log signature, witness quorum.
func (v *Verifier) open(signed []byte) (Checkpoint, error) {
	c, n, err := OpenCheckpoint(signed, v.cfg.Origin, v.known)
	if err != nil {
		return Checkpoint{}, err
	}
	logSigned := false
	witnesses := map[string]bool{} // note.Open verified each with one of cfg.Witnesses
	for _, s := range n.Sigs {
		if s.Name == v.cfg.LogKey.Name() && s.Hash == v.cfg.LogKey.KeyHash() {
			logSigned = true
			continue
		}
		witnesses[s.Name+"+"+strconv.FormatUint(uint64(s.Hash), 16)] = true
	}
	if !logSigned {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: not signed by the log key", ErrBadSignature)
	}
	if len(witnesses) < v.cfg.Quorum {
		return Checkpoint{}, fmt.Errorf("tlog: open checkpoint: %w: %d of %d required witness cosignatures", ErrBadSignature, len(witnesses), v.cfg.Quorum)
	}
	return c, nil
}

// Update fetches the log's current checkpoint and accepts it (see Accept).
func (v *Verifier) Update() (Checkpoint, error) {
	if v.cfg.Fetch == nil {
		return Checkpoint{}, errors.New("tlog: update: no fetch function")
	}
	signed, err := v.cfg.Fetch("checkpoint")
	if err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: update: fetch checkpoint: %w", err)
	}
	return v.Accept(signed, nil)
}

// Accept verifies signed and its consistency with the last accepted
// checkpoint, then remembers it (if it is larger). proof is a consistency
// proof from the last accepted size to the new one; if nil, the needed
// hashes are fetched as tiles (authenticated against the new checkpoint) and
// the old root is recomputed from them. A smaller tree, an equal size with a
// different hash, or a failed proof is ErrInconsistent, and the state is left
// unchanged.
func (v *Verifier) Accept(signed []byte, proof sumtlog.TreeProof) (Checkpoint, error) {
	c, err := v.open(signed)
	if err != nil {
		return Checkpoint{}, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.last != nil {
		if err := v.consistent(*v.last, c, proof); err != nil {
			return Checkpoint{}, err
		}
		if c.Size == v.last.Size {
			return c, nil
		}
	}
	if err := writeFileAtomic(v.cfg.StatePath, signed); err != nil {
		return Checkpoint{}, fmt.Errorf("tlog: save checkpoint: %w", err)
	}
	v.last = &c
	return c, nil
}

func (v *Verifier) consistent(old, c Checkpoint, proof sumtlog.TreeProof) error {
	switch {
	case c.Size < old.Size:
		return fmt.Errorf("tlog: checkpoint size %d is smaller than the %d seen before: %w", c.Size, old.Size, ErrInconsistent)
	case c.Size == old.Size:
		if c.Hash != old.Hash {
			return fmt.Errorf("tlog: two checkpoints of size %d with different hashes: %w", c.Size, ErrInconsistent)
		}
		return nil
	case old.Size == 0:
		return nil
	}
	if proof != nil {
		if err := sumtlog.CheckTree(proof, c.Size, c.Hash, old.Size, old.Hash); err != nil {
			return fmt.Errorf("tlog: consistency %d -> %d: %w: %w", old.Size, c.Size, ErrInconsistent, err)
		}
		return nil
	}
	if v.cfg.Fetch == nil {
		return errors.New("tlog: consistency check: no proof and no fetch function")
	}
	hr := sumtlog.TileHashReader(sumtlog.Tree{N: c.Size, Hash: c.Hash}, &tileReader{fetch: v.cfg.Fetch})
	h, err := sumtlog.TreeHash(old.Size, hr)
	if err != nil {
		return fmt.Errorf("tlog: consistency %d -> %d: %w: %w", old.Size, c.Size, ErrInconsistent, err)
	}
	if h != old.Hash {
		return fmt.Errorf("tlog: consistency %d -> %d: the log rewrote its history: %w", old.Size, c.Size, ErrInconsistent)
	}
	return nil
}

// VerifyInclusion checks, against the last accepted checkpoint, that record
// is the log's entry at index, using hashes fetched as tiles.
func (v *Verifier) VerifyInclusion(record []byte, index int64) error {
	c, ok := v.Last()
	if !ok {
		return fmt.Errorf("tlog: verify inclusion: no checkpoint accepted yet: %w", ErrNotFound)
	}
	if index < 0 || index >= c.Size {
		return fmt.Errorf("tlog: verify inclusion of %d: beyond tree size %d: %w", index, c.Size, ErrNotFound)
	}
	if v.cfg.Fetch == nil {
		return errors.New("tlog: verify inclusion: no fetch function")
	}
	hr := sumtlog.TileHashReader(sumtlog.Tree{N: c.Size, Hash: c.Hash}, &tileReader{fetch: v.cfg.Fetch})
	p, err := sumtlog.ProveRecord(c.Size, index, hr)
	if err != nil {
		return fmt.Errorf("tlog: verify inclusion of %d: %w: %w", index, ErrInconsistent, err)
	}
	if err := sumtlog.CheckRecord(p, c.Size, c.Hash, index, sumtlog.RecordHash(record)); err != nil {
		return fmt.Errorf("tlog: verify inclusion of %d: %w: %w", index, ErrInconsistent, err)
	}
	return nil
}

// VerifyInclusionProof checks a proof returned by Log.Append: its
// checkpoint is accepted (signature, witnesses, consistency with the last
// one, fetching tiles if needed) and the audit path leads from record to its
// root hash.
func (v *Verifier) VerifyInclusionProof(record []byte, p InclusionProof) error {
	c, err := v.Accept(p.Checkpoint, nil)
	if err != nil {
		return err
	}
	if c.Size != p.TreeSize {
		return fmt.Errorf("tlog: verify inclusion proof: checkpoint size %d, proof for %d: %w", c.Size, p.TreeSize, ErrInconsistent)
	}
	if p.Index < 0 || p.Index >= c.Size {
		return fmt.Errorf("tlog: verify inclusion proof: index %d beyond %d: %w", p.Index, c.Size, ErrInconsistent)
	}
	if err := sumtlog.CheckRecord(p.Proof, c.Size, c.Hash, p.Index, sumtlog.RecordHash(record)); err != nil {
		return fmt.Errorf("tlog: verify inclusion proof of %d: %w: %w", p.Index, ErrInconsistent, err)
	}
	return nil
}

// tileReader adapts a FetchFunc to sumdb/tlog.TileReader with C2SP paths.
type tileReader struct {
	fetch FetchFunc
	mu    sync.Mutex
	cache map[sumtlog.Tile][]byte
}

func (r *tileReader) Height() int { return TileHeight }

func (r *tileReader) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		r.mu.Lock()
		b, ok := r.cache[t]
		r.mu.Unlock()
		if ok {
			out[i] = b
			continue
		}
		if t.H != TileHeight || t.L < 0 {
			return nil, fmt.Errorf("tlog: read tile: unexpected tile %v", t)
		}
		b, err := r.fetch(Tile{Level: t.L, N: t.N, Width: t.W}.Path())
		if err != nil {
			return nil, fmt.Errorf("tlog: fetch tile: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles is called by sumdb/tlog for tiles it has verified.
func (r *tileReader) SaveTiles(tiles []sumtlog.Tile, data [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cache == nil {
		r.cache = make(map[sumtlog.Tile][]byte)
	}
	for i, t := range tiles {
		r.cache[t] = data[i]
	}
}
