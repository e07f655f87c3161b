package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/postgres"
	"github.com/silo-ai/silo/internal/store/storetest"
)

// serverDSN is the server the tests use, from SILO_TEST_POSTGRES. Its role
// needs CREATEDB: each test gets a database of its own.
func serverDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("SILO_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("SILO_TEST_POSTGRES is not set, and CI must not skip the PostgreSQL store tests; start a server with: eval \"$(scripts/pg-test.sh)\"")
		}
		t.Skip("SILO_TEST_POSTGRES is not set; to run these tests, start a throwaway server with: eval \"$(scripts/pg-test.sh)\"")
	}
	return dsn
}

// freshDatabase creates an empty database for this test, dropped when it
// ends, and returns a DSN naming it.
func freshDatabase(t *testing.T) string {
	t.Helper()
	dsn := serverDSN(t)
	var b [8]byte
	rand.Read(b[:])
	name := "silo_test_" + hex.EncodeToString(b[:])

	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if err := admin(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("SILO_TEST_POSTGRES: %v", err)
		}
		u.Path = "/" + name
		return u.String()
	}
	return dsn + " dbname=" + name // keyword/value form: the last value wins
}

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	serverDSN(t) // skip or fail once, not in every subtest
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshDatabase(t))
	})
}

// TestReplicas opens two stores on one database at the same moment, as two
// replicas starting together would: migrations run once, under goose's lock.
func TestReplicas(t *testing.T) {
	serverDSN(t)
	storetest.RunReplicas(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := freshDatabase(t)
		var (
			wg   sync.WaitGroup
			s    [2]*postgres.Store
			errs [2]error
		)
		for i := range s {
			wg.Go(func() { s[i], errs[i] = postgres.Open(t.Context(), dsn) })
		}
		wg.Wait()
		for i := range s {
			if errs[i] != nil {
				t.Fatalf("Open %d: %v", i, errs[i])
			}
			t.Cleanup(func() { s[i].Close() })
		}
		return s[0], s[1]
	})
}

func TestReopen(t *testing.T) {
	dsn := freshDatabase(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u := &store.User{Name: "alice", Role: store.RoleAdmin}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Migrations are idempotent and data survives.
	s = open(t, dsn)
	if _, err := s.GetUser(t.Context(), u.ID); err != nil {
		t.Errorf("GetUser after reopening: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dsn := serverDSN(t)
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		t.Skip("SILO_TEST_POSTGRES is not a URL with a user")
	}
	u.User = url.UserPassword(u.User.Username(), "wrong-password-1234")
	bad := []struct{ name, dsn string }{
		{"unparsable", "postgres://%zz"},
		{"wrong password", u.String()},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "wrong-password-1234") {
				t.Errorf("Open error reveals the password: %v", err)
			}
		})
	}
}
