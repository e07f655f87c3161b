package seal

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func fakeGuard(window time.Duration, max int) (*ReplayGuard, *time.Time) {
	g := NewReplayGuard(window, max)
	now := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return now }
	return g, &now
}

func TestReplayGuardWindow(t *testing.T) {
	g, now := fakeGuard(time.Minute, 100)
	t0 := *now
	for _, tc := range []struct {
		id   string
		ts   time.Time
		want error
	}{
		{"a", t0, nil},
		{"a", t0, ErrReplay},
		{"b", t0.Add(-time.Minute), nil},
		{"c", t0.Add(time.Minute), nil},
		{"d", t0.Add(-time.Minute - time.Millisecond), ErrStale},
		{"e", t0.Add(time.Minute + time.Millisecond), ErrStale},
		{"b", t0, ErrReplay}, // same id, other timestamp
	} {
		if err := g.Admit(tc.id, tc.ts); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Fatalf("Admit(%s, %v) = %v, want %v", tc.id, tc.ts.Sub(t0), err, tc.want)
		}
	}

	// Time passes: old ids are forgotten, and their replays are stale.
	*now = t0.Add(90 * time.Second)
	if err := g.Admit("a", t0); !errors.Is(err, ErrStale) {
		t.Fatalf("replay after window: err = %v, want ErrStale", err)
	}
	if err := g.Admit("f", *now); err != nil {
		t.Fatal(err)
	}
	if n := g.Len(); n != 2 { // c and f
		t.Fatalf("guard remembers %d ids, want 2", n)
	}

	// The clock steps back: forgotten ids stay refused.
	*now = t0
	if err := g.Admit("a", t0); !errors.Is(err, ErrStale) {
		t.Fatalf("replay after clock step back: err = %v, want ErrStale", err)
	}
}

func TestReplayGuardBounded(t *testing.T) {
	const max = 10
	g, now := fakeGuard(time.Hour, max)
	t0 := *now
	for i := range 3 * max {
		if err := g.Admit(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatalf("Admit(%d): %v", i, err)
		}
		if g.Len() > max {
			t.Fatalf("guard holds %d ids, bound is %d", g.Len(), max)
		}
	}
	// Every id ever admitted is still refused, remembered or not.
	for i := range 3 * max {
		if err := g.Admit(fmt.Sprint(i), t0.Add(time.Duration(i)*time.Millisecond)); err == nil {
			t.Fatalf("replay of %d admitted", i)
		}
	}
	// A new id older than what the full guard remembers is refused; a
	// newer one is admitted.
	if err := g.Admit("old", t0); !errors.Is(err, ErrStale) {
		t.Fatalf("old id in a full guard: err = %v, want ErrStale", err)
	}
	if err := g.Admit("new", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestReplayGuardConcurrent(t *testing.T) {
	g, now := fakeGuard(time.Minute, 1000)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 50 {
				if g.Admit(fmt.Sprint(i), *now) == nil {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if admitted != 50 {
		t.Fatalf("%d admissions of 50 distinct ids from 8 goroutines, want 50", admitted)
	}
}
