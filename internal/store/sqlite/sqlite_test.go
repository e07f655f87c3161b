package sqlite_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/silo-ai/silo/internal/store"
	"github.com/silo-ai/silo/internal/store/sqlite"
	"github.com/silo-ai/silo/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
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
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "silo.db"))
	})
}

// TestReplicas opens the file twice, as two processes would.
func TestReplicas(t *testing.T) {
	storetest.RunReplicas(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "silo.db")
		return open(t, path), open(t, path)
	})
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silo.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u := &store.User{Name: "alice", Role: store.RoleAdmin}
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Migrations are idempotent and data survives.
	s = open(t, path)
	if _, err := s.GetUser(t.Context(), u.ID); err != nil {
		t.Errorf("GetUser after reopening: %v", err)
	}
}

// TestPragmas checks the file's settings as another connection sees them.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silo.db")
	open(t, path)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenRefusesNonFiles(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(dir, "x.db?mode=ro"), filepath.Join(dir, "missing", "x.db")} {
		if s, err := sqlite.Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestSecureDelete: a deleted value does not linger in the file once the
// WAL is checkpointed (rewrap relies on this for replaced sealed blobs).
func TestSecureDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "silo.db")
	st := open(t, path)
	secret := []byte("DISTINCTIVE-" + strings.Repeat("Q", 200))
	if err := st.SetSetting(t.Context(), "k", secret); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteSetting(t.Context(), "k"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, secret[:40]) {
			t.Errorf("%s still holds the deleted value", filepath.Base(f))
		}
	}
}
