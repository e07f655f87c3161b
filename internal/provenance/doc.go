// Package provenance makes and checks model certificates: an in-toto
// Statement v1 whose predicate is SLSA Provenance v1, in a DSSE envelope
// signed with Ed25519 keys (raw or OpenSSH), and a trust policy that
// decides whether a model may be loaded. It has no HTTP and no database.
//
// # Certificate
//
// A certificate is a DSSE v1 JSON envelope
//
//	{"payloadType": "application/vnd.in-toto+json",
//	 "payload": base64(statement),
//	 "signatures": [{"keyid": hex(SHA-256(raw Ed25519 public key)), "sig": base64(Ed25519(PAE))}, ...]}
//
// where PAE = "DSSEv1" SP len(payloadType) SP payloadType SP len(payload)
// SP payload. Several keys may sign one envelope. The statement is
//
//	{"_type": "https://in-toto.io/Statement/v1",
//	 "subject": [{"name": "<weight file>", "digest": {"sha256": "<hex>"}}, ...],
//	 "predicateType": "https://slsa.dev/provenance/v1",
//	 "predicate": {
//	   "buildDefinition": {
//	     "buildType": "https://silo.dev/model-training/v1",
//	     "externalParameters": {"config": {<training configuration>}},
//	     "resolvedDependencies": [datasets, base model, training code]},
//	   "runDetails": {
//	     "builder": {"id": "<builder>", "version": {<environment measurements>}},
//	     "metadata": {"invocationId": ..., "startedOn": ..., "finishedOn": ...}}}}
//
// Datasets are named by URI and digest: a file by "sha256", a directory by
// "dirHash1" (see DirDigest: the Go module dirhash "h1" of its regular
// files, in hex, as the in-toto DigestSet spec defines), training code by
// its git URI and "gitCommit".
//
// # Policy
//
// A Policy (JSON, see Policy) names trusted keys and, per model-name glob,
// a threshold k of the n keys a rule lists, required predicate fields, and
// whether log inclusion (with how many witness cosignatures) is required.
// Evaluate counts each trusted key once however many signatures it made,
// ignores untrusted keys, parses the statement only after the signature
// threshold is met, and requires every file to be loaded to be a subject
// (matched by sha256). In mode "enforce" a failing model is refused, in
// "warn" it is allowed with the reason reported, "off" skips evaluation.
// Evaluate fails closed: without a valid policy nothing is allowed.
//
// # OpenSSF Model Signing
//
// A certificate may also be an OpenSSF Model Signing (sigstore
// model-transparency) Sigstore bundle signed with keys: ECDSA P-256 (a PEM
// "PUBLIC KEY" in the policy) or Ed25519. Evaluate verifies it like an
// envelope (trusted signers toward k of n) and matches the files against
// the predicate's sha256 resources; see ParseSigstoreBundle and
// ParseModelSignature for the format. Fulcio-certificate bundles are
// refused and Rekor entries are not checked.
package provenance
