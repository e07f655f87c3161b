-- Sealed conversations (issue 4): public sealing keys, conversations and
-- their messages, each an age file sealed to keys whose private halves the
-- server never holds.

-- +goose Up
CREATE TABLE seal_keys (
	id          TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	kind        TEXT    NOT NULL CHECK (kind IN ('device', 'admin', 'backup')),
	user_id     TEXT    REFERENCES users (id) ON DELETE CASCADE,
	name        TEXT    NOT NULL,
	recipient   TEXT    NOT NULL CHECK (substr(recipient, 1, 7) = 'age1pq1'),
	fingerprint TEXT    NOT NULL UNIQUE CHECK (fingerprint <> ''),
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER,
	CHECK ((kind = 'device') = (user_id IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX seal_keys_one_live_admin ON seal_keys (kind) WHERE kind = 'admin' AND revoked_at IS NULL;
CREATE INDEX seal_keys_user ON seal_keys (user_id, created_at);

CREATE TABLE conversations (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX conversations_user ON conversations (user_id, created_at);

-- recipients: the sorted fingerprints the blob was sealed to, space-separated.
CREATE TABLE sealed_messages (
	id              TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	conversation_id TEXT    NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	seq             INTEGER NOT NULL CHECK (seq >= 1),
	role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
	version         INTEGER NOT NULL CHECK (version >= 1),
	sealed          BLOB    NOT NULL CHECK (length(sealed) > 0),
	recipients      TEXT    NOT NULL CHECK (recipients <> ''),
	created_at      INTEGER NOT NULL,
	UNIQUE (conversation_id, seq)
) STRICT;

-- +goose Down
DROP TABLE sealed_messages;
DROP TABLE conversations;
DROP TABLE seal_keys;
