package tlog

import (
	"errors"
	"fmt"
)

// Errors returned (wrapped) by this package. Test with errors.Is.
var (
	// ErrNotFound: a record, hash, tile or tree size beyond the log.
	ErrNotFound = errors.New("not found")
	// ErrMalformed: bytes that do not parse as the expected format.
	ErrMalformed = errors.New("malformed")
	// ErrBadSignature: a note without a valid signature by a required key,
	// or without the required number of cosignatures.
	ErrBadSignature = errors.New("bad signature")
	// ErrInconsistent: two checkpoints of one log that cannot both be
	// honest (a smaller tree that is not a prefix, a shrinking tree, or
	// equal sizes with different hashes), or a failed proof.
	ErrInconsistent = errors.New("inconsistent log")
	// ErrRecordTooLarge: a record longer than MaxRecordSize.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrBroken: an earlier write failed; the log must be reopened.
	ErrBroken = errors.New("log failed earlier and must be reopened")
)

// ConflictError is returned by Witness.Cosign when the caller's idea of the
// witness's latest size (the "old" size) is wrong. C2SP tlog-witness answers
// it with 409 Conflict and the witness's size in the body.
type ConflictError struct {
	Origin string
	Size   int64 // the size the witness last cosigned for Origin
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("tlog: witness: %s: old size mismatch, witness is at %d", e.Origin, e.Size)
}
