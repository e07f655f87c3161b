package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// appendLink appends the entry link builds, checking that next saw wantLast.
func appendLink(t *testing.T, s store.Store, actor *uuid.UUID, action string, tm time.Time, wantLast *store.AuditEntry) *store.AuditEntry {
	t.Helper()
	var saw *store.AuditEntry
	e, err := s.AppendAudit(t.Context(), func(last *store.AuditEntry) (*store.AuditEntry, error) {
		saw = last
		return link(last, actor, action, tm), nil
	})
	if err != nil {
		t.Fatalf("AppendAudit(%s): %v", action, err)
	}
	if diff := cmp.Diff(wantLast, saw, opts); diff != "" {
		t.Fatalf("AppendAudit(%s): next saw the wrong last entry (-want +got):\n%s", action, diff)
	}
	return e
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListAudit(ctx, 0, 10)
	if err != nil {
		t.Fatalf("ListAudit of an empty chain: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("ListAudit of an empty chain = %v", got)
	}

	actor := uuid.New() // need not be a user: audit rows never depend on users
	var entries []store.AuditEntry
	var last *store.AuditEntry
	for i := range 5 {
		var a *uuid.UUID
		if i%2 == 0 {
			a = &actor
		}
		tm := base.Add(time.Duration(i) * time.Minute).Truncate(time.Microsecond)
		e := appendLink(t, s, a, fmt.Sprintf("action.%d", i), tm, last)
		want := link(last, a, fmt.Sprintf("action.%d", i), tm)
		if diff := cmp.Diff(want, e, opts); diff != "" {
			t.Fatalf("AppendAudit returned (-want +got):\n%s", diff)
		}
		checkStored(t, "returned Time", e.Time)
		entries = append(entries, *e)
		last = e
	}

	tests := []struct {
		name  string
		after int64
		limit int
		want  []store.AuditEntry
	}{
		{"all", 0, 10, entries},
		{"exact limit", 0, 5, entries},
		{"first page", 0, 2, entries[:2]},
		{"middle page", 2, 2, entries[2:4]},
		{"last page", 4, 2, entries[4:]},
		{"past the end", 5, 10, nil},
		{"negative after", -1, 10, entries},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("List/%s", tt.name), func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("ListAudit(%d, %d): %v", tt.after, tt.limit, err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("ListAudit(%d, %d) (-want +got):\n%s", tt.after, tt.limit, diff)
			}
			for _, e := range got {
				checkStored(t, "listed Time", e.Time)
			}
		})
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.ListAudit(ctx, 0, limit); err == nil {
			t.Errorf("ListAudit(0, %d) succeeded, want an error", limit)
		}
	}
	checkChain(t, listAllAudit(t, s))
}

func testAuditRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	tm := norm(base)
	errNext := errors.New("next failed")

	tests := []struct {
		name string
		next func(last *store.AuditEntry) (*store.AuditEntry, error)
		want error // errOther: refused by the store
	}{
		{"next fails", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			return nil, errNext
		}, errNext},
		{"next fails after building an entry", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			return link(last, nil, "x", tm), errNext
		}, errNext},
		{"no entry", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			return nil, nil
		}, errOther},
		{"seq skips one", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(last, nil, "x", tm)
			e.Seq++
			return e, nil
		}, errOther},
		{"seq repeats the last", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(last, nil, "x", tm)
			e.Seq = -1
			if last != nil {
				e.Seq = last.Seq
			}
			return e, nil
		}, errOther},
		{"prev hash does not match", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(last, nil, "x", tm)
			e.PrevHash = []byte("not the last hash")
			return e, nil
		}, errOther},
		{"no time", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(last, nil, "x", tm)
			e.Time = time.Time{}
			return e, nil
		}, errOther},
		{"time finer than a microsecond", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			return link(last, nil, "x", tm.Add(time.Nanosecond)), nil
		}, errOther},
		{"no hash", func(last *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(last, nil, "x", tm)
			e.Hash = nil
			return e, nil
		}, errOther},
	}

	var last *store.AuditEntry
	var chain []store.AuditEntry
	// Each refusal runs twice: on an empty chain and after a good entry.
	for round := range 2 {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", tt.name, round), func(t *testing.T) {
				var saw *store.AuditEntry
				e, err := s.AppendAudit(ctx, func(l *store.AuditEntry) (*store.AuditEntry, error) {
					saw = l
					return tt.next(l)
				})
				checkErr(t, "AppendAudit", err, tt.want)
				if e != nil {
					t.Errorf("refused AppendAudit returned an entry: %+v", e)
				}
				if diff := cmp.Diff(last, saw, opts); diff != "" {
					t.Errorf("next saw the wrong last entry (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(chain, listAllAudit(t, s), opts); diff != "" {
					t.Errorf("refused append left a trace (-want +got):\n%s", diff)
				}
			})
		}
		// A panicking next leaves nothing behind and the store usable.
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a panic in next did not propagate")
				}
			}()
			s.AppendAudit(ctx, func(*store.AuditEntry) (*store.AuditEntry, error) { panic("next panics") })
		}()
		if diff := cmp.Diff(chain, listAllAudit(t, s), opts); diff != "" {
			t.Errorf("panicking next left a trace (-want +got):\n%s", diff)
		}

		// Seq 0 is accepted and set by the store.
		e, err := s.AppendAudit(ctx, func(l *store.AuditEntry) (*store.AuditEntry, error) {
			e := link(l, nil, fmt.Sprintf("good.%d", round), tm)
			e.Seq = 0
			return e, nil
		})
		if err != nil {
			t.Fatalf("AppendAudit after refusals: %v", err)
		}
		if want := int64(len(chain) + 1); e.Seq != want {
			t.Fatalf("AppendAudit after refusals gave seq %d, want %d", e.Seq, want)
		}
		last = e
		chain = append(chain, *e)
	}
	checkChain(t, listAllAudit(t, s))
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	appendConcurrently(t, []store.Store{s}, 50)
}

// appendConcurrently appends n entries from n goroutines spread over the
// given handles, while readers list the chain, and checks the chain is
// 1..n with no gaps and no forks, each next having seen the true last entry.
func appendConcurrently(t *testing.T, handles []store.Store, n int) {
	ctx := t.Context()
	type result struct {
		e    *store.AuditEntry
		saw  *store.AuditEntry // the last entry next saw on its final call
		err  error
		from int
	}
	results := make([]result, n)
	done := make(chan struct{})
	var readers sync.WaitGroup
	readErrs := make(chan error, 2*len(handles))
	for i, h := range handles {
		for range 2 {
			readers.Go(func() {
				for {
					select {
					case <-done:
						return
					default:
					}
					es, err := h.ListAudit(ctx, 0, n+1)
					if err != nil {
						readErrs <- fmt.Errorf("reader on handle %d: ListAudit: %w", i, err)
						return
					}
					for j, e := range es {
						if e.Seq != int64(j+1) || (j > 0 && string(e.PrevHash) != string(es[j-1].Hash)) {
							readErrs <- fmt.Errorf("reader on handle %d saw a broken chain at %d of %d", i, j+1, len(es))
							return
						}
					}
				}
			})
		}
	}

	var writers sync.WaitGroup
	for i := range n {
		writers.Go(func() {
			h := handles[i%len(handles)]
			var saw *store.AuditEntry
			e, err := h.AppendAudit(ctx, func(last *store.AuditEntry) (*store.AuditEntry, error) {
				saw = last
				return link(last, nil, fmt.Sprintf("writer.%d", i), norm(base.Add(time.Duration(i)*time.Second))), nil
			})
			results[i] = result{e: e, saw: saw, err: err, from: i % len(handles)}
		})
	}
	writers.Wait()
	close(done)
	readers.Wait()
	close(readErrs)
	for err := range readErrs {
		t.Error(err)
	}

	bySeq := make(map[int64]result)
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("writer %d: AppendAudit: %v", i, r.err)
		}
		if prev, dup := bySeq[r.e.Seq]; dup {
			t.Fatalf("writers %s and %s both got seq %d: the chain forked", prev.e.Action, r.e.Action, r.e.Seq)
		}
		bySeq[r.e.Seq] = r
	}
	chain := listAllAudit(t, handles[0])
	if len(chain) != n {
		t.Fatalf("chain has %d entries, want %d", len(chain), n)
	}
	checkChain(t, chain)
	for i, e := range chain {
		r, ok := bySeq[e.Seq]
		if !ok {
			t.Fatalf("entry %d was returned to no writer", e.Seq)
		}
		if diff := cmp.Diff(r.e, &chain[i], opts); diff != "" {
			t.Errorf("entry %d as stored differs from what AppendAudit returned (-returned +stored):\n%s", e.Seq, diff)
		}
		var wantSaw *store.AuditEntry
		if i > 0 {
			wantSaw = &chain[i-1]
		}
		if diff := cmp.Diff(wantSaw, r.saw, opts); diff != "" {
			t.Errorf("entry %d: next did not see the true last entry (-want +got):\n%s", e.Seq, diff)
		}
	}
}
