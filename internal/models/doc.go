// Package models is silo's model store: the GGUF files of a models
// directory, served by the built-in engine under their file names
// (NAME.gguf is model NAME), with their certificates beside them
// (NAME.gguf.dsse.json, a DSSE envelope; see internal/provenance).
//
// It provides Import (copy a local file in), Pull (download over HTTP, or
// hf://org/repo/file.gguf from Hugging Face), List, Show and Remove, a
// digest cache so each file is hashed once, and a Checker that evaluates a
// model against a trust policy.
//
// # Promises
//
//   - A model file appears under its final name only complete: Import and
//     Pull write to a hidden temporary file in the models directory (a name
//     starting with ".", which the built-in engine never serves), sync it and
//     rename it into place. A file that does not parse as GGUF, or whose
//     SHA-256 differs from the expected digest, never appears.
//   - Pull resumes an interrupted download with an HTTP Range request, only
//     if the server confirms (If-Range on the validator it sent first) that
//     the remote file is unchanged; otherwise it starts over. The digest covers
//     every byte of the final file, whatever the number of attempts.
//   - The digest cache (digests.json in the data directory) answers only for a
//     file whose path, size, modification time, inode and (on Linux) change
//     time are all unchanged since it was hashed; anything else is hashed
//     again. ctime cannot be set by a user, so rewriting a file in place and
//     restoring its mtime still invalidates the entry; and a file changed
//     less than two seconds ago is never cached, since a rewrite within one
//     tick of the file system's coarse clock would keep its timestamps.
//   - Checker fails closed: with a policy configured, a model whose
//     certificate is missing, malformed or insufficiently signed, or whose
//     file cannot be hashed, is refused in mode enforce. Without a policy the
//     Checker reports every model as unverified and allows it (see Checker).
package models
