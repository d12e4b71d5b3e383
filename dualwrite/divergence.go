package dualwrite

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Divergence records a write that reached the authoritative store but not the
// mirror, for the Migrator to repair.
type Divergence struct {
	WorksetID string
	// Op is the call that diverged: register, transition, acquire, renew, release.
	Op string
	// Mirror names the store that missed the write: "legacy" or "new".
	Mirror string
	Err    string
	At     time.Time
}

// DivergenceLog keeps divergence records. Record must be safe for concurrent
// use; when it fails, the call that diverged fails too, so no divergence goes
// unrecorded.
type DivergenceLog interface {
	Record(ctx context.Context, d Divergence) error
}

// MemoryLog is an in-memory DivergenceLog.
type MemoryLog struct {
	mu    sync.Mutex
	items []Divergence
}

// Record implements DivergenceLog.
func (l *MemoryLog) Record(_ context.Context, d Divergence) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, d)
	return nil
}

// Divergences returns the records so far, oldest first.
func (l *MemoryLog) Divergences() []Divergence {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// IDs returns the distinct workset IDs with a divergence, in first-seen order.
func (l *MemoryLog) IDs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range l.Divergences() {
		if !seen[d.WorksetID] {
			seen[d.WorksetID] = true
			out = append(out, d.WorksetID)
		}
	}
	return out
}

// Drain returns the records and forgets them.
func (l *MemoryLog) Drain() []Divergence {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.items
	l.items = nil
	return out
}
