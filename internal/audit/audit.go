// Package audit keeps silo's hash-chained audit log: every admin action and
// key event is appended as an entry that commits to the previous entry's
// hash, so an edited, dropped or reordered row breaks the chain at a point
// Verify names.
//
// Entry hash (v1): SHA-256 over the domain-separation string HashDomain
// followed by the entry's fields, each as a big-endian uint32 length and the
// bytes: seq (decimal), time (RFC 3339 with nanoseconds, UTC), actor id (or
// empty), action, target, detail (JSON), and the previous entry's hash (32
// bytes; empty for the first entry).
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// HashDomain separates audit hashes from every other hash silo computes.
const HashDomain = "silo audit entry v1\n"

// Log appends to and verifies the chain held in a store.
type Log struct {
	st  store.Store
	now func() time.Time
}

// New returns a Log over st.
func New(st store.Store) *Log {
	return &Log{st: st, now: time.Now}
}

// Event is what a caller records. Detail is marshalled to JSON and must
// never hold a secret.
type Event struct {
	Actor  *uuid.UUID
	Action string
	Target string
	Detail map[string]any
}

// Append records an event at the end of the chain.
func (l *Log) Append(ctx context.Context, ev Event) (*store.AuditEntry, error) {
	detail := []byte("{}")
	if len(ev.Detail) > 0 {
		var err error
		if detail, err = json.Marshal(ev.Detail); err != nil {
			return nil, fmt.Errorf("audit: encode detail: %w", err)
		}
	}
	e, err := l.st.AppendAudit(ctx, func(last *store.AuditEntry) (*store.AuditEntry, error) {
		e := &store.AuditEntry{
			Seq:     1,
			Time:    l.now().UTC().Truncate(time.Microsecond),
			ActorID: ev.Actor,
			Action:  ev.Action,
			Target:  ev.Target,
			Detail:  string(detail),
		}
		if last != nil {
			e.Seq = last.Seq + 1
			e.PrevHash = last.Hash
		}
		e.Hash = Hash(e)
		return e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: append %s: %w", ev.Action, err)
	}
	return e, nil
}

// Hash computes an entry's hash from its fields and PrevHash.
func Hash(e *store.AuditEntry) []byte {
	h := sha256.New()
	h.Write([]byte(HashDomain))
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(strconv.FormatInt(e.Seq, 10)))
	field([]byte(e.Time.UTC().Format(time.RFC3339Nano)))
	actor := ""
	if e.ActorID != nil {
		actor = e.ActorID.String()
	}
	field([]byte(actor))
	field([]byte(e.Action))
	field([]byte(e.Target))
	field([]byte(e.Detail))
	field(e.PrevHash)
	return h.Sum(nil)
}

// ErrBroken is wrapped by a Verification's Err when the chain does not verify.
var ErrBroken = errors.New("audit chain broken")

// Verification is the result of Verify.
type Verification struct {
	Entries   int64 // entries checked
	BrokenSeq int64 // first entry that fails; 0 when the chain verifies
	Reason    string
}

// OK reports whether the whole chain verified.
func (v *Verification) OK() bool { return v.BrokenSeq == 0 }

// Err returns nil for a sound chain, or an error naming the first broken link.
func (v *Verification) Err() error {
	if v.OK() {
		return nil
	}
	return fmt.Errorf("%w at entry %d: %s", ErrBroken, v.BrokenSeq, v.Reason)
}

// Verify walks the whole chain and reports the first entry whose sequence,
// link or hash does not check out. An error is returned only when the store
// cannot be read.
func (l *Log) Verify(ctx context.Context) (*Verification, error) {
	const page = 500
	var (
		v    Verification
		prev []byte
		seq  int64
	)
	for {
		entries, err := l.st.ListAudit(ctx, seq, page)
		if err != nil {
			return nil, fmt.Errorf("audit: verify: %w", err)
		}
		for i := range entries {
			e := &entries[i]
			v.Entries++
			switch {
			case e.Seq != seq+1:
				v.BrokenSeq, v.Reason = seq+1, fmt.Sprintf("entry %d is missing (next is %d)", seq+1, e.Seq)
			case !bytes.Equal(e.PrevHash, prev):
				v.BrokenSeq, v.Reason = e.Seq, "link to the previous entry does not match"
			case !json.Valid([]byte(e.Detail)):
				v.BrokenSeq, v.Reason = e.Seq, "detail is not valid JSON"
			case !bytes.Equal(e.Hash, Hash(e)):
				v.BrokenSeq, v.Reason = e.Seq, "entry content does not match its hash"
			}
			if v.BrokenSeq != 0 {
				return &v, nil
			}
			prev, seq = e.Hash, e.Seq
		}
		if len(entries) < page {
			return &v, nil
		}
	}
}
