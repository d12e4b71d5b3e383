package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// The promises below are the ones a store written from storekit's docs in a
// few minutes got wrong while passing the rest of the suite (issue 27): each
// has a broken store among the suite's own fixtures that fails it.

// applied counts the history entries of state st (0 when the store keeps no
// history: the caller then relies on versions, or on success alone).
func (e *env) applied(id string, st workset.State) int {
	n := 0
	for _, h := range e.get(id).History {
		if h.State == st {
			n++
		}
	}
	return n
}

// testIdempotencyKeys: a retry after an applied keyed request reports
// success once applied, a forced keyed one is not applied twice, and a
// different key is a new request.
func testIdempotencyKeys(e *env) {
	e.register("ws-k", "")
	req := workset.TransitionRequest{ID: "ws-k", To: workset.StateInProgress, Reason: "start", IdempotencyKey: "k-1"}
	first := e.transition(req)
	again, err := e.s.Transition(e.ctx, req)
	if err != nil {
		e.t.Fatalf("retry of an applied keyed transition: %v; want the success it was", err)
	}
	if again.State != workset.StateInProgress {
		e.t.Fatalf("retry returned state %s", again.State)
	}
	if e.caps.Kept.Versions && again.Version != first.Version {
		e.t.Errorf("the retry applied again: version %d after %d", again.Version, first.Version)
	}
	if e.caps.Kept.History && e.applied("ws-k", workset.StateInProgress) != 1 {
		e.t.Errorf("the keyed transition is in the history %d times, want once", e.applied("ws-k", workset.StateInProgress))
	}
	// Forced and keyed: never applied twice, though the graph would allow it.
	forced := workset.TransitionRequest{ID: "ws-k", To: workset.StateReady, Force: true, Reason: "operator", IdempotencyKey: "k-2"}
	f1 := e.transition(forced)
	f2 := e.transition(forced)
	if e.caps.Kept.Versions && f2.Version != f1.Version {
		e.t.Errorf("a retried forced keyed transition applied twice: version %d after %d", f2.Version, f1.Version)
	}
	if e.caps.Kept.History && e.applied("ws-k", workset.StateReady) != 2 { // registration, then the forced move
		e.t.Errorf("ready is in the history %d times, want twice (registration and one forced move)", e.applied("ws-k", workset.StateReady))
	}
	// A different key is a new request.
	forced.IdempotencyKey = "k-3"
	f3 := e.transition(forced)
	if e.caps.Kept.Versions && f3.Version != f2.Version+1 {
		e.t.Errorf("a new key was taken for a retry: version %d after %d", f3.Version, f2.Version)
	}
}

// testCursorsWhileClaiming: pages of the ready queue visit every workset that
// stayed ready throughout exactly once, while worksets of an earlier page
// are claimed between pages (what monitors do).
func testCursorsWhileClaiming(e *env) {
	for i := range 10 {
		e.register(fmt.Sprintf("ws-c%02d", i), "")
	}
	seen := map[string]int{}
	var claimed []string
	q := workset.ListQuery{State: workset.StateReady, Limit: 3}
	for pages := 0; ; pages++ {
		if pages > 20 {
			e.t.Fatal("the cursor never ended")
		}
		p, err := e.s.List(e.ctx, q)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, w := range p.Worksets {
			seen[w.ID]++
		}
		// Two worksets of this page leave the queue before the next page.
		for _, w := range p.Worksets[:min(2, len(p.Worksets))] {
			if len(claimed) < 4 {
				e.transition(workset.TransitionRequest{ID: w.ID, To: workset.StateInProgress})
				claimed = append(claimed, w.ID)
			}
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	for i := range 10 {
		id := fmt.Sprintf("ws-c%02d", i)
		if slices.Contains(claimed, id) {
			continue
		}
		if seen[id] != 1 {
			e.t.Errorf("%s stayed ready throughout and was listed %d times, want once (claimed between pages: %v)", id, seen[id], claimed)
		}
	}
}

// testLeaseWritesBumpVersion: every write changes Version and UpdatedAt,
// lease writes included (an ExpectedVersion taken before a lease changed
// hands must fail).
func testLeaseWritesBumpVersion(e *env) {
	e.skipUnless(e.caps.Kept.Versions, "versions are not stored")
	w := e.register("ws-v", "")
	step := func(what string, fn func() error) {
		e.t.Helper()
		e.clock.Advance(time.Second)
		if err := fn(); err != nil {
			e.t.Fatalf("%s: %v", what, err)
		}
		now := e.get("ws-v")
		if now.Version <= w.Version {
			e.t.Errorf("%s left the version at %d (was %d)", what, now.Version, w.Version)
		}
		if e.caps.Kept.Timestamps && !now.UpdatedAt.After(w.UpdatedAt) {
			e.t.Errorf("%s left updated_at at %v", what, now.UpdatedAt)
		}
		w = now
	}
	var l *workset.Lease
	step("AcquireLease", func() (err error) { l, err = e.s.AcquireLease(e.ctx, "ws-v", "m", time.Minute); return err })
	step("RenewLease", func() (err error) { l, err = e.s.RenewLease(e.ctx, *l, time.Minute); return err })
	step("ReleaseLease", func() error { return e.s.ReleaseLease(e.ctx, *l) })
}

// testExpectationsUnderRaces: ExpectedState and ExpectedVersion hold
// atomically: of concurrent moves from one state that the graph would all
// allow, each expecting that state (or its version), exactly one applies. A
// store that checks and then writes lets several through.
func testExpectationsUnderRaces(e *env) {
	e.skipUnless(e.caps.Guarantees.AtomicLeases, "writes are not atomic")
	targets := []workset.State{workset.StateInProgress, workset.StateIgnored, workset.StateLocked}
	for round := range 6 {
		id := fmt.Sprintf("ws-r%d", round)
		w := e.register(id, "")
		byVersion := round%2 == 1 && e.caps.Kept.Versions
		var wins int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := workset.TransitionRequest{ID: id, To: targets[i%len(targets)], ExpectedState: workset.StateReady}
				if byVersion {
					req.ExpectedState, req.ExpectedVersion = "", w.Version
				}
				_, err := e.s.Transition(e.ctx, req)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					mu.Unlock()
				case errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrInvalidTransition):
				default:
					e.t.Errorf("concurrent expecting move: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			e.t.Errorf("round %d (by version %v): %d of 6 concurrent moves expecting the same record applied, want exactly 1", round, byVersion, wins)
		}
	}
}
