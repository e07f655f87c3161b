-- Identity (issue 4): passkeys, WebAuthn challenges, browser sessions, TOTP
-- and invitations. Session and invitation secrets are stored as SHA-256.

-- +goose Up
CREATE TABLE passkeys (
	id            TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	user_id       TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id BLOB    NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
	name          TEXT    NOT NULL,
	credential    BLOB    NOT NULL,
	created_at    INTEGER NOT NULL,
	last_used_at  INTEGER
) STRICT;
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

CREATE TABLE webauthn_challenges (
	hash       BLOB    NOT NULL PRIMARY KEY CHECK (length(hash) = 32),
	kind       TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
	id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	restricted   INTEGER NOT NULL CHECK (restricted IN (0, 1)),
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	last_seen_at INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id, created_at);

CREATE TABLE totp (
	user_id      TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       TEXT    NOT NULL CHECK (secret <> ''),
	confirmed_at INTEGER,
	last_step    INTEGER NOT NULL
) STRICT;

CREATE TABLE invitations (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	hash       BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	email      TEXT    NOT NULL,
	role       TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
	created_by TEXT    REFERENCES users (id) ON DELETE SET NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER,
	user_id    TEXT    REFERENCES users (id) ON DELETE SET NULL
) STRICT;

-- +goose Down
DROP TABLE invitations;
DROP TABLE totp;
DROP TABLE sessions;
DROP TABLE webauthn_challenges;
DROP TABLE passkeys;
