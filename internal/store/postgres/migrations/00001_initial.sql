-- silo's initial PostgreSQL schema.

-- +goose Up
CREATE TABLE users (
	id         uuid        NOT NULL PRIMARY KEY,
	name       text        NOT NULL UNIQUE CHECK (name <> ''),
	email      text        NOT NULL DEFAULT '',
	role       text        NOT NULL CHECK (role IN ('admin', 'user')),
	created_at timestamptz NOT NULL,
	disabled   boolean     NOT NULL DEFAULT false
);

CREATE TABLE api_keys (
	id           uuid        NOT NULL PRIMARY KEY,
	user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         text        NOT NULL,
	prefix       text        NOT NULL,
	hash         bytea       NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- No foreign keys: usage outlives a deleted user or key, for accounting.
-- RecordUsage checks both exist when the row is written.
CREATE TABLE usage_records (
	id                uuid        NOT NULL PRIMARY KEY,
	user_id           uuid        NOT NULL,
	key_id            uuid,
	model             text        NOT NULL,
	prompt_tokens     bigint      NOT NULL CHECK (prompt_tokens >= 0),
	completion_tokens bigint      NOT NULL CHECK (completion_tokens >= 0),
	created_at        timestamptz NOT NULL
);
CREATE INDEX usage_records_user_time ON usage_records (user_id, created_at);
CREATE INDEX usage_records_time ON usage_records (created_at);

CREATE TABLE limits (
	user_id             uuid        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	tokens_per_day      bigint      NOT NULL CHECK (tokens_per_day >= 0),
	requests_per_minute bigint      NOT NULL CHECK (requests_per_minute >= 0),
	updated_at          timestamptz NOT NULL
);

-- No foreign key on actor_id: the audit chain is never rewritten, not even
-- when its actor is deleted.
CREATE TABLE audit_log (
	seq       bigint      NOT NULL PRIMARY KEY CHECK (seq >= 1),
	logged_at timestamptz NOT NULL,
	actor_id  uuid,
	action    text        NOT NULL,
	target    text        NOT NULL,
	detail    text        NOT NULL,
	prev_hash bytea       NOT NULL,
	hash      bytea       NOT NULL
);

CREATE TABLE settings (
	key   text  NOT NULL PRIMARY KEY,
	value bytea NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE audit_log;
DROP TABLE limits;
DROP TABLE usage_records;
DROP TABLE api_keys;
DROP TABLE users;
