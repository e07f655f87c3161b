-- Identity (issue 4): passkeys, WebAuthn challenges, browser sessions, TOTP
-- and invitations. Session and invitation secrets are stored as SHA-256.

-- +goose Up
CREATE TABLE passkeys (
	id            uuid        NOT NULL PRIMARY KEY,
	user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id bytea       NOT NULL UNIQUE CHECK (octet_length(credential_id) BETWEEN 1 AND 1023),
	name          text        NOT NULL,
	credential    bytea       NOT NULL,
	created_at    timestamptz NOT NULL,
	last_used_at  timestamptz
);
CREATE INDEX passkeys_user ON passkeys (user_id, created_at);

CREATE TABLE webauthn_challenges (
	hash       bytea       NOT NULL PRIMARY KEY CHECK (octet_length(hash) = 32),
	kind       text        NOT NULL,
	data       bytea       NOT NULL,
	expires_at timestamptz NOT NULL
);

CREATE TABLE sessions (
	id           uuid        NOT NULL PRIMARY KEY,
	user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash         bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
	restricted   boolean     NOT NULL,
	created_at   timestamptz NOT NULL,
	expires_at   timestamptz NOT NULL,
	last_seen_at timestamptz NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id, created_at);

CREATE TABLE totp (
	user_id      uuid        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	secret       text        NOT NULL CHECK (secret <> ''),
	confirmed_at timestamptz,
	last_step    bigint      NOT NULL
);

CREATE TABLE invitations (
	id         uuid        NOT NULL PRIMARY KEY,
	hash       bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
	email      text        NOT NULL,
	role       text        NOT NULL CHECK (role IN ('admin', 'user')),
	created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	used_at    timestamptz,
	user_id    uuid        REFERENCES users (id) ON DELETE SET NULL
);

-- +goose Down
DROP TABLE invitations;
DROP TABLE totp;
DROP TABLE sessions;
DROP TABLE webauthn_challenges;
DROP TABLE passkeys;
