package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"

	"github.com/silo-ai/silo/internal/audit"
	"github.com/silo-ai/silo/internal/store"
)

// TestAuditVerifyDetectsEditedRow records admin actions through a running
// server and the CLI, stops it, and runs `silo audit verify --db` on the
// SQLite file: it passes as written, and after one row of audit_log is
// edited straight in the file it fails and names that entry.
func TestAuditVerifyDetectsEditedRow(t *testing.T) {
	t.Parallel()
	f := start(t)
	ctx := context.Background()
	remote := []string{"--server", f.srv.URL, "--api-key", f.key, "--ca", f.srv.CAFile()}
	for _, args := range [][]string{
		{"users", "create", "alice", "--role", "user"},
		{"keys", "create", "alice-laptop", "--user", "alice"},
		{"users", "create", "bob"},
		{"limits", "set", "bob", "--tokens-per-day", "1000"},
	} {
		out, errOut, code, err := f.srv.Run(ctx, append(args, remote...)...)
		if err != nil || code != 0 {
			t.Fatalf("silo %s: exit %d %v\n%s%s", strings.Join(args, " "), code, err, out, errOut)
		}
	}
	f.srv.Stop(t)

	entries := countAudit(t, f.srv.DBFile())
	if entries < 4 {
		t.Fatalf("audit_log has %d entries, want one per admin action (at least 4)", entries)
	}

	verify := func(t *testing.T, db string) (string, int) {
		t.Helper()
		out, errOut, code, err := f.srv.Run(ctx, "audit", "verify", "--db", db)
		if err != nil {
			t.Fatal(err)
		}
		return out + errOut, code
	}
	if out, code := verify(t, f.srv.DBFile()); code != 0 || !strings.Contains(out, fmt.Sprintf("audit chain ok: %d entries", entries)) {
		t.Fatalf("verify of the untouched database: exit %d\n%s", code, out)
	}

	edits := []struct {
		name string
		seq  int64
		sql  string
	}{
		{"target of the first entry", 1, "UPDATE audit_log SET target = 'user:00000000-0000-0000-0000-000000000000' WHERE seq = ?"},
		{"action of a middle entry", 2, "UPDATE audit_log SET action = 'nothing.happened' WHERE seq = ?"},
		{"detail of the last entry", entries, `UPDATE audit_log SET detail = '{"tokens_per_day":1000000}' WHERE seq = ?`},
		{"time of a middle entry", 3, "UPDATE audit_log SET logged_at = logged_at + 1 WHERE seq = ?"},
		{"actor of a middle entry", 2, "UPDATE audit_log SET actor_id = NULL WHERE seq = ?"},
		{"hash of a middle entry", 2, "UPDATE audit_log SET hash = zeroblob(32) WHERE seq = ?"},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			db := copyDB(t, f.srv.DBFile())
			edit(t, db, e.sql, e.seq)
			out, code := verify(t, db)
			if code == 0 {
				t.Fatalf("verify passed after editing entry %d:\n%s", e.seq, out)
			}
			want := fmt.Sprintf("silo: error: audit chain broken at entry %d:", e.seq)
			if !strings.Contains(out, want) {
				t.Fatalf("verify output does not say %q:\n%s", want, out)
			}
		})
	}

	// An editor who also recomputes the edited entry's hash makes that
	// entry self-consistent, and breaks the next entry's link instead.
	t.Run("edited entry rehashed", func(t *testing.T) {
		db := copyDB(t, f.srv.DBFile())
		rehashTarget(t, db, 2, "user:00000000-0000-0000-0000-000000000000")
		out, code := verify(t, db)
		want := "silo: error: audit chain broken at entry 3:"
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("verify: exit %d, want output saying %q:\n%s", code, want, out)
		}
	})
}

// rehashTarget sets entry seq's target and recomputes its hash with silo's
// own hash function, as an editor who knows the format would.
func rehashTarget(t *testing.T, path string, seq int64, target string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var (
		e      store.AuditEntry
		micros int64
		actor  sql.NullString
	)
	err = db.QueryRow("SELECT seq, logged_at, actor_id, action, target, detail, prev_hash FROM audit_log WHERE seq = ?", seq).
		Scan(&e.Seq, &micros, &actor, &e.Action, &e.Target, &e.Detail, &e.PrevHash)
	if err != nil {
		t.Fatal(err)
	}
	e.Time = time.UnixMicro(micros).UTC()
	if actor.Valid {
		id, err := uuid.Parse(actor.String)
		if err != nil {
			t.Fatal(err)
		}
		e.ActorID = &id
	}
	if !bytes.Equal(audit.Hash(&e), mustHash(t, db, seq)) {
		t.Fatal("cannot reproduce the stored hash of the entry before editing it")
	}
	e.Target = target
	if _, err := db.Exec("UPDATE audit_log SET target = ?, hash = ? WHERE seq = ?", e.Target, audit.Hash(&e), seq); err != nil {
		t.Fatal(err)
	}
}

func mustHash(t *testing.T, db *sql.DB, seq int64) []byte {
	t.Helper()
	var h []byte
	if err := db.QueryRow("SELECT hash FROM audit_log WHERE seq = ?", seq).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func countAudit(t *testing.T, path string) int64 {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM audit_log").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// copyDB copies a closed SQLite database (and its WAL, if any) to a new
// file, so each edit starts from the same chain.
func copyDB(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "silo.db")
	for _, suffix := range []string{"", "-wal"} {
		in, err := os.Open(src + suffix)
		if os.IsNotExist(err) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(dst + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// edit changes one row of audit_log straight in the file.
func edit(t *testing.T, path, query string, seq int64) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(query, seq)
	if err != nil {
		t.Fatalf("edit: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("edit changed %d rows, want 1", n)
	}
}
