package seal

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// ReplayGuard admits each sealed request id at most once. A request is
// admitted only if its timestamp lies within ±window of the guard's clock;
// the guard remembers the ids it admitted until their timestamps leave the
// window, so a replay inside the window is refused with ErrReplay and one
// outside it with ErrStale.
//
// Memory is bounded by max ids. When the guard is full it forgets the id
// with the oldest timestamp and from then on refuses, with ErrStale, every
// request not newer than it, so a forgotten id can never be admitted again.
// Under a flood this narrows the window instead of weakening it.
//
// A ReplayGuard is safe for concurrent use. It protects one process; several
// replicas behind a load balancer each need the same id to reach the same
// guard, or a shared one.
type ReplayGuard struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu    sync.Mutex
	seen  map[string]int64 // id -> timestamp (unix ms)
	order tsHeap
	floor int64 // refuse timestamps <= floor (unix ms); set by eviction
}

// NewReplayGuard returns a guard with the given window (positive) that
// remembers at most maxIDs ids (at least 1).
func NewReplayGuard(window time.Duration, maxIDs int) *ReplayGuard {
	return &ReplayGuard{
		window: max(window, time.Millisecond),
		max:    max(maxIDs, 1),
		now:    time.Now,
		seen:   make(map[string]int64),
		floor:  -1 << 63,
	}
}

// Admit records id with timestamp ts, or refuses it with ErrStale or
// ErrReplay.
func (g *ReplayGuard) Admit(id string, ts time.Time) error {
	now := g.now().UnixMilli()
	t := ts.UnixMilli()
	w := g.window.Milliseconds()
	if t < now-w || t > now+w {
		return fmt.Errorf("%w: not within %v of now", ErrStale, g.window)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	// Forget ids that have left the window. The floor keeps them refused
	// even if the clock steps back.
	for len(g.order) > 0 && g.order[0].ts < now-w {
		g.forgetOldest()
	}
	if t <= g.floor {
		return fmt.Errorf("%w: older than the guard remembers", ErrStale)
	}
	if _, ok := g.seen[id]; ok {
		return ErrReplay
	}
	if len(g.order) >= g.max {
		if t <= g.order[0].ts {
			return fmt.Errorf("%w: older than the guard remembers", ErrStale)
		}
		for len(g.order) >= g.max {
			g.forgetOldest()
		}
	}
	g.seen[id] = t
	heap.Push(&g.order, tsEntry{ts: t, id: id})
	return nil
}

func (g *ReplayGuard) forgetOldest() {
	e := heap.Pop(&g.order).(tsEntry)
	delete(g.seen, e.id)
	g.floor = max(g.floor, e.ts)
}

// Len returns the number of ids remembered.
func (g *ReplayGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.seen)
}

type tsEntry struct {
	ts int64
	id string
}

type tsHeap []tsEntry

func (h tsHeap) Len() int           { return len(h) }
func (h tsHeap) Less(i, j int) bool { return h[i].ts < h[j].ts }
func (h tsHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *tsHeap) Push(x any)        { *h = append(*h, x.(tsEntry)) }
func (h *tsHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
