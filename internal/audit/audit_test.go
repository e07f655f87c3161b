package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "modernc.org/sqlite"

	"github.com/silo-ai/silo/internal/audit"
	"github.com/silo-ai/silo/internal/store/sqlite"
)

// TestVerifyNamesTheEditedEntry appends a chain, edits rows straight in
// the database as an attacker with the file would, and checks that Verify
// names the first broken entry each time.
func TestVerifyNamesTheEditedEntry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    string
		broken int64
		reason string
	}{
		{"edited action", `UPDATE audit_log SET action = 'nothing.happened' WHERE seq = 3`, 3, "does not match its hash"},
		{"edited detail", `UPDATE audit_log SET detail = '{"name":"mallory"}' WHERE seq = 2`, 2, "does not match its hash"},
		{"deleted entry", `DELETE FROM audit_log WHERE seq = 4`, 4, "missing"},
		{"rehashed entry", `UPDATE audit_log SET hash = zeroblob(32) WHERE seq = 5`, 5, "does not match its hash"},
		{"deleted first entry", `DELETE FROM audit_log WHERE seq = 1`, 1, "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "silo.db")
			st, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			log := audit.New(st)
			actor := uuid.New()
			for i, action := range []string{"bootstrap", "user.create", "key.create", "limits.set", "key.revoke", "user.delete"} {
				if _, err := log.Append(ctx, audit.Event{Actor: &actor, Action: action, Target: "user:x",
					Detail: map[string]any{"n": i, "name": "alice"}}); err != nil {
					t.Fatal(err)
				}
			}
			v, err := log.Verify(ctx)
			if err != nil || !v.OK() || v.Entries != 6 || v.Err() != nil {
				t.Fatalf("fresh chain: %+v, %v", v, err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.sql); err != nil {
				t.Fatal(err)
			}
			db.Close()
			v, err = log.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if v.OK() || v.BrokenSeq != tc.broken || !strings.Contains(v.Reason, tc.reason) || !errors.Is(v.Err(), audit.ErrBroken) {
				t.Errorf("after %s: %+v, want entry %d broken (%s)", tc.name, v, tc.broken, tc.reason)
			}
		})
	}
}

func TestHashCoversEveryField(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err := audit.New(st).Append(ctx, audit.Event{Action: "a", Target: "t", Detail: map[string]any{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	base := string(audit.Hash(e))
	actor := uuid.New()
	for name, mutate := range map[string]func(){
		"seq":    func() { e.Seq++ },
		"time":   func() { e.Time = e.Time.Add(1000) },
		"actor":  func() { e.ActorID = &actor },
		"action": func() { e.Action += "x" },
		"target": func() { e.Target += "x" },
		"detail": func() { e.Detail = `{"k":"w"}` },
		"prev":   func() { e.PrevHash = []byte{1} },
	} {
		saved := *e
		mutate()
		if string(audit.Hash(e)) == base {
			t.Errorf("changing %s does not change the hash", name)
		}
		*e = saved
	}
}
