// Package tlog is silo's transparency log: an append-only RFC 6962 Merkle
// log of records (certificate envelopes, release digests) with signed
// checkpoints, inclusion and consistency proofs, tiles for clients, a client
// that remembers what it saw, and a witness. The Merkle math is
// golang.org/x/mod/sumdb/tlog and signatures are golang.org/x/mod/sumdb/note
// signed notes; this package adds storage, the C2SP wire formats and the
// client and witness policies. It has no HTTP code: Log.ReadTile answers
// tlog-tiles paths so a server can mount it under /log/.
//
// # Promises
//
//   - A Log never signs a checkpoint inconsistent with one it signed before:
//     records, hashes and the tree size become durable before a checkpoint
//     is signed, and Open refuses storage that does not extend the last
//     stored checkpoint (ErrInconsistent).
//   - A Verifier never accepts a checkpoint inconsistent with the last one it
//     accepted (a truncated, rewritten or forked log is ErrInconsistent) and
//     never moves its state backwards.
//   - A Witness cosigns a checkpoint only if it is consistent with the last
//     one it cosigned for the same origin, and records it before answering.
//
// # Wire formats
//
// Checkpoints are C2SP tlog-checkpoint signed notes (c2sp.org/tlog-checkpoint):
//
//	<origin>
//	<tree size, decimal>
//	<base64 root hash>
//
//	— <origin> base64(key hash || Ed25519 signature)
//
// The log's key is a signed-note Ed25519 key (algorithm 0x01) named after the
// origin. Witness cosignatures are C2SP tlog-cosignature v1 Ed25519 lines
// (key ID SHA-256(name || "\n" || 0x04 || public key)[:4], signature
// uint64 timestamp || Ed25519 over "cosignature/v1\ntime <t>\n" || body).
//
// Tiles follow C2SP tlog-tiles with height 8: "tile/<L>/<N>[.p/<W>]" hold
// 32-byte hashes, "tile/entries/<N>[.p/<W>]" hold records, each prefixed by
// its big-endian uint16 length (so records are at most MaxRecordSize bytes).
// Witness requests follow C2SP tlog-witness add-checkpoint (Witness.AddCheckpoint).
//
// # File storage
//
// FileStorage keeps a log in one directory:
//
//	records     record bytes, concatenated
//	index       per record, the big-endian uint64 end offset of its bytes in records
//	hashes      32-byte hashes by storage index (sumdb/tlog.StoredHashIndex)
//	checkpoints signed checkpoints, newest last, each framed as uint32 length ||
//	            note || SHA-256(note)[:8]; compacted to the last one past 1 MiB
//
// An append writes and syncs records, then hashes, then the index: the index
// is the commit point. On open the size is the largest n such that the
// index has n entries, records holds the bytes they point to, hashes holds
// StoredHashCount(n) hashes, and record n-1 hashes to its stored leaf hash;
// anything after that (a torn write) is truncated. Records and hashes are
// synced (concurrently) before the index, the index before the checkpoint is
// signed and appended (and synced) to checkpoints, and only then does Append
// return. A torn checkpoint frame is dropped on open.
//
// # Errors
//
// ErrNotFound (a tile, record or size beyond the log: HTTP 404), ErrMalformed
// (400), ErrBadSignature (403), ErrUnknownLog (404), *ConflictError (409),
// ErrInconsistent (the log misbehaved; a witness answers 422 or 409),
// ErrRecordTooLarge (413), ErrBroken (500: reopen the log).
package tlog
