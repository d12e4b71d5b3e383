package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
	"github.com/google/go-cmp/cmp"
)

func testTransitions(e *env) {
	e.register("ws-t", workset.PriorityUrgent)
	e.clock.Advance(time.Second)
	t1 := e.clock.Now()
	w := e.transition(workset.TransitionRequest{ID: "ws-t", To: workset.StateInProgress, Reason: "picked up", ClusterName: "c1"})
	if w.State != workset.StateInProgress {
		e.t.Fatalf("state = %s, want in_progress", w.State)
	}
	e.clock.Advance(time.Second)
	t2 := e.clock.Now()
	w = e.transition(workset.TransitionRequest{ID: "ws-t", To: workset.StateError, Reason: "boom", ErrorDetails: "exit 1", ErrorCategory: workset.CategoryData})
	if d := cmp.Diff(w, e.get("ws-t")); d != "" {
		e.t.Errorf("Transition result differs from Get (-transition +get):\n%s", d)
	}

	// Refused by the graph: error -> complete.
	before := e.get("ws-t")
	_, err := e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-t", To: workset.StateComplete, Reason: "nope"})
	wantErr(e.t, err, workset.ErrInvalidTransition, "error -> complete")
	var te *workset.TransitionError
	if !errors.As(err, &te) || te.From != workset.StateError || te.To != workset.StateComplete || te.ID != "ws-t" {
		e.t.Errorf("want *TransitionError{ws-t error->complete}, got %#v", err)
	}
	e.unchanged(before, "refused transition")
	// A state never transitions to itself.
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-t", To: workset.StateError})
	wantErr(e.t, err, workset.ErrInvalidTransition, "error -> error")

	// Forced.
	e.clock.Advance(time.Second)
	t3 := e.clock.Now()
	w = e.transition(workset.TransitionRequest{ID: "ws-t", To: workset.StateComplete, Reason: "operator", Force: true})
	if w.State != workset.StateComplete {
		e.t.Fatalf("forced state = %s", w.State)
	}
	if e.caps.Kept.Timestamps && !w.UpdatedAt.Equal(t3) {
		e.t.Errorf("updated_at = %v, want %v", w.UpdatedAt, t3)
	}
	if e.caps.Kept.Versions && w.Version != 4 {
		e.t.Errorf("version after 3 transitions = %d, want 4", w.Version)
	}
	if e.caps.Kept.Metadata && (w.ErrorDetails != "exit 1" || w.ClusterName != "c1") {
		e.t.Errorf("error details/cluster = %q/%q, want exit 1/c1", w.ErrorDetails, w.ClusterName)
	}
	if !e.caps.Kept.History {
		e.t.Log("store keeps no full history: history entries not checked")
		return
	}
	want := []workset.HistoryEntry{
		{State: workset.StateReady, Timestamp: Start, Reason: storekit.DefaultRegisterReason},
		{State: workset.StateInProgress, Timestamp: t1, Reason: "picked up"},
		{State: workset.StateError, Timestamp: t2, Reason: "boom", ErrorCategory: workset.CategoryData},
		{State: workset.StateComplete, Timestamp: t3, Reason: "operator", Forced: true},
	}
	if d := cmp.Diff(want, w.History); d != "" {
		e.t.Errorf("history (-want +got):\n%s", d)
	}
}

func testTransitionConflicts(e *env) {
	e.register("ws-c", "")
	before := e.get("ws-c")
	_, err := e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-c", To: workset.StateInProgress, ExpectedState: workset.StateError})
	wantErr(e.t, err, workset.ErrConflict, "wrong expected state")
	e.unchanged(before, "conflicting transition")
	w := e.transition(workset.TransitionRequest{ID: "ws-c", To: workset.StateInProgress, ExpectedState: workset.StateReady})
	if !e.caps.Kept.Versions {
		e.t.Log("store keeps no versions: ExpectedVersion not checked")
		return
	}
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-c", To: workset.StateComplete, ExpectedVersion: w.Version - 1})
	wantErr(e.t, err, workset.ErrConflict, "stale expected version")
	var ce *workset.Error
	if !errors.As(err, &ce) || ce.ID != "ws-c" || ce.Kind != workset.ErrConflict || !strings.HasPrefix(err.Error(), "workset ws-c: conflict: expected version") {
		e.t.Errorf("want a *workset.Error of kind ErrConflict for ws-c, got %#v", err)
	}
	e.transition(workset.TransitionRequest{ID: "ws-c", To: workset.StateComplete, ExpectedVersion: w.Version})
}

func testTransitionInvalidInput(e *env) {
	before := e.register("ws-i", "")
	for _, req := range []workset.TransitionRequest{
		{ID: "ws-i", To: "done"},
		{ID: "ws-i", To: "IN_PROGRESS"},
		{ID: "ws-i", To: workset.StateInProgress, ExpectedState: "bogus"},
		{ID: "ws-i", To: workset.StateInProgress, ExpectedVersion: -1},
		{ID: "ws-i", To: workset.StateInProgress, ErrorCategory: "cosmic"},
		{ID: "ws-i", To: workset.StateInProgress, Lease: &workset.Lease{WorksetID: "other", Owner: "me"}},
		{ID: "ws/i", To: workset.StateInProgress},
	} {
		_, err := e.s.Transition(e.ctx, req)
		wantErr(e.t, err, workset.ErrInvalidInput, fmt.Sprintf("Transition %+v", req))
	}
	e.unchanged(before, "invalid transitions")
}

// Archive, restore and soft delete move the state on every store; a store that
// keeps Attributes also keeps the deployed bookkeeping (who, why, when).
func testLifecycle(e *env) {
	e.register("ws-lc", "")
	e.transition(workset.TransitionRequest{ID: "ws-lc", To: workset.StateInProgress})
	e.transition(workset.TransitionRequest{ID: "ws-lc", To: workset.StateFailed})
	w, err := workset.Archive(e.ctx, e.s, "ws-lc", "ops", "retention")
	if err != nil || w.State != workset.StateArchived {
		e.t.Fatalf("Archive: %v, %+v", err, w)
	}
	if _, err := workset.Restore(e.ctx, e.s, "ws-lc", "ops", "needed again"); err != nil {
		e.t.Fatalf("Restore: %v", err)
	}
	got := e.get("ws-lc")
	if got.State != workset.StateReady {
		e.t.Fatalf("after Restore: %s, want ready", got.State)
	}
	if e.caps.Kept.Metadata {
		a := got.Attributes
		if a[storekit.AttrRestoredBy] != "ops" || a[storekit.AttrRestoredAt] == nil || a[storekit.AttrOriginalState] != "failed" ||
			a[storekit.AttrArchivedAt] != nil || a[storekit.AttrArchivedBy] != nil || a[storekit.AttrArchiveReason] != nil {
			e.t.Errorf("bookkeeping after archive and restore: %v", a)
		}
	}
	if _, err := workset.Restore(e.ctx, e.s, "ws-lc", "ops", ""); !errors.Is(err, workset.ErrConflict) {
		e.t.Errorf("Restore of a ready workset: %v, want ErrConflict", err)
	}
}

func testRaceTransition(e *env) {
	const n = 16
	e.register("ws-rt", "")
	var wg sync.WaitGroup
	results := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			to := workset.StateInProgress // half the racers to each of two targets
			if i%2 == 1 {
				to = workset.StateIgnored
			}
			_, results[i] = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-rt", To: to, Reason: fmt.Sprintf("racer %d", i), ExpectedState: workset.StateReady})
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrInvalidTransition):
		default:
			e.t.Errorf("loser got %v, want ErrConflict", err)
		}
	}
	if ok != 1 {
		e.t.Fatalf("%d racers succeeded, want exactly 1", ok)
	}
	if w := e.get("ws-rt"); e.caps.Kept.History && len(w.History) != 2 {
		e.t.Errorf("history has %d entries, want 2", len(w.History))
	}
}
