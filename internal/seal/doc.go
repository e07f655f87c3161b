// Package seal encrypts silo's chat content so that the server can write it
// but never read it back, and seals request and response bodies end to end
// between client and server. It holds no HTTP and no database code.
//
// # Sealing at rest
//
// Stored messages are age files (https://age-encryption.org/v1) encrypted
// with [Seal] or [SealTo] to hybrid post-quantum recipients (ML-KEM-768 +
// X25519, "age1pq1..." public keys). A [Recipient] can only be a hybrid key:
// classic X25519, SSH, scrypt and plugin recipients are refused when parsed,
// so no file mixes post-quantum and classic recipients. An [Identity] is the
// private half. It is made on a client ([GenerateIdentity]) and written in
// the same file format as age-keygen ([Identity.MarshalFile],
// [WriteIdentityFile]), so the stock age tool opens exports with it:
//
//	age -d -i admin.key message.age
//
// The server holds recipients only. [Open] and [OpenFrom] report
// [ErrNoIdentity] when none of the given identities is a recipient (age
// cannot tell a tampered recipient stanza from one for another key, so that
// too is ErrNoIdentity), and [ErrCorrupt] when the data is otherwise
// malformed, truncated or tampered with. A [Recipient]'s
// [Recipient.Fingerprint] names it in lists of devices.
//
// # Who can open a sealed blob
//
// age hides its recipients: a stanza does not name the key it was wrapped to,
// so nobody, not even a holder of one private key, can list the recipients of
// a blob or check that it is readable by exactly a given set. This package
// therefore offers no such check. Whoever seals must record the set it sealed
// to: [Fingerprints] gives the sorted, deduplicated fingerprints of the
// recipients passed to [Seal], and the store keeps them beside the blob. The
// rewrap tool (run by the admin, who alone can open old data) must:
//
//  1. select blobs whose recorded fingerprint set contains a revoked key, or
//     differs from the current live set;
//  2. open each with the admin identity, seal the plaintext to the current
//     live recipients and record their fingerprints;
//  3. check the new blob opens with the admin identity (the only private key
//     at hand), store it as a new version, and only then drop the old
//     version, so a crash never leaves a message that no live key opens.
//
// The recorded set is a claim by the writer, not something the ciphertext
// proves; it is as trustworthy as the server that wrote it.
//
// # Sealing in transit
//
// Request and response bodies are sealed with RFC 9180 HPKE in base mode,
// with the ciphersuite
//
//	KEM  MLKEM768-X25519 (0x647a)
//	KDF  HKDF-SHA256     (0x0001)
//	AEAD AES-256-GCM     (0x0002)
//
// AES-256-GCM is chosen over ChaCha20Poly1305 because it is hardware
// accelerated on the servers silo runs on and is the AEAD browsers offer in
// WebCrypto, which a browser HPKE implementation builds on.
//
// The server holds a long-lived transport key, a [ServerKey], kept in a
// 0600 PEM file in its data dir ([LoadOrCreateServerKey]). It is the only
// private key a server has; it opens requests in transit and nothing stored
// (it is not an age identity, and age cannot even parse its file). Its public key
// ([ServerKey.PublicKey], 1216 bytes) is published with its fingerprint
// ([ServerKey.Fingerprint]).
//
// A sealed request, made by [SealRequest] and opened by
// [ServerKey.OpenRequest], is
//
//	sealed_request = version || enc || ct
//	version        = 0x01 (one byte)
//	enc            = HPKE encapsulated key (1120 bytes)
//	ct             = HPKE Seal(aad, plaintext), info = RequestInfo
//	aad            = version || u16(len(method)) || method || u16(len(path)) || path
//
// where u16 is a big-endian 16-bit length, method is the HTTP method and path
// the request path without query, so a body sealed for one endpoint does not
// open at another. The plaintext is a JSON object:
//
//	{"id":"<request id>","ts":<unix ms>,"key":"<response key>","body":<JSON>}
//
// id is 16 random bytes in unpadded base64url (22 characters), ts the time
// of sealing in Unix milliseconds, key the client's fresh response public key
// (MLKEM768-X25519, 1216 bytes, standard base64 with padding), and body the
// request's JSON body, verbatim. Unknown fields are refused. The server passes
// id and ts to a [ReplayGuard], which refuses a request outside its time
// window ([ErrStale]) or one it has seen ([ErrReplay]).
//
// The response, written by [Request.SealResponse] and read by
// [ResponseKey.OpenResponse], is sealed to the key from the request with a
// single HPKE context:
//
//	sealed_response = version || enc || frame* final_frame
//	version         = 0x01
//	enc             = HPKE encapsulated key (1120 bytes)
//	info            = ResponseInfo || 0x00 || raw request id (16 bytes)
//	frame           = u32(len(ct)) || ct,  ct = HPKE Seal("", 0x00 || data)
//	final_frame     = u32(len(ct)) || ct,  ct = HPKE Seal("", 0x01 || data)
//
// where u32 is big-endian and data is at most [MaxFrameData] bytes. HPKE's
// sequence numbers make reordered, dropped or replayed frames fail to open;
// the flag byte inside the sealed plaintext marks the last frame, so a stream
// that ends without it is reported as truncated ([ErrTruncated]), and bytes
// after it are refused. Binding the request id into info ties a response to
// its request.
//
// In transit, every failure to parse or authenticate sealed data matches
// [ErrCorrupt] with errors.Is, except an unknown version byte
// ([ErrUnsupportedVersion]); no plaintext of an unauthenticated frame is
// ever returned. A reference exchange (keys, sealed request and response,
// and an age file, all made with test keys) is in testdata/vector_v1.json;
// `go test -run TestVector -update` remakes it.
package seal
