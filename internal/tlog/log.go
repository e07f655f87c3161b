package tlog

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// MaxRecordSize is the largest record a log accepts: entry bundles prefix
// each entry with a big-endian uint16 length (C2SP tlog-tiles).
const MaxRecordSize = 1<<16 - 1

// InclusionProof proves that a record is in the log: Proof is the RFC 6962
// audit path of record Index in the tree of TreeSize records, whose signed
// checkpoint is Checkpoint. Check it with sumdb/tlog.CheckRecord, or with
// Verifier.VerifyInclusionProof, which also checks the checkpoint.
type InclusionProof struct {
	Index      int64               `json:"index"`
	TreeSize   int64               `json:"tree_size"`
	Proof      sumtlog.RecordProof `json:"proof"`
	Checkpoint []byte              `json:"checkpoint"`
}

// Log is an append-only Merkle log over a Storage, signing C2SP checkpoints
// with one Ed25519 key. It is safe for concurrent use; concurrent Appends are
// committed together (one sync per batch).
type Log struct {
	origin   string
	s        Storage
	signer   note.Signer
	verifier note.Verifier

	mu      sync.RWMutex // guards the fields below
	body    string       // current checkpoint body
	cosigs  []note.Signature
	signed  []byte // signed checkpoint for body, with cosigs
	size    int64
	failed  bool
	qmu     sync.Mutex // guards queue and flushing
	queue   []*appendReq
	flusher bool
}

type appendReq struct {
	records [][]byte
	first   int64
	proofs  []InclusionProof
	err     error
	done    chan struct{}
}

// Open opens a log named origin (the checkpoint origin line and signer key
// name) over s. If s holds a checkpoint signed by key, the stored tree must
// extend it (same root hash at its size); otherwise Open fails with
// ErrInconsistent rather than sign a checkpoint that contradicts one already
// published.
func Open(s Storage, origin string, key ed25519.PrivateKey) (*Log, error) {
	signer, err := NewNoteSigner(origin, key)
	if err != nil {
		return nil, err
	}
	verifier, err := NewNoteVerifier(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	l := &Log{origin: origin, s: s, signer: signer, verifier: verifier, size: s.Size()}
	prev, err := s.ReadCheckpoint()
	if err != nil {
		return nil, err
	}
	var prevNote *note.Note
	if prev != nil {
		c, n, err := OpenCheckpoint(prev, origin, note.VerifierList(verifier))
		if err != nil {
			return nil, fmt.Errorf("tlog: open log: stored checkpoint: %w", err)
		}
		if c.Size > l.size {
			return nil, fmt.Errorf("tlog: open log: storage has %d records, checkpoint says %d: %w", l.size, c.Size, ErrInconsistent)
		}
		h, err := sumtlog.TreeHash(c.Size, s)
		if err != nil {
			return nil, fmt.Errorf("tlog: open log: %w", err)
		}
		if h != c.Hash {
			return nil, fmt.Errorf("tlog: open log: storage differs from the stored checkpoint at size %d: %w", c.Size, ErrInconsistent)
		}
		prevNote = n
	}
	if err := l.publish(l.size, prevNote); err != nil {
		return nil, err
	}
	return l, nil
}

// Origin returns the log's origin line.
func (l *Log) Origin() string { return l.origin }

// Verifier returns the note verifier of the log's checkpoint key.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// Size returns the number of records in the log.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// publish signs and stores the checkpoint for size (which must be durable).
// If prev, the stored checkpoint, has the same body, its cosignatures are
// kept: they were checked when AddCosignatures stored them, and the log's
// own storage is trusted.
func (l *Log) publish(size int64, prev *note.Note) error {
	h, err := sumtlog.TreeHash(size, l.s)
	if err != nil {
		return fmt.Errorf("tlog: tree hash: %w", err)
	}
	body := Checkpoint{Origin: l.origin, Size: size, Hash: h}.String()
	var cosigs []note.Signature
	if prev != nil && prev.Text == body {
		cosigs = prev.UnverifiedSigs
	}
	signed, err := note.Sign(&note.Note{Text: body, Sigs: cosigs}, l.signer)
	if err != nil {
		return fmt.Errorf("tlog: sign checkpoint: %w", err)
	}
	// The write is under mu so that a concurrent AddCosignatures cannot
	// store a cosigned older checkpoint over this one.
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.s.WriteCheckpoint(signed); err != nil {
		return err
	}
	l.body, l.signed, l.cosigs, l.size = body, signed, cosigs, size
	return nil
}

// Checkpoint returns the current signed checkpoint, with any cosignatures
// added by AddCosignatures since the log last grew.
func (l *Log) Checkpoint() []byte {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return bytes.Clone(l.signed)
}

// AddCosignatures merges into the current checkpoint the signatures of the
// given cosigners found in signed, which must be the current checkpoint
// (same body) carrying at least one valid signature from cosigners. It is how
// witness cosignatures reach clients through ReadTile("checkpoint"). The
// cosigned checkpoint is stored: it is served again after a restart, until
// the log grows.
func (l *Log) AddCosignatures(signed []byte, cosigners ...note.Verifier) error {
	n, err := note.Open(signed, note.VerifierList(cosigners...))
	if err != nil {
		return fmt.Errorf("tlog: add cosignatures: %w: %w", ErrBadSignature, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if n.Text != l.body {
		return fmt.Errorf("tlog: add cosignatures: not the current checkpoint: %w", ErrNotFound)
	}
	merged := append([]note.Signature(nil), l.cosigs...)
	for _, s := range n.Sigs {
		dup := false
		for i, have := range merged {
			if have.Name == s.Name && have.Hash == s.Hash {
				merged[i], dup = s, true // newer cosignature replaces older
			}
		}
		if !dup {
			merged = append(merged, s)
		}
	}
	out, err := note.Sign(&note.Note{Text: l.body, Sigs: merged}, l.signer)
	if err != nil {
		return fmt.Errorf("tlog: add cosignatures: %w", err)
	}
	// Stored, so that the cosignatures survive a restart while the log has
	// not grown.
	if err := l.s.WriteCheckpoint(out); err != nil {
		return fmt.Errorf("tlog: add cosignatures: %w", err)
	}
	l.cosigs, l.signed = merged, out
	return nil
}

// Append adds record to the log and returns its index and a proof of its
// inclusion in the checkpoint that first contains it. Concurrent calls are
// batched. It returns once the record, its hashes and the checkpoint are
// durable.
func (l *Log) Append(record []byte) (int64, InclusionProof, error) {
	first, proofs, err := l.AppendBatch([][]byte{record})
	if err != nil {
		return 0, InclusionProof{}, err
	}
	return first, proofs[0], nil
}

// AppendBatch adds records with consecutive indexes starting at the
// returned index, with one inclusion proof per record.
func (l *Log) AppendBatch(records [][]byte) (int64, []InclusionProof, error) {
	for i, r := range records {
		if len(r) > MaxRecordSize {
			return 0, nil, fmt.Errorf("tlog: append record %d: %d bytes: %w", i, len(r), ErrRecordTooLarge)
		}
	}
	if len(records) == 0 {
		return l.Size(), nil, nil
	}
	req := &appendReq{records: records, done: make(chan struct{})}
	l.qmu.Lock()
	l.queue = append(l.queue, req)
	if !l.flusher {
		l.flusher = true
		for len(l.queue) > 0 {
			batch := l.queue
			l.queue = nil
			l.qmu.Unlock()
			l.commit(batch)
			l.qmu.Lock()
		}
		l.flusher = false
	}
	l.qmu.Unlock()
	<-req.done
	return req.first, req.proofs, req.err
}

// commit writes a batch of requests and completes them.
func (l *Log) commit(batch []*appendReq) {
	err := l.commitErr(batch)
	for _, r := range batch {
		if err != nil {
			r.err, r.proofs = err, nil
		}
		close(r.done)
	}
}

func (l *Log) commitErr(batch []*appendReq) error {
	l.mu.RLock()
	failed, n0 := l.failed, l.size
	l.mu.RUnlock()
	if failed {
		return fmt.Errorf("tlog: append: %w", ErrBroken)
	}
	fail := func(err error) error {
		l.mu.Lock()
		l.failed = true
		l.mu.Unlock()
		return err
	}
	base := sumtlog.StoredHashCount(n0)
	var pending []sumtlog.Hash
	overlay := sumtlog.HashReaderFunc(func(indexes []int64) ([]sumtlog.Hash, error) {
		out := make([]sumtlog.Hash, len(indexes))
		var stored []int64
		for _, x := range indexes {
			if x < base {
				stored = append(stored, x)
			}
		}
		hs, err := l.s.ReadHashes(stored)
		if err != nil {
			return nil, err
		}
		for i, x := range indexes {
			if x < base {
				out[i], hs = hs[0], hs[1:]
			} else if x-base < int64(len(pending)) {
				out[i] = pending[x-base]
			} else {
				return nil, fmt.Errorf("tlog: hash %d: %w", x, ErrNotFound)
			}
		}
		return out, nil
	})
	var records [][]byte
	n := n0
	for _, r := range batch {
		r.first = n
		for _, rec := range r.records {
			hs, err := sumtlog.StoredHashes(n, rec, overlay)
			if err != nil {
				return fmt.Errorf("tlog: append: %w", err)
			}
			pending = append(pending, hs...)
			records = append(records, rec)
			n++
		}
	}
	if err := l.s.Append(records, pending); err != nil {
		return fail(err)
	}
	if err := l.publish(n, nil); err != nil {
		return fail(err)
	}
	signed := l.Checkpoint()
	for _, r := range batch {
		r.proofs = make([]InclusionProof, len(r.records))
		for i := range r.records {
			idx := r.first + int64(i)
			p, err := sumtlog.ProveRecord(n, idx, l.s)
			if err != nil {
				return fmt.Errorf("tlog: prove record %d: %w", idx, err)
			}
			r.proofs[i] = InclusionProof{Index: idx, TreeSize: n, Proof: p, Checkpoint: signed}
		}
	}
	return nil
}

// Hash returns the root hash of the tree of the first size records.
func (l *Log) Hash(size int64) (sumtlog.Hash, error) {
	if size < 0 || size > l.Size() {
		return sumtlog.Hash{}, fmt.Errorf("tlog: tree hash at %d: %w", size, ErrNotFound)
	}
	h, err := sumtlog.TreeHash(size, l.s)
	if err != nil {
		return sumtlog.Hash{}, fmt.Errorf("tlog: tree hash at %d: %w", size, err)
	}
	return h, nil
}

// Record returns the record at index.
func (l *Log) Record(index int64) ([]byte, error) {
	rs, err := l.s.ReadRecords(index, 1)
	if err != nil {
		return nil, err
	}
	return rs[0], nil
}

// InclusionProof returns the audit path of record index in the tree of
// treeSize records (index < treeSize <= Size()).
func (l *Log) InclusionProof(index, treeSize int64) (sumtlog.RecordProof, error) {
	if index < 0 || treeSize > l.Size() || index >= treeSize {
		return nil, fmt.Errorf("tlog: inclusion proof of %d in %d: %w", index, treeSize, ErrNotFound)
	}
	p, err := sumtlog.ProveRecord(treeSize, index, l.s)
	if err != nil {
		return nil, fmt.Errorf("tlog: inclusion proof of %d in %d: %w", index, treeSize, err)
	}
	return p, nil
}

// ConsistencyProof returns the proof that the tree of newSize records
// extends the tree of oldSize records (1 <= oldSize <= newSize <= Size()).
func (l *Log) ConsistencyProof(oldSize, newSize int64) (sumtlog.TreeProof, error) {
	if oldSize < 1 || oldSize > newSize || newSize > l.Size() {
		return nil, fmt.Errorf("tlog: consistency proof %d -> %d: %w", oldSize, newSize, ErrNotFound)
	}
	p, err := sumtlog.ProveTree(newSize, oldSize, l.s)
	if err != nil {
		return nil, fmt.Errorf("tlog: consistency proof %d -> %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// Close closes the storage.
func (l *Log) Close() error { return l.s.Close() }
