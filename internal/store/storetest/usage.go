package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/silo-ai/silo/internal/store"
)

// usageFixture is two users, a key of the first, and four usage rows:
//
//	a, key, m1, 10+5   at base
//	a, -,   m1,  1+2   at base+1h
//	a, key, m2, 100+50 at base+2h
//	b, -,   m1,  7+3   at base+1h
type usageFixture struct {
	a, b *store.User
	key  *store.APIKey
	rows []*store.Usage
}

func newUsageFixture(t *testing.T, s store.Store) *usageFixture {
	t.Helper()
	f := &usageFixture{
		a: mustUser(t, s, "a", store.RoleUser),
		b: mustUser(t, s, "b", store.RoleUser),
	}
	f.key = mustKey(t, s, f.a.ID, "key", base)
	f.rows = []*store.Usage{
		{UserID: f.a.ID, KeyID: &f.key.ID, Model: "m1", PromptTokens: 10, CompletionTokens: 5, CreatedAt: base},
		{UserID: f.a.ID, Model: "m1", PromptTokens: 1, CompletionTokens: 2, CreatedAt: base.Add(time.Hour)},
		{UserID: f.a.ID, KeyID: &f.key.ID, Model: "m2", PromptTokens: 100, CompletionTokens: 50, CreatedAt: base.Add(2 * time.Hour)},
		{UserID: f.b.ID, Model: "m1", PromptTokens: 7, CompletionTokens: 3, CreatedAt: base.Add(time.Hour)},
	}
	for i, u := range f.rows {
		if err := s.RecordUsage(t.Context(), u); err != nil {
			t.Fatalf("RecordUsage %d: %v", i, err)
		}
		if u.ID == uuid.Nil {
			t.Errorf("RecordUsage %d did not assign an ID", i)
		}
		if !u.CreatedAt.Equal(norm(u.CreatedAt)) || u.CreatedAt.Location() != time.UTC {
			t.Errorf("RecordUsage %d wrote back CreatedAt %v, not normalised", i, u.CreatedAt)
		}
	}
	return f
}

func testUsageTotals(t *testing.T, s store.Store) {
	f := newUsageFixture(t, s)
	aM1 := func(req, p, c int64) store.UsageTotal {
		return store.UsageTotal{UserID: f.a.ID, Model: "m1", Requests: req, PromptTokens: p, CompletionTokens: c}
	}
	aM2 := store.UsageTotal{UserID: f.a.ID, Model: "m2", Requests: 1, PromptTokens: 100, CompletionTokens: 50}
	bM1 := store.UsageTotal{UserID: f.b.ID, Model: "m1", Requests: 1, PromptTokens: 7, CompletionTokens: 3}
	// ordered by user ID, then model
	ordered := func(ts ...store.UsageTotal) []store.UsageTotal {
		var out []store.UsageTotal
		for _, u := range sortedByID(f.a, f.b) {
			for _, t := range ts {
				if t.UserID == u.ID {
					out = append(out, t)
				}
			}
		}
		return out
	}
	nobody := uuid.New()

	tests := []struct {
		name   string
		filter store.UsageFilter
		want   []store.UsageTotal
	}{
		{"everything", store.UsageFilter{}, ordered(aM1(2, 11, 7), aM2, bM1)},
		{"user a", store.UsageFilter{UserID: &f.a.ID}, ordered(aM1(2, 11, 7), aM2)},
		{"user b", store.UsageFilter{UserID: &f.b.ID}, ordered(bM1)},
		{"unknown user", store.UsageFilter{UserID: &nobody}, nil},
		{"since is inclusive", store.UsageFilter{Since: base.Add(time.Hour)}, ordered(aM1(1, 1, 2), aM2, bM1)},
		{"since just after", store.UsageFilter{Since: base.Add(time.Hour + time.Microsecond)}, ordered(aM2)},
		{"until is exclusive", store.UsageFilter{Until: base.Add(time.Hour)}, ordered(aM1(1, 10, 5))},
		{"since and until", store.UsageFilter{Since: base.Add(time.Hour), Until: base.Add(2 * time.Hour)}, ordered(aM1(1, 1, 2), bM1)},
		{"user, since and until", store.UsageFilter{UserID: &f.b.ID, Since: base, Until: base.Add(3 * time.Hour)}, ordered(bM1)},
		{"after everything", store.UsageFilter{Since: base.Add(3 * time.Hour)}, nil},
		{"before everything", store.UsageFilter{Until: base.Add(-time.Microsecond)}, nil},
		{"empty window", store.UsageFilter{Since: base.Add(time.Hour), Until: base.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.UsageTotals(t.Context(), tt.filter)
			if err != nil {
				t.Fatalf("UsageTotals: %v", err)
			}
			if diff := cmp.Diff(tt.want, got, opts); diff != "" {
				t.Errorf("UsageTotals (-want +got):\n%s", diff)
			}
		})
	}
}

func testUsageErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := newUsageFixture(t, s)
	missing := uuid.New()
	before, err := s.UsageTotals(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatalf("UsageTotals: %v", err)
	}

	tests := []struct {
		name string
		u    *store.Usage
		want error
	}{
		{"unknown user", &store.Usage{UserID: missing, Model: "m1", PromptTokens: 1}, store.ErrNotFound},
		{"unknown key", &store.Usage{UserID: f.a.ID, KeyID: &missing, Model: "m1", PromptTokens: 1}, store.ErrNotFound},
		{"another user's key", &store.Usage{UserID: f.b.ID, KeyID: &f.key.ID, Model: "m1", PromptTokens: 1}, store.ErrNotFound},
		{"duplicate ID", &store.Usage{ID: f.rows[0].ID, UserID: f.a.ID, Model: "m1", PromptTokens: 1}, store.ErrConflict},
		{"negative prompt tokens", &store.Usage{UserID: f.a.ID, Model: "m1", PromptTokens: -1}, errOther},
		{"negative completion tokens", &store.Usage{UserID: f.a.ID, Model: "m1", CompletionTokens: -1}, errOther},
		{"nil", nil, errOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, "RecordUsage", s.RecordUsage(ctx, tt.u), tt.want)
		})
	}
	after, err := s.UsageTotals(ctx, store.UsageFilter{})
	if err != nil {
		t.Fatalf("UsageTotals: %v", err)
	}
	if diff := cmp.Diff(before, after, opts); diff != "" {
		t.Errorf("failed RecordUsage calls changed the totals (-before +after):\n%s", diff)
	}
}

func testTokensUsed(t *testing.T, s store.Store) {
	f := newUsageFixture(t, s)
	nobody := uuid.New()
	tests := []struct {
		name  string
		user  uuid.UUID
		since time.Time
		want  int64
	}{
		{"a, all time", f.a.ID, time.Time{}, 15 + 3 + 150},
		{"a, since before", f.a.ID, base.Add(-24 * time.Hour), 15 + 3 + 150},
		{"a, since the first row (inclusive)", f.a.ID, base, 15 + 3 + 150},
		{"a, just after the first row", f.a.ID, base.Add(time.Microsecond), 3 + 150},
		{"a, since the second row", f.a.ID, base.Add(time.Hour), 3 + 150},
		{"a, since the last row", f.a.ID, base.Add(2 * time.Hour), 150},
		{"a, after every row", f.a.ID, base.Add(2*time.Hour + time.Microsecond), 0},
		{"b, a day window", f.b.ID, base.Add(-23 * time.Hour), 10},
		{"unknown user", nobody, time.Time{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TokensUsed(t.Context(), tt.user, tt.since)
			if err != nil {
				t.Fatalf("TokensUsed: %v", err)
			}
			if got != tt.want {
				t.Errorf("TokensUsed = %d, want %d", got, tt.want)
			}
		})
	}
}

func testLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mustUser(t, s, "a", store.RoleUser)
	b := mustUser(t, s, "b", store.RoleUser)
	missing := uuid.New()

	getLimits := func(id uuid.UUID) *store.Limits {
		t.Helper()
		l, err := s.GetLimits(ctx, id)
		if err != nil {
			t.Fatalf("GetLimits: %v", err)
		}
		return l
	}

	// Unset limits are zero: unlimited.
	if diff := cmp.Diff(&store.Limits{UserID: a.ID}, getLimits(a.ID), opts); diff != "" {
		t.Errorf("default limits (-want +got):\n%s", diff)
	}

	l := &store.Limits{UserID: a.ID, TokensPerDay: 100000, RequestsPerMinute: 60, UpdatedAt: base}
	if err := s.SetLimits(ctx, l); err != nil {
		t.Fatalf("SetLimits: %v", err)
	}
	want := store.Limits{UserID: a.ID, TokensPerDay: 100000, RequestsPerMinute: 60, UpdatedAt: norm(base)}
	if diff := cmp.Diff(&want, l, opts); diff != "" {
		t.Errorf("SetLimits wrote back (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&want, getLimits(a.ID), opts); diff != "" {
		t.Errorf("GetLimits (-want +got):\n%s", diff)
	}

	// Replacing them; a zero UpdatedAt becomes now.
	start := time.Now()
	l = &store.Limits{UserID: a.ID, TokensPerDay: 0, RequestsPerMinute: 5}
	if err := s.SetLimits(ctx, l); err != nil {
		t.Fatalf("SetLimits: %v", err)
	}
	checkStored(t, "UpdatedAt", l.UpdatedAt)
	if l.UpdatedAt.Before(start.Truncate(time.Microsecond)) || l.UpdatedAt.After(time.Now()) {
		t.Errorf("assigned UpdatedAt %v is not the time of the call", l.UpdatedAt)
	}
	want = *l
	if diff := cmp.Diff(&want, getLimits(a.ID), opts); diff != "" {
		t.Errorf("GetLimits after replacing (-want +got):\n%s", diff)
	}

	errs := []struct {
		name string
		op   func() error
		want error
	}{
		{"GetLimits unknown user", func() error { _, err := s.GetLimits(ctx, missing); return err }, store.ErrNotFound},
		{"SetLimits unknown user", func() error { return s.SetLimits(ctx, &store.Limits{UserID: missing, TokensPerDay: 1}) }, store.ErrNotFound},
		{"SetLimits negative tokens", func() error { return s.SetLimits(ctx, &store.Limits{UserID: a.ID, TokensPerDay: -1}) }, errOther},
		{"SetLimits negative requests", func() error { return s.SetLimits(ctx, &store.Limits{UserID: a.ID, RequestsPerMinute: -1}) }, errOther},
		{"SetLimits nil", func() error { return s.SetLimits(ctx, nil) }, errOther},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.name, tt.op(), tt.want)
		})
	}
	if diff := cmp.Diff(&want, getLimits(a.ID), opts); diff != "" {
		t.Errorf("limits after failed calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&store.Limits{UserID: b.ID}, getLimits(b.ID), opts); diff != "" {
		t.Errorf("another user's limits (-want +got):\n%s", diff)
	}
}
