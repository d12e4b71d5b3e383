// Package storetest is the conformance suite every workset.StateStore passes.
//
// A backend's test calls Run with a Harness that makes fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
//				s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			},
//		})
//	}
//
// Parts a store cannot support (per its Capabilities) are skipped with a logged
// reason, never silently.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
	"github.com/google/go-cmp/cmp"
)

// Harness makes stores for the suite.
type Harness struct {
	// NewStore returns a fresh, empty store that tells time with clock. It is
	// called once per subtest, possibly from parallel subtests.
	NewStore func(t *testing.T, clock workset.Clock) workset.StateStore
	// SkewMargin is the lease skew margin the stores are configured with.
	SkewMargin time.Duration
	// Sequential runs subtests one at a time (for stores that share a server
	// that dislikes parallel load).
	Sequential bool
}

// Start is the time the suite's clocks start at.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

type env struct {
	t     *testing.T
	ctx   context.Context
	s     workset.StateStore
	clock *Clock
	caps  workset.Capabilities
	skew  time.Duration
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"Register", testRegister},
		{"RegisterInvalid", testRegisterInvalid},
		{"GetMissing", testGetMissing},
		{"Transitions", testTransitions},
		{"TransitionConflicts", testTransitionConflicts},
		{"TransitionInvalidInput", testTransitionInvalidInput},
		{"MetadataRoundTrip", testMetadata},
		{"ListPaging", testListPaging},
		{"ReadyQueueOrder", testReadyQueue},
		{"ListInvalid", testListInvalid},
		{"Leases", testLeases},
		{"LeaseExpiryAndFencing", testLeaseExpiry},
		{"LeaseInvalid", testLeaseInvalid},
		{"RaceLease", testRaceLease},
		{"RaceTransition", testRaceTransition},
		{"Import", testImport},
		{"Delete", testDelete},
		{"Lifecycle", testLifecycle},
		{"ValueModel", testValueModel},
		{"ListByCustomer", testListByCustomer},
		{"RecordFailure", testRecordFailure},
		{"RecordFailureRace", testRecordFailureRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !h.Sequential {
				t.Parallel()
			}
			clock := NewClock(Start)
			s := h.NewStore(t, clock)
			tc.fn(&env{t: t, ctx: t.Context(), s: s, clock: clock, caps: s.Capabilities(), skew: h.SkewMargin})
		})
	}
}

func (e *env) skipUnless(ok bool, reason string) {
	e.t.Helper()
	if !ok {
		e.t.Skipf("store lacks capability: %s", reason)
	}
}

func (e *env) register(id string, p workset.Priority) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Priority: p, Bucket: "bkt", Prefix: "worksets/" + id + "/"})
	if err != nil {
		e.t.Fatalf("Register(%s): %v", id, err)
	}
	return w
}

func (e *env) get(id string) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return w
}

func (e *env) transition(req workset.TransitionRequest) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Transition(e.ctx, req)
	if err != nil {
		e.t.Fatalf("Transition(%s -> %s): %v", req.ID, req.To, err)
	}
	return w
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// unchanged fails unless the stored record equals before (ignoring nothing).
func (e *env) unchanged(before *workset.Workset, what string) {
	e.t.Helper()
	after := e.get(before.ID)
	if d := cmp.Diff(before, after); d != "" {
		e.t.Fatalf("%s changed the stored record (-before +after):\n%s", what, d)
	}
}

func testRegister(e *env) {
	w := e.register("ws-001", "")
	if w.ID != "ws-001" || w.State != workset.StateReady {
		e.t.Fatalf("Register returned %s in %q, want ws-001 in ready", w.ID, w.State)
	}
	if w.Priority != workset.PriorityNormal {
		e.t.Errorf("default priority = %q, want normal", w.Priority)
	}
	got := e.get("ws-001")
	if d := cmp.Diff(w, got); d != "" {
		e.t.Errorf("Get differs from Register's result (-register +get):\n%s", d)
	}
	if e.caps.Kept.Location && (got.Bucket != "bkt" || got.Prefix != "worksets/ws-001/") {
		e.t.Errorf("location = %s/%s, want bkt/worksets/ws-001/", got.Bucket, got.Prefix)
	}
	if e.caps.Kept.Timestamps && (!got.CreatedAt.Equal(Start) || !got.UpdatedAt.Equal(Start)) {
		e.t.Errorf("created/updated = %v/%v, want %v", got.CreatedAt, got.UpdatedAt, Start)
	}
	if e.caps.Kept.Versions && got.Version != 1 {
		e.t.Errorf("version = %d, want 1", got.Version)
	}
	if e.caps.Kept.History {
		want := []workset.HistoryEntry{{State: workset.StateReady, Timestamp: Start, Reason: storekit.DefaultRegisterReason}}
		if d := cmp.Diff(want, got.History); d != "" {
			e.t.Errorf("history (-want +got):\n%s", d)
		}
	}
	_, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-001", Priority: workset.PriorityUrgent})
	wantErr(e.t, err, workset.ErrAlreadyExists, "duplicate Register")
	e.unchanged(got, "duplicate Register")
}

func testRegisterInvalid(e *env) {
	for _, tc := range []struct {
		name string
		req  workset.RegisterRequest
	}{
		{"empty", workset.RegisterRequest{ID: ""}},
		{"dotdot", workset.RegisterRequest{ID: ".."}},
		{"slash", workset.RegisterRequest{ID: "a/b"}},
		{"escape", workset.RegisterRequest{ID: "../x"}},
		{"control", workset.RegisterRequest{ID: "a\nb"}},
		{"long", workset.RegisterRequest{ID: string(make([]byte, 256))}},
		{"priority", workset.RegisterRequest{ID: "ok", Priority: "high"}},
		{"attribute", workset.RegisterRequest{ID: "ok", Attributes: map[string]any{"state": "complete"}}},
	} {
		_, err := e.s.Register(e.ctx, tc.req)
		wantErr(e.t, err, workset.ErrInvalidInput, "Register "+tc.name)
	}
	_, err := e.s.Get(e.ctx, "ok")
	wantErr(e.t, err, workset.ErrNotFound, "Get after refused Register")
}

func testGetMissing(e *env) {
	_, err := e.s.Get(e.ctx, "nope")
	wantErr(e.t, err, workset.ErrNotFound, "Get missing")
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "nope", To: workset.StateInProgress})
	wantErr(e.t, err, workset.ErrNotFound, "Transition missing")
	_, err = e.s.AcquireLease(e.ctx, "nope", "me", time.Minute)
	wantErr(e.t, err, workset.ErrNotFound, "AcquireLease missing")
	_, err = e.s.Get(e.ctx, "bad/id")
	wantErr(e.t, err, workset.ErrInvalidInput, "Get invalid id")
}

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
	var ce *workset.ConflictError
	if !errors.As(err, &ce) || ce.ID != "ws-c" {
		e.t.Errorf("want *ConflictError for ws-c, got %#v", err)
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

func testMetadata(e *env) {
	e.skipUnless(e.caps.Kept.Metadata, "metadata and extra attributes are not stored")
	meta := map[string]any{"samples": float64(12), "name": "run 7", "nested": map[string]any{"ok": true, "list": []any{"a", float64(2)}}}
	attrs := map[string]any{"customer_id": "cust-9", "sample_count": float64(2)}
	w, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-m", Metadata: meta, Attributes: attrs})
	if err != nil {
		e.t.Fatal(err)
	}
	if d := cmp.Diff(meta, w.Metadata); d != "" {
		e.t.Errorf("metadata (-want +got):\n%s", d)
	}
	metrics := map[string]any{"cpu_hours": 1.5}
	e.transition(workset.TransitionRequest{ID: "ws-m", To: workset.StateInProgress, Metrics: metrics})
	got := e.get("ws-m")
	if d := cmp.Diff(meta, got.Metadata); d != "" {
		e.t.Errorf("metadata after transition (-want +got):\n%s", d)
	}
	if d := cmp.Diff(attrs, got.Attributes); d != "" {
		e.t.Errorf("attributes after transition (-want +got):\n%s", d)
	}
	if d := cmp.Diff(metrics, got.Metrics); d != "" {
		e.t.Errorf("metrics (-want +got):\n%s", d)
	}
	// The caller's maps are not aliased.
	meta["name"] = "changed"
	got.Metadata["samples"] = float64(0)
	if again := e.get("ws-m"); again.Metadata["name"] != "run 7" || again.Metadata["samples"] != float64(12) {
		e.t.Errorf("store aliases caller maps: %v", again.Metadata)
	}
}

// seed registers n worksets spread over priorities and moves some along, and
// returns the expected state and priority of each.
func (e *env) seed(n int) map[string]*workset.Workset {
	want := make(map[string]*workset.Workset, n)
	prios := workset.Priorities()
	for i := range n {
		id := fmt.Sprintf("ws-%04d", i)
		p := prios[i%3]
		if !e.caps.Kept.Priority {
			p = workset.PriorityNormal
		}
		w := e.register(id, p)
		if i%4 == 1 {
			w = e.transition(workset.TransitionRequest{ID: id, To: workset.StateInProgress})
		}
		want[id] = w
	}
	return want
}

func (e *env) collect(q workset.ListQuery) []*workset.Workset {
	e.t.Helper()
	var out []*workset.Workset
	pages := 0
	for {
		p, err := e.s.List(e.ctx, q)
		if err != nil {
			e.t.Fatalf("List(%+v): %v", q, err)
		}
		if len(p.Worksets) > q.Limit {
			e.t.Fatalf("page of %d for limit %d", len(p.Worksets), q.Limit)
		}
		pages++
		out = append(out, p.Worksets...)
		if p.Cursor == "" {
			return out
		}
		if pages > 1000 {
			e.t.Fatal("List never ends")
		}
		q.Cursor = p.Cursor
	}
}

func testListPaging(e *env) {
	want := e.seed(90)
	for _, q := range []workset.ListQuery{
		{Limit: 7},
		{Limit: 1000},
		{State: workset.StateReady, Limit: 10},
		{State: workset.StateInProgress, Limit: 5},
		{Priority: workset.PriorityLow, Limit: 6},
		{State: workset.StateReady, Priority: workset.PriorityUrgent, Limit: 4},
		{State: workset.StateComplete, Limit: 3},
	} {
		if q.Priority != "" && !e.caps.Kept.Priority {
			continue
		}
		got := e.collect(q)
		seen := map[string]bool{}
		for _, w := range got {
			if seen[w.ID] {
				e.t.Errorf("List(%+v) repeated %s", q, w.ID)
			}
			seen[w.ID] = true
			if (q.State != "" && w.State != q.State) || (q.Priority != "" && w.Priority != q.Priority) {
				e.t.Errorf("List(%+v) returned %s in %s/%s", q, w.ID, w.State, w.Priority)
			}
		}
		n := 0
		for id, w := range want {
			if (q.State == "" || w.State == q.State) && (q.Priority == "" || w.Priority == q.Priority) {
				n++
				if !seen[id] {
					e.t.Errorf("List(%+v) lost %s", q, id)
				}
			}
		}
		if len(got) != n {
			e.t.Errorf("List(%+v) returned %d worksets, want %d", q, len(got), n)
		}
		if q.Limit < 10 && n > 2*q.Limit && len(got) == n {
			continue // crossed at least three pages
		}
	}
	// workset.All follows every cursor too.
	n := 0
	for w, err := range workset.All(e.ctx, e.s, workset.ListQuery{Limit: 9}) {
		if err != nil {
			e.t.Fatal(err)
		}
		if want[w.ID] == nil {
			e.t.Errorf("All returned unknown %s", w.ID)
		}
		n++
	}
	if n != len(want) {
		e.t.Errorf("All returned %d, want %d", n, len(want))
	}
}

func testReadyQueue(e *env) {
	e.skipUnless(e.caps.Kept.Priority, "priorities are not stored")
	want := e.seed(40)
	got := e.collect(workset.ListQuery{State: workset.StateReady, Limit: 4})
	last := 0
	for _, w := range got {
		if r := w.Priority.Rank(); r < last {
			e.t.Fatalf("ready queue out of priority order: %s (%s) after rank %d", w.ID, w.Priority, last)
		} else {
			last = r
		}
	}
	n := 0
	for _, w := range want {
		if w.State == workset.StateReady {
			n++
		}
	}
	if len(got) != n {
		e.t.Errorf("ready queue has %d, want %d", len(got), n)
	}
	if len(got) > 0 && got[0].Priority != workset.PriorityUrgent {
		e.t.Errorf("first in queue is %s, want urgent", got[0].Priority)
	}
}

func testListInvalid(e *env) {
	for _, q := range []workset.ListQuery{
		{State: "bogus"},
		{Priority: "high"},
		{Limit: -1},
		{Cursor: "!!not a cursor!!"},
	} {
		_, err := e.s.List(e.ctx, q)
		wantErr(e.t, err, workset.ErrInvalidInput, fmt.Sprintf("List(%+v)", q))
	}
}

func testLeases(e *env) {
	e.register("ws-l", "")
	l1, err := e.s.AcquireLease(e.ctx, "ws-l", "host-a-1", time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	if l1.Owner != "host-a-1" || l1.WorksetID != "ws-l" || l1.Token <= 0 || !l1.ExpiresAt.Equal(Start.Add(time.Minute)) {
		e.t.Fatalf("lease = %+v", l1)
	}
	w := e.get("ws-l")
	if w.Lease == nil || w.Lease.Owner != "host-a-1" || w.Lease.Token != l1.Token || w.State != workset.StateReady {
		e.t.Fatalf("stored lease = %+v in state %s", w.Lease, w.State)
	}
	// Second owner refused, with details.
	_, err = e.s.AcquireLease(e.ctx, "ws-l", "host-b-2", time.Minute)
	var lh *workset.LeaseHeldError
	if !errors.As(err, &lh) || lh.Owner != "host-a-1" || !lh.ExpiresAt.Equal(l1.ExpiresAt) {
		e.t.Fatalf("second owner: got %v, want LeaseHeldError by host-a-1 until %v", err, l1.ExpiresAt)
	}
	wantErr(e.t, err, workset.ErrLeaseHeld, "second owner")
	// Same owner again: extended, same token.
	e.clock.Advance(10 * time.Second)
	again, err := e.s.AcquireLease(e.ctx, "ws-l", "host-a-1", time.Minute)
	if err != nil || again.Token != l1.Token || !again.ExpiresAt.Equal(e.clock.Now().Add(time.Minute)) {
		e.t.Fatalf("re-acquire by holder = %+v, %v; want token %d extended", again, err, l1.Token)
	}
	// Renew.
	e.clock.Advance(10 * time.Second)
	r, err := e.s.RenewLease(e.ctx, *l1, 2*time.Minute)
	if err != nil || r.Token != l1.Token || !r.ExpiresAt.Equal(e.clock.Now().Add(2*time.Minute)) {
		e.t.Fatalf("renew = %+v, %v", r, err)
	}
	// An unfenced write by someone else is refused while the lease is live.
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-l", To: workset.StateInProgress})
	wantErr(e.t, err, workset.ErrLeaseHeld, "unfenced transition under a live lease")
	// The holder's fenced write goes through.
	e.transition(workset.TransitionRequest{ID: "ws-l", To: workset.StateInProgress, Lease: r})
	// Release by a non-owner, or with a wrong token, is refused.
	err = e.s.ReleaseLease(e.ctx, workset.Lease{WorksetID: "ws-l", Owner: "host-b-2", Token: l1.Token})
	wantErr(e.t, err, workset.ErrLeaseLost, "release by non-owner")
	err = e.s.ReleaseLease(e.ctx, workset.Lease{WorksetID: "ws-l", Owner: "host-a-1", Token: l1.Token + 7})
	wantErr(e.t, err, workset.ErrLeaseLost, "release with wrong token")
	if err := e.s.ReleaseLease(e.ctx, *r); err != nil {
		e.t.Fatalf("release: %v", err)
	}
	if w := e.get("ws-l"); w.Lease != nil {
		e.t.Fatalf("lease still stored after release: %+v", w.Lease)
	}
	wantErr(e.t, e.s.ReleaseLease(e.ctx, *r), workset.ErrLeaseLost, "second release")
	_, err = e.s.RenewLease(e.ctx, *r, time.Minute)
	wantErr(e.t, err, workset.ErrLeaseLost, "renew after release")
	// Not leasable in in_progress without an expired lease to take over.
	_, err = e.s.AcquireLease(e.ctx, "ws-l", "host-b-2", time.Minute)
	wantErr(e.t, err, workset.ErrNotLeasable, "acquire in in_progress")
	// Back to ready: a new lease has a larger token.
	e.transition(workset.TransitionRequest{ID: "ws-l", To: workset.StateRetrying})
	l2, err := e.s.AcquireLease(e.ctx, "ws-l", "host-b-2", time.Minute)
	if err != nil || l2.Token <= l1.Token {
		e.t.Fatalf("acquire after release = %+v, %v; want token > %d", l2, err, l1.Token)
	}
}

func testLeaseExpiry(e *env) {
	e.register("ws-x", "")
	old, err := e.s.AcquireLease(e.ctx, "ws-x", "old", 30*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.transition(workset.TransitionRequest{ID: "ws-x", To: workset.StateInProgress, Lease: old})
	// Not yet expired (within the skew margin).
	e.clock.Advance(30*time.Second + e.skew - time.Millisecond)
	_, err = e.s.AcquireLease(e.ctx, "ws-x", "new", time.Minute)
	wantErr(e.t, err, workset.ErrLeaseHeld, "takeover before expiry+skew")
	// Expired: taken over at once, whatever the state.
	e.clock.Advance(time.Millisecond)
	nl, err := e.s.AcquireLease(e.ctx, "ws-x", "new", time.Minute)
	if err != nil {
		e.t.Fatalf("takeover of expired lease: %v", err)
	}
	if nl.Token <= old.Token {
		e.t.Fatalf("takeover token %d not above %d", nl.Token, old.Token)
	}
	before := e.get("ws-x")
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-x", To: workset.StateComplete, Lease: old})
	wantErr(e.t, err, workset.ErrLeaseLost, "old holder's fenced write")
	_, err = e.s.RenewLease(e.ctx, *old, time.Minute)
	wantErr(e.t, err, workset.ErrLeaseLost, "old holder's renew")
	wantErr(e.t, e.s.ReleaseLease(e.ctx, *old), workset.ErrLeaseLost, "old holder's release")
	e.unchanged(before, "the old holder's refused calls")
	e.transition(workset.TransitionRequest{ID: "ws-x", To: workset.StateComplete, Lease: nl})
	// Force overrides a live lease.
	e.transition(workset.TransitionRequest{ID: "ws-x", To: workset.StateReady, Force: true, Reason: "operator reset"})
	// An expired lease that nobody took over can still be renewed by its holder.
	e.clock.Advance(2 * time.Minute)
	if _, err := e.s.RenewLease(e.ctx, *nl, time.Minute); err != nil {
		e.t.Fatalf("renew of expired, not taken over lease: %v", err)
	}
}

func testLeaseInvalid(e *env) {
	before := e.register("ws-li", "")
	for _, tc := range []struct {
		id, owner string
		ttl       time.Duration
	}{
		{"ws-li", "", time.Minute},
		{"ws-li", "me", 0},
		{"ws-li", "me", -time.Second},
		{"../ws-li", "me", time.Minute},
	} {
		_, err := e.s.AcquireLease(e.ctx, tc.id, tc.owner, tc.ttl)
		wantErr(e.t, err, workset.ErrInvalidInput, fmt.Sprintf("AcquireLease(%q, %q, %v)", tc.id, tc.owner, tc.ttl))
	}
	e.unchanged(before, "invalid lease requests")
	l, err := e.s.AcquireLease(e.ctx, "ws-li", "me", time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	_, err = e.s.RenewLease(e.ctx, *l, 0)
	wantErr(e.t, err, workset.ErrInvalidInput, "renew with zero ttl")
	e.register("ws-done", "")
	e.transition(workset.TransitionRequest{ID: "ws-done", To: workset.StateComplete, Force: true})
	_, err = e.s.AcquireLease(e.ctx, "ws-done", "me", time.Minute)
	wantErr(e.t, err, workset.ErrNotLeasable, "acquire on complete")
}

func testRaceLease(e *env) {
	e.skipUnless(e.caps.Guarantees.AtomicLeases, "leases are not atomic on this store")
	const n = 32
	for round := range 3 {
		id := fmt.Sprintf("ws-race-%d", round)
		e.register(id, "")
		var wg sync.WaitGroup
		var mu sync.Mutex
		var winners []string
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("owner-%02d", i)
				if _, err := e.s.AcquireLease(e.ctx, id, owner, time.Minute); err != nil {
					errs[i] = err
					return
				}
				mu.Lock()
				winners = append(winners, owner)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(winners) != 1 {
			e.t.Fatalf("round %d: %d owners won the lease: %v", round, len(winners), winners)
		}
		for _, err := range errs {
			if err != nil && !errors.Is(err, workset.ErrLeaseHeld) {
				e.t.Errorf("round %d: loser got %v, want ErrLeaseHeld", round, err)
			}
		}
		if w := e.get(id); w.Lease == nil || w.Lease.Owner != winners[0] {
			e.t.Errorf("round %d: stored holder %+v, want %s", round, w.Lease, winners[0])
		}
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

func testImport(e *env) {
	imp, ok := e.s.(workset.Importer)
	e.skipUnless(ok, "store does not implement workset.Importer")
	created := Start.Add(-48 * time.Hour)
	in := &workset.Workset{
		ID: "ws-imp", State: workset.StateError, Priority: workset.PriorityLow, Bucket: "b", Prefix: "worksets/ws-imp/",
		CreatedAt: created, UpdatedAt: created.Add(time.Hour),
		History: []workset.HistoryEntry{
			{State: workset.StateReady, Timestamp: created, Reason: "Initial registration"},
			{State: workset.StateError, Timestamp: created.Add(time.Hour), Reason: "failed"},
		},
		Metadata: map[string]any{"migrated_from_s3": true},
	}
	got, err := imp.Import(e.ctx, workset.ImportRequest{Workset: in, IfAbsent: true})
	if err != nil {
		e.t.Fatal(err)
	}
	stored := e.get("ws-imp")
	if d := cmp.Diff(got, stored); d != "" {
		e.t.Errorf("Import result differs from Get:\n%s", d)
	}
	if stored.State != workset.StateError {
		e.t.Errorf("imported state %s", stored.State)
	}
	if e.caps.Kept.Priority && stored.Priority != workset.PriorityLow {
		e.t.Errorf("imported priority %s", stored.Priority)
	}
	if e.caps.Kept.Timestamps && !stored.CreatedAt.Equal(created) {
		e.t.Errorf("imported created_at %v, want %v", stored.CreatedAt, created)
	}
	if e.caps.Kept.History {
		if d := cmp.Diff(in.History, stored.History); d != "" {
			e.t.Errorf("imported history (-want +got):\n%s", d)
		}
	}
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in, IfAbsent: true})
	wantErr(e.t, err, workset.ErrAlreadyExists, "second IfAbsent import")
	if e.caps.Kept.Versions {
		in2 := in.Clone()
		in2.State = workset.StateReady
		_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in2, ExpectedVersion: stored.Version + 5})
		wantErr(e.t, err, workset.ErrConflict, "import at a stale version")
		e.unchanged(stored, "refused import")
		got, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in2, ExpectedVersion: stored.Version, Reason: "rolled back"})
		if err != nil || got.State != workset.StateReady {
			e.t.Fatalf("import replace: %+v, %v", got, err)
		}
	}
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in, ExpectedState: workset.StateComplete})
	wantErr(e.t, err, workset.ErrConflict, "import over an unexpected state")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "never-there", State: workset.StateReady}})
	wantErr(e.t, err, workset.ErrNotFound, "import-replace of a missing record")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "bad/id", State: workset.StateReady}, IfAbsent: true})
	wantErr(e.t, err, workset.ErrInvalidInput, "import invalid id")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "ok", State: "weird"}, IfAbsent: true})
	wantErr(e.t, err, workset.ErrInvalidInput, "import unknown state")
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

// Metadata round-trips to the same normalised value on every store that keeps
// it (numbers as float64), and values outside the model are refused with
// ErrInvalidInput naming their path, with nothing stored.
func testValueModel(e *env) {
	in := map[string]any{"int": 7, "int64": int64(1) << 40, "uint8": uint8(3), "float": 2.5, "f32": float32(0.5),
		"strs": []string{"a", "b"}, "smap": map[string]string{"k": "v"}, "nested": map[string]any{"list": []any{1, "x", nil, true}},
		"null": nil}
	want, err := storekit.NormalizeValues("ws-vm", "metadata", in)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-vm", Metadata: in}); err != nil {
		e.t.Fatal(err)
	}
	if e.caps.Kept.Metadata {
		if d := cmp.Diff(want, e.get("ws-vm").Metadata); d != "" {
			e.t.Errorf("metadata read back (-want +got):\n%s", d)
		}
	}
	deep := map[string]any{}
	cur := deep
	for range storekit.MaxValueDepth {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	for name, md := range map[string]map[string]any{
		"func": {"f": func() {}}, "chan": {"c": make(chan int)}, "time": {"t": time.Now()}, "nan": {"n": math.NaN()},
		"deep": deep, "struct": {"s": struct{ A int }{1}},
	} {
		id := "ws-vm-" + name
		_, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Metadata: md})
		wantErr(e.t, err, workset.ErrInvalidInput, "metadata with a "+name)
		if _, err := e.s.Get(e.ctx, id); !errors.Is(err, workset.ErrNotFound) {
			e.t.Errorf("refused %s metadata left a record: %v", name, err)
		}
	}
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-vm", To: workset.StateInProgress, Metrics: map[string]any{"bad": []any{func() {}}}})
	wantErr(e.t, err, workset.ErrInvalidInput, "metrics with a func")
	if !strings.Contains(err.Error(), "metrics.bad[0]") {
		e.t.Errorf("error %q does not name the path metrics.bad[0]", err)
	}
	if got := e.get("ws-vm"); got.State != workset.StateReady {
		e.t.Errorf("a refused transition moved the workset to %s", got.State)
	}
}

// A list by customer returns exactly that customer's worksets, every page
// followed, with and without a state; stores without attributes refuse it.
func testListByCustomer(e *env) {
	if !e.caps.Kept.Metadata {
		_, err := e.s.List(e.ctx, workset.ListQuery{Customer: "c1"})
		wantErr(e.t, err, workset.ErrUnsupported, "list by customer on a store without attributes")
		return
	}
	want := map[string]map[string]bool{}
	for i := range 13 {
		id, cust := fmt.Sprintf("ws-cu-%02d", i), fmt.Sprintf("c%d", i%3)
		attrs := map[string]any{storekit.AttrCustomerID: cust}
		if i == 12 {
			attrs = nil // no customer at all
		}
		if _, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Attributes: attrs}); err != nil {
			e.t.Fatal(err)
		}
		if attrs != nil {
			if want[cust] == nil {
				want[cust] = map[string]bool{}
			}
			want[cust][id] = true
		}
	}
	e.transition(workset.TransitionRequest{ID: "ws-cu-00", To: workset.StateInProgress})
	for _, q := range []workset.ListQuery{{Customer: "c0", Limit: 2}, {Customer: "c1", Limit: 1}, {Customer: "c0", State: workset.StateReady, Limit: 2}, {Customer: "nobody", Limit: 5}} {
		got := map[string]bool{}
		for _, w := range e.collect(q) {
			if got[w.ID] {
				e.t.Errorf("%+v: %s listed twice", q, w.ID)
			}
			got[w.ID] = true
		}
		exp := map[string]bool{}
		for id := range want[q.Customer] {
			if q.State == "" || id != "ws-cu-00" {
				exp[id] = true
			}
		}
		if d := cmp.Diff(exp, got); d != "" {
			e.t.Errorf("list %+v (-want +got):\n%s", q, d)
		}
	}
}

func testDelete(e *env) {
	d, ok := e.s.(workset.Deleter)
	e.skipUnless(ok, "store does not implement workset.Deleter")
	w := e.register("ws-del", "")
	if e.caps.Kept.Versions {
		wantErr(e.t, d.Delete(e.ctx, "ws-del", w.Version+1), workset.ErrConflict, "delete at wrong version")
	}
	if err := d.Delete(e.ctx, "ws-del", 0); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.s.Get(e.ctx, "ws-del")
	wantErr(e.t, err, workset.ErrNotFound, "Get after delete")
	wantErr(e.t, d.Delete(e.ctx, "ws-del", 0), workset.ErrNotFound, "second delete")
	if got := e.collect(workset.ListQuery{Limit: 10}); len(got) != 0 {
		e.t.Errorf("deleted workset still listed: %d", len(got))
	}
}

func testRecordFailure(e *env) {
	e.skipUnless(e.caps.Kept.Retries, "retry counts are not stored")
	e.register("ws-f", "")
	e.register("ws-p", "")
	l, err := e.s.AcquireLease(e.ctx, "ws-f", "m", time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	var last time.Time
	for i := 1; i <= 4; i++ {
		e.transition(workset.TransitionRequest{ID: "ws-f", To: workset.StateInProgress, Lease: l})
		w, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-f", Lease: l, Category: workset.CategoryTransient, Step: "align", Details: "exit 137"}, e.clock.Now())
		if err != nil {
			e.t.Fatalf("failure %d: %v", i, err)
		}
		if i <= retry.DefaultMaxRetries {
			if w.State != workset.StateRetrying || w.RetryCount != i || !w.RetryAfter.After(last) || w.FailedStep != "align" || w.ErrorCategory != workset.CategoryTransient {
				e.t.Fatalf("failure %d: %s count %d after %v step %q", i, w.State, w.RetryCount, w.RetryAfter, w.FailedStep)
			}
			last = w.RetryAfter
			// Not due before its time; due after.
			for w, err := range retry.Due(e.ctx, e.s, e.clock.Now()) {
				if err != nil || w.ID == "ws-f" {
					e.t.Fatalf("ws-f due before its retry time (%v)", err)
				}
			}
			e.clock.Advance(retry.Delay(i) + time.Second)
			due := 0
			for w, err := range retry.Due(e.ctx, e.s, e.clock.Now()) {
				if err != nil {
					e.t.Fatal(err)
				}
				if w.ID == "ws-f" {
					due++
				}
			}
			if due != 1 {
				e.t.Fatalf("ws-f not due after its retry time")
			}
		} else if w.State != workset.StateFailed || w.RetryCount != retry.DefaultMaxRetries {
			e.t.Fatalf("past the limit: %s count %d, want failed", w.State, w.RetryCount)
		}
	}
	w, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: workset.CategoryPermanent}, e.clock.Now())
	if err == nil {
		e.t.Fatalf("ready -> failed should be refused by the graph, got %s", w.State)
	}
	e.transition(workset.TransitionRequest{ID: "ws-p", To: workset.StateInProgress})
	if w, err = retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: workset.CategoryPermanent}, e.clock.Now()); err != nil || w.State != workset.StateFailed || w.RetryCount != 0 {
		e.t.Fatalf("permanent failure: %+v, %v", w, err)
	}
	_, err = retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: "cosmic"}, e.clock.Now())
	wantErr(e.t, err, workset.ErrInvalidInput, "unknown category")
}

// testRecordFailureRace: concurrent failures of one workset never lose an
// increment.
func testRecordFailureRace(e *env) {
	e.skipUnless(e.caps.Kept.Retries && e.caps.Kept.Versions, "retry counts are not stored")
	e.register("ws-fr", "")
	e.transition(workset.TransitionRequest{ID: "ws-fr", To: workset.StateInProgress})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-fr", Category: workset.CategoryTransient}, e.clock.Now()); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	// in_progress -> retrying once; retrying -> retrying is refused by the graph,
	// so exactly one failure applies and the count is 1.
	if w := e.get("ws-fr"); ok.Load() != 1 || w.RetryCount != 1 {
		e.t.Fatalf("%d failures applied, count %d; want 1 and 1", ok.Load(), w.RetryCount)
	}
}
