package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

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

// Claim (the store's own, or the two-step fallback) leases a queued workset and
// starts it together; it refuses a workset someone holds or one outside the
// queue, changing nothing, and of concurrent claims exactly one wins.
func testClaim(e *env) {
	e.register("ws-cl", workset.PriorityNormal)
	w, err := workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-cl", Owner: "a", TTL: time.Minute})
	if err != nil {
		e.t.Fatalf("Claim of a ready workset: %v", err)
	}
	if w.State != workset.StateInProgress || w.Lease == nil || w.Lease.Owner != "a" || w.Lease.Token < 1 {
		e.t.Fatalf("claimed record: state %s, lease %+v", w.State, w.Lease)
	}
	if e.caps.Kept.History {
		if h := w.History[len(w.History)-1]; h.State != workset.StateInProgress || h.Reason != "claimed by a" {
			e.t.Errorf("claim's history entry: %+v", h)
		}
	}
	before := e.get("ws-cl")
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-cl", Owner: "b", TTL: time.Minute})
	wantErr(e.t, err, workset.ErrLeaseHeld, "claim of a workset another owner holds")
	e.unchanged(before, "a refused claim")
	// The claimed lease fences the work that follows.
	e.transition(workset.TransitionRequest{ID: "ws-cl", To: workset.StateComplete, Lease: w.Lease})
	if err := e.s.ReleaseLease(e.ctx, *w.Lease); err != nil {
		e.t.Fatal(err)
	}
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-cl", Owner: "b", TTL: time.Minute})
	wantErr(e.t, err, workset.ErrNotLeasable, "claim of a complete workset")
	if got := e.get("ws-cl"); got.State != workset.StateComplete || (got.Lease != nil && got.Lease.Owner == "b") {
		e.t.Errorf("a refused claim left %s with lease %+v", got.State, got.Lease)
	}
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "missing", Owner: "b", TTL: time.Minute})
	wantErr(e.t, err, workset.ErrNotFound, "claim of a missing workset")
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-cl", Owner: "", TTL: time.Minute})
	wantErr(e.t, err, workset.ErrInvalidInput, "claim without an owner")

	// A keyed claim whose reply was lost is retried with its key: the retry
	// returns the claim it made, once; another key is a new claim, refused.
	e.register("ws-ck", workset.PriorityNormal)
	first, err := workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-ck", Owner: "a", TTL: time.Minute, IdempotencyKey: "claim-1"})
	if err != nil {
		e.t.Fatalf("keyed Claim: %v", err)
	}
	again, err := workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-ck", Owner: "a", TTL: time.Minute, IdempotencyKey: "claim-1"})
	if err != nil {
		e.t.Fatalf("retry of an applied keyed Claim: %v; want the claim it made", err)
	}
	if again.State != workset.StateInProgress || again.Lease == nil || again.Lease.Owner != "a" || again.Lease.Token != first.Lease.Token {
		e.t.Fatalf("retried claim returned state %s lease %+v; want in_progress under the first claim's lease %+v", again.State, again.Lease, first.Lease)
	}
	if e.caps.Kept.History {
		n := 0
		for _, h := range e.get("ws-ck").History {
			if h.State == workset.StateInProgress {
				n++
			}
		}
		if n != 1 {
			e.t.Errorf("the retried claim applied %d times, want once", n)
		}
	}
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-ck", Owner: "a", TTL: time.Minute, IdempotencyKey: "claim-2"})
	wantErr(e.t, err, workset.ErrNotLeasable, "a new claim (another key) of a workset in_progress")

	// A retrying workset is in the queue too.
	e.register("ws-cr", workset.PriorityNormal)
	e.transition(workset.TransitionRequest{ID: "ws-cr", To: workset.StateInProgress})
	e.transition(workset.TransitionRequest{ID: "ws-cr", To: workset.StateRetrying, Retry: &workset.RetryInfo{Count: 1, After: e.clock.Now()}})
	if w, err := workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-cr", Owner: "c", TTL: time.Minute}); err != nil || w.State != workset.StateInProgress {
		e.t.Errorf("claim of a retrying workset: %v, %v", w, err)
	}

	if !e.caps.Guarantees.AtomicLeases {
		return
	}
	e.register("ws-race", workset.PriorityNormal)
	var wins, held atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-race", Owner: fmt.Sprintf("m%d", i), TTL: time.Minute})
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, workset.ErrLeaseHeld), errors.Is(err, workset.ErrNotLeasable), errors.Is(err, workset.ErrConflict):
				held.Add(1)
			default:
				e.t.Errorf("concurrent claim: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		e.t.Errorf("%d of 8 concurrent claims won, want exactly 1", wins.Load())
	}
	if got := e.get("ws-race"); got.State != workset.StateInProgress || got.Lease == nil {
		e.t.Errorf("after the race: %s, lease %+v", got.State, got.Lease)
	}
}

// testForeignWork: a workset another tool works on (here imported as such,
// the way the Migrator copies a legacy monitor's daylily.in_progress) reads as
// Foreign, keeps that through reads, and its expired lease is never taken
// over; the first write of this SDK that sets the state clears it.
func testForeignWork(e *env) {
	imp, ok := e.s.(workset.Importer)
	ok = ok && workset.Has[workset.Importer](e.s)
	e.skipUnless(ok, "store does not implement workset.Importer")
	own := e.register("ws-own", "")
	if own.Foreign || own.ForeignWork() {
		e.t.Fatalf("a record this SDK registered reads as foreign: %+v", own)
	}
	e.register("ws-f", "")
	l, err := e.s.AcquireLease(e.ctx, "ws-f", "sdk-worker", 30*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	rec := e.get("ws-f")
	rec.State, rec.Foreign = workset.StateInProgress, true
	if _, err := imp.Import(e.ctx, workset.ImportRequest{Workset: rec, Reason: "imported from a legacy monitor's layout"}); err != nil {
		e.t.Fatalf("Import of a foreign in_progress record: %v", err)
	}
	got := e.get("ws-f")
	if got.State != workset.StateInProgress || !got.Foreign || !got.ForeignWork() {
		e.t.Fatalf("imported foreign record reads state %s Foreign=%v ForeignWork=%v; want in_progress, true, true", got.State, got.Foreign, got.ForeignWork())
	}
	// Long past every lease bound: the lease that is left proves nothing about
	// the tool that wrote the state, so no one takes it over.
	e.clock.Advance(24 * time.Hour)
	before := e.get("ws-f")
	_, err = e.s.AcquireLease(e.ctx, "ws-f", "another-monitor", time.Minute)
	wantErr(e.t, err, workset.ErrNotLeasable, "takeover of an expired lease on foreign work")
	_, err = workset.Claim(e.ctx, e.s, workset.ClaimRequest{ID: "ws-f", Owner: "another-monitor", TTL: time.Minute})
	if err == nil {
		e.t.Fatal("Claim of foreign work succeeded")
	}
	e.unchanged(before, "the refused takeover")
	// An explicit transition of this SDK (an operator's, say) decides.
	moved := e.transition(workset.TransitionRequest{ID: "ws-f", To: workset.StateRetrying, Force: true, Reason: "operator: the legacy run stopped"})
	if moved.Foreign || e.get("ws-f").Foreign {
		e.t.Fatalf("a state this SDK wrote still reads as foreign")
	}
	_ = l
	// An import of a record of this SDK's own stays its own.
	rec = e.get("ws-own")
	rec.State = workset.StateInProgress
	if _, err := imp.Import(e.ctx, workset.ImportRequest{Workset: rec}); err != nil {
		e.t.Fatal(err)
	}
	if e.get("ws-own").Foreign {
		e.t.Fatal("import of a record that is not foreign reads as foreign")
	}
}
