// Package sqlite implements store.Store on one SQLite file, through the pure-Go
// driver modernc.org/sqlite (no cgo). It is silo's default store.
//
// The file runs in WAL mode with foreign keys on and a busy timeout; every
// pooled connection gets these from the DSN. Writes go through a single
// connection whose transactions begin IMMEDIATE, so writers in this process
// queue instead of failing with SQLITE_BUSY, and a second process on the same
// file waits for the write lock (up to the busy timeout) rather than failing
// on a lock upgrade. Reads use a separate pool of read-only connections, which
// WAL lets run alongside the writer. synchronous is NORMAL, WAL's usual
// setting: a power cut may lose the last commits but never corrupts the file.
//
// Schema: IDs are canonical UUID text, times INTEGER microseconds since the
// Unix epoch in UTC, booleans 0 or 1. Migrations are embedded SQL files run by
// goose at Open.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/silo-ai/silo/internal/store"
)

// busyTimeout is how long a connection waits for another process's lock.
const busyTimeout = 10 * time.Second

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store on one SQLite file. It is safe for concurrent use.
type Store struct {
	w *sql.DB // one connection: every write goes through it
	r *sql.DB // read-only connections

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date. The directory must exist.
func Open(ctx context.Context, path string) (*Store, error) {
	switch {
	case path == "":
		return nil, errors.New("sqlite store: open: empty path")
	case strings.ContainsRune(path, '?'), strings.HasPrefix(path, "file:"), strings.HasPrefix(path, ":memory:"):
		return nil, fmt.Errorf("sqlite store: open %q: want a plain file path", path)
	}
	base := path + "?_pragma=" + fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()) +
		"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
		// Deleted content is overwritten with zeros, so a sealed blob that a
		// rewrap replaced does not linger in free pages of the file.
		"&_pragma=secure_delete(1)"

	w, err := sql.Open("sqlite", base+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open %q: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	if err := s.init(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %q: %w", path, err)
	}

	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %q: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite store: open %q: %w", path, err)
	}
	s.r = r
	return s, nil
}

// init checks the writer's settings and runs the migrations.
func (s *Store) init(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not wal", mode)
	}
	var fk bool
	if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("read foreign_keys: %w", err)
	}
	if !fk {
		return errors.New("foreign keys are off")
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Provider.Close would close s.w, so the provider is simply dropped.
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return nil
}

// Close closes the database. A second Close does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errR error
		if s.r != nil {
			errR = s.r.Close()
		}
		s.closeErr = errors.Join(errR, s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite store: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// classify maps constraint violations to the store's sentinel errors.
func classify(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return store.ErrConflict
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return store.ErrNotFound
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// execOne runs one write statement and reports store.ErrNotFound when it
// matched no row.
func (s *Store) execOne(ctx context.Context, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, query, args...)
	if err != nil {
		return classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// norm is a time as stored: UTC, microsecond precision.
func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }
