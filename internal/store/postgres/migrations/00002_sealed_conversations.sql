-- Sealed conversations (issue 4): public sealing keys, conversations and
-- their messages, each an age file sealed to keys whose private halves the
-- server never holds.

-- +goose Up
CREATE TABLE seal_keys (
	id          uuid        NOT NULL PRIMARY KEY,
	kind        text        NOT NULL CHECK (kind IN ('device', 'admin', 'backup')),
	user_id     uuid        REFERENCES users (id) ON DELETE CASCADE,
	name        text        NOT NULL,
	recipient   text        NOT NULL CHECK (left(recipient, 7) = 'age1pq1'),
	fingerprint text        NOT NULL UNIQUE CHECK (fingerprint <> ''),
	created_at  timestamptz NOT NULL,
	revoked_at  timestamptz,
	CHECK ((kind = 'device') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX seal_keys_one_live_admin ON seal_keys (kind) WHERE kind = 'admin' AND revoked_at IS NULL;
CREATE INDEX seal_keys_user ON seal_keys (user_id, created_at);

CREATE TABLE conversations (
	id         uuid        NOT NULL PRIMARY KEY,
	user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at timestamptz NOT NULL
);
CREATE INDEX conversations_user ON conversations (user_id, created_at);

-- recipients: the sorted fingerprints the blob was sealed to.
CREATE TABLE sealed_messages (
	id              uuid        NOT NULL PRIMARY KEY,
	conversation_id uuid        NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	seq             bigint      NOT NULL CHECK (seq >= 1),
	role            text        NOT NULL CHECK (role IN ('user', 'assistant')),
	version         bigint      NOT NULL CHECK (version >= 1),
	sealed          bytea       NOT NULL CHECK (octet_length(sealed) > 0),
	recipients      text[]      NOT NULL CHECK (cardinality(recipients) > 0),
	created_at      timestamptz NOT NULL,
	UNIQUE (conversation_id, seq)
);

-- +goose Down
DROP TABLE sealed_messages;
DROP TABLE conversations;
DROP TABLE seal_keys;
