-- silo's initial SQLite schema. IDs are canonical UUID text, times are
-- INTEGER microseconds since the Unix epoch (UTC), booleans 0 or 1.

-- +goose Up
CREATE TABLE users (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
	email      TEXT    NOT NULL DEFAULT '',
	role       TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
	created_at INTEGER NOT NULL,
	disabled   INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
) STRICT;

CREATE TABLE api_keys (
	id           TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT    NOT NULL,
	prefix       TEXT    NOT NULL,
	hash         BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER,
	revoked_at   INTEGER
) STRICT;
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- No foreign keys: usage outlives a deleted user or key, for accounting.
-- RecordUsage checks both exist when the row is written.
CREATE TABLE usage_records (
	id                TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 36),
	user_id           TEXT    NOT NULL,
	key_id            TEXT,
	model             TEXT    NOT NULL,
	prompt_tokens     INTEGER NOT NULL CHECK (prompt_tokens >= 0),
	completion_tokens INTEGER NOT NULL CHECK (completion_tokens >= 0),
	created_at        INTEGER NOT NULL
) STRICT;
CREATE INDEX usage_records_user_time ON usage_records (user_id, created_at);
CREATE INDEX usage_records_time ON usage_records (created_at);

CREATE TABLE limits (
	user_id             TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	tokens_per_day      INTEGER NOT NULL CHECK (tokens_per_day >= 0),
	requests_per_minute INTEGER NOT NULL CHECK (requests_per_minute >= 0),
	updated_at          INTEGER NOT NULL
) STRICT;

-- No foreign key on actor_id: the audit chain is never rewritten, not even
-- when its actor is deleted.
CREATE TABLE audit_log (
	seq       INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 1),
	logged_at INTEGER NOT NULL,
	actor_id  TEXT,
	action    TEXT    NOT NULL,
	target    TEXT    NOT NULL,
	detail    TEXT    NOT NULL,
	prev_hash BLOB    NOT NULL,
	hash      BLOB    NOT NULL
) STRICT;

CREATE TABLE settings (
	key   TEXT NOT NULL PRIMARY KEY,
	value BLOB NOT NULL
) STRICT;

-- +goose Down
DROP TABLE settings;
DROP TABLE audit_log;
DROP TABLE limits;
DROP TABLE usage_records;
DROP TABLE api_keys;
DROP TABLE users;
