package dynamostore_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/deployed"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// The deployed Python monitors and Go monitors share one table during a
// migration. These tests play the deployed lock protocol byte for byte
// (internal/deployed) between every Go lease and transition path.

type sideBySide struct {
	t     *testing.T
	clock *storetest.Clock
	st    *dynamostore.Store
	py    func(owner string) *deployed.Monitor
}

func newSideBySide(t *testing.T) *sideBySide {
	clock := storetest.NewClock(time.Date(2026, 6, 1, 12, 0, 0, 123456000, time.UTC))
	st, _, c := newStore(t, clock)
	return &sideBySide{t: t, clock: clock, st: st, py: func(owner string) *deployed.Monitor {
		return &deployed.Monitor{Client: c, Table: st.Table(), Owner: owner, Now: clock.Now}
	}}
}

func (e *sideBySide) register(id string) {
	e.t.Helper()
	if _, err := e.st.Register(e.t.Context(), workset.RegisterRequest{ID: id}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *sideBySide) pyAcquire(m *deployed.Monitor, id string, force bool) {
	e.t.Helper()
	ok, err := m.AcquireLock(e.t.Context(), id, force)
	if err != nil || !ok {
		e.t.Fatalf("python %s acquire_lock(%s, force=%v) = %v, %v; want acquired", m.Owner, id, force, ok, err)
	}
}

// wantHeldBy checks that err refuses a Go call because owner holds the lock.
func (e *sideBySide) wantHeldBy(what string, err error, owner string) {
	e.t.Helper()
	var held *workset.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != owner {
		e.t.Fatalf("%s: %v; want the lock reported held by %q", what, err, owner)
	}
}

func (e *sideBySide) wantLost(what string, err error) {
	e.t.Helper()
	if !errors.Is(err, workset.ErrLeaseLost) {
		e.t.Fatalf("%s: %v; want ErrLeaseLost", what, err)
	}
}

// The sequence: a Go lease expires, a Python monitor takes it over
// (touching only the deployed lock attributes), and from then on no Go path may
// act as if the stale Go attributes still described the lock.
func TestSideBySidePythonTakesOverExpiredGoLease(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	e.register("ws")
	a, err := e.st.AcquireLease(ctx, "ws", "go-a", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second) // go-a's lease expired (skew margin included)
	py := e.py("host-py-1")
	e.pyAcquire(py, "ws", false)

	// Every Go path sees the Python lock for what it is.
	_, err = e.st.AcquireLease(ctx, "ws", "go-b", time.Minute)
	e.wantHeldBy("go-b AcquireLease over a live Python lock", err, "host-py-1")
	_, err = e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress})
	e.wantHeldBy("unleased Transition under a live Python lock", err, "host-py-1")
	_, err = e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress, Lease: a})
	e.wantLost("go-a's fenced Transition after the takeover", err)
	_, err = e.st.RenewLease(ctx, *a, time.Minute)
	e.wantLost("go-a's RenewLease after the takeover", err)
	e.wantLost("go-a's ReleaseLease after the takeover", e.st.ReleaseLease(ctx, *a))
	w, err := e.st.Get(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if w.Lease == nil || w.Lease.Owner != "host-py-1" || w.Lease.Token != 0 || w.Lease.Expired(e.clock.Now(), 0) {
		t.Fatalf("Get shows lease %+v; want host-py-1's live lock (token 0)", w.Lease)
	}
	if ok, err := py.RefreshLock(ctx, "ws"); !ok || err != nil {
		t.Fatalf("python refresh_lock after the Go attempts: %v, %v; want refreshed", ok, err)
	}

	// Python releases and locks afresh: still not Go's.
	if ok, err := py.ReleaseLock(ctx, "ws"); !ok || err != nil {
		t.Fatalf("python release_lock: %v, %v", ok, err)
	}
	py2 := e.py("host-py-2")
	e.pyAcquire(py2, "ws", false)
	_, err = e.st.AcquireLease(ctx, "ws", "go-b", time.Minute)
	e.wantHeldBy("go-b AcquireLease over a fresh Python lock", err, "host-py-2")
	_, err = e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateIgnored})
	e.wantHeldBy("unleased Transition under a fresh Python lock", err, "host-py-2")

	// Once Python lets go, Go leases again with a larger token.
	if ok, err := py2.ReleaseLock(ctx, "ws"); !ok || err != nil {
		t.Fatalf("python release_lock: %v, %v", ok, err)
	}
	b, err := e.st.AcquireLease(ctx, "ws", "go-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b.Token <= a.Token {
		t.Errorf("token after the Python interlude %d, want > %d", b.Token, a.Token)
	}
	if ok, _ := py.AcquireLock(ctx, "ws", false); ok {
		t.Fatal("python acquired a workset go-b holds")
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress, Lease: b}); err != nil {
		t.Fatal(err)
	}
}

// A Python monitor that judged a Go lease stale just before a late Go renewal
// must not land its takeover afterwards: its condition is lock_acquired_at =
// the value it read, so the renewal moves lock_acquired_at, as the deployed
// refresh_lock does (issue 23, 2). Otherwise the renewal reports success and
// two holders run the workset.
func TestSideBySideRenewalBeatsAStaleJudgement(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	e.register("ws")
	a, err := e.st.AcquireLease(ctx, "ws", "go-a", 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Second)
	py := e.py("host-py-1")
	pyClock := e.clock.Now().Add(time.Minute) // a Python host whose judgement came late
	py.Now = func() time.Time { return pyClock }
	var renewed *workset.Lease
	py.BeforeWrite = func() {
		if renewed, err = e.st.RenewLease(ctx, *a, 30*time.Second); err != nil {
			t.Errorf("Go renewal: %v", err)
		}
	}
	ok, err := py.AcquireLock(ctx, "ws", false)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Fatal("the Python takeover landed after the Go renewal reported success: two live holders")
	}
	w, err := e.st.Get(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if w.Lease == nil || w.Lease.Owner != "go-a" || w.Lease.Token != a.Token || !w.Lease.ExpiresAt.Equal(renewed.ExpiresAt) {
		t.Fatalf("lock after the race %+v; want go-a's renewed lease", w.Lease)
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress, Lease: renewed}); err != nil {
		t.Fatalf("the renewed holder's fenced write: %v", err)
	}
}

// force pre-emption by a Python monitor steals a live Go lease: the Go holder
// is fenced off at once.
func TestSideBySidePythonForcePreemptsGoLease(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	e.register("ws")
	a, err := e.st.AcquireLease(ctx, "ws", "go-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.pyAcquire(e.py("host-py-urgent"), "ws", true)
	_, err = e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress, Lease: a})
	e.wantLost("go-a's Transition after a forced pre-emption", err)
	_, err = e.st.RenewLease(ctx, *a, time.Hour)
	e.wantLost("go-a's RenewLease after a forced pre-emption", err)
	_, err = e.st.AcquireLease(ctx, "ws", "go-a", time.Hour)
	e.wantHeldBy("go-a re-acquiring", err, "host-py-urgent")
}

// Go takes over a stale Python lock (by its timestamps); Python's holder can
// then no longer refresh or release it, and Python refuses the live Go lease.
func TestSideBySideGoTakesOverStalePythonLock(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	e.register("ws")
	py := e.py("host-py-1")
	e.pyAcquire(py, "ws", false)
	_, err := e.st.AcquireLease(ctx, "ws", "go-a", time.Minute)
	e.wantHeldBy("acquire over a live Python lock", err, "host-py-1")
	e.clock.Advance(deployed.LockTimeout + 2*time.Second)
	a, err := e.st.AcquireLease(ctx, "ws", "go-a", time.Minute)
	if err != nil {
		t.Fatalf("taking over a stale Python lock: %v", err)
	}
	if ok, _ := py.RefreshLock(ctx, "ws"); ok {
		t.Error("python refreshed a lock Go took over")
	}
	if ok, _ := e.py("host-py-2").AcquireLock(ctx, "ws", false); ok {
		t.Error("python acquired over a live Go lease")
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateInProgress, Lease: a}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ReleaseLease(ctx, *a); err != nil {
		t.Fatal(err)
	}
}

// The deployed non-lock writes (update_state, record_failure, archive,
// restore) between Go calls: nothing either side wrote is lost, and Go reads
// the bookkeeping the deployed code keeps.
func TestSideBySideDeployedWritesInterleaved(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	e.register("ws")
	py := e.py("host-py-1")
	a, err := e.st.AcquireLease(ctx, "ws", "go-a", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The deployed update_state checks no lock (a defect there): the Go lease
	// survives it, and the Go holder can go on.
	if err := py.UpdateState(ctx, "ws", "in_progress", "python started it", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.RenewLease(ctx, *a, time.Hour); err != nil {
		t.Fatalf("renew after a deployed update_state: %v", err)
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateError, Lease: a, ErrorDetails: "exit 1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ReleaseLease(ctx, *a); err != nil {
		t.Fatal(err)
	}
	if state, err := py.RecordFailure(ctx, "ws", "align", "transient", "node lost"); err != nil || state != "retrying" {
		t.Fatalf("record_failure: %s, %v", state, err)
	}
	w, err := e.st.Get(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateRetrying || w.RetryCount != 1 || w.FailedStep != "align" || w.ErrorCategory != workset.CategoryTransient || w.RetryAfter.IsZero() {
		t.Fatalf("after record_failure: %+v", w)
	}
	if n := len(w.History); n != 4 || w.History[1].Reason != "python started it" {
		t.Fatalf("history %+v", w.History)
	}
	// Go leases a retrying workset; Python archives and restores around Go.
	b, err := e.st.AcquireLease(ctx, "ws", "go-b", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "ws", To: workset.StateFailed, Lease: b}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ReleaseLease(ctx, *b); err != nil {
		t.Fatal(err)
	}
	if err := py.Archive(ctx, "ws", "ops@example.org", "done with it"); err != nil {
		t.Fatal(err)
	}
	if err := py.Restore(ctx, "ws", "ops@example.org"); err != nil {
		t.Fatal(err)
	}
	w, err = e.st.Get(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateReady || w.Attributes["restored_by"] != "ops@example.org" || w.Attributes["original_state"] != "failed" {
		t.Fatalf("after archive/restore: state %s, attributes %v", w.State, w.Attributes)
	}
	if _, ok := w.Attributes["archived_at"]; ok {
		t.Errorf("restore left archived_at: %v", w.Attributes)
	}
	if _, err := e.st.AcquireLease(ctx, "ws", "go-c", time.Hour); err != nil {
		t.Fatalf("leasing a restored workset: %v", err)
	}
}

// raceRound runs one round of claimers over worksets ws-00.. ws-(n-1): per
// claimer, a Go goroutine calling goClaim in one order and a replayed Python
// monitor calling acquire_lock in the other. It returns, per workset, every
// owner that believed it won.
func (e *sideBySide) raceRound(round, worksets, claimers int, goClaim func(id, owner string) error) map[string][]string {
	ctx := e.t.Context()
	var mu sync.Mutex
	winners := map[string][]string{}
	won := func(id, owner string) {
		mu.Lock()
		winners[id] = append(winners[id], owner)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for c := range claimers {
		goOwner, pyOwner := fmt.Sprintf("go-%d-%d", round, c), fmt.Sprintf("host-py-%d-%d", round, c)
		py := e.py(pyOwner)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range worksets {
				id := fmt.Sprintf("ws-%02d", (i+c)%worksets)
				if goClaim(id, goOwner) == nil {
					won(id, goOwner)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range worksets {
				id := fmt.Sprintf("ws-%02d", (worksets-1-i+c)%worksets)
				ok, err := py.AcquireLock(ctx, id, false)
				if err != nil {
					e.t.Error(err)
					return
				}
				if ok {
					won(id, pyOwner)
				}
			}
		}()
	}
	wg.Wait()
	return winners
}

// Many Go and "Python" claimers race over worksets whose locks (Go leases and
// Python locks alike) have all expired, round after round. In every round each
// workset must have at most one claimer that believes it holds it, and the
// table must name that one.
func TestSideBySideClaimRace(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	const worksets, claimers, rounds = 12, 3, 8
	for i := range worksets {
		e.register(fmt.Sprintf("ws-%02d", i))
	}
	doubles, goWins, pyWins, refusedWrongHolder := 0, 0, 0, 0
	for round := range rounds {
		e.clock.Advance(deployed.LockTimeout + time.Minute) // every lock of the last round is stale
		winners := e.raceRound(round, worksets, claimers, func(id, owner string) error {
			_, err := e.st.AcquireLease(ctx, id, owner, 10*time.Minute)
			return err
		})
		for i := range worksets {
			id := fmt.Sprintf("ws-%02d", i)
			ws := winners[id]
			if len(ws) > 1 {
				doubles++
				t.Errorf("round %d: %s held by %v at once", round, id, ws)
				continue
			}
			if len(ws) == 0 {
				continue // possible when every claimer met a lock taken in the same instant and retried nothing
			}
			if ws[0][:2] == "go" {
				goWins++
			} else {
				pyWins++
			}
			w, err := e.st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if w.Lease == nil || w.Lease.Owner != ws[0] {
				t.Errorf("round %d: %s stored holder %+v, want %s", round, id, w.Lease, ws[0])
			}
			// A refused Go caller is told the real holder.
			_, err = e.st.AcquireLease(ctx, id, "go-late", time.Minute)
			var held *workset.LeaseHeldError
			if !errors.As(err, &held) || held.Owner != ws[0] {
				refusedWrongHolder++
				t.Errorf("round %d: %s late acquire: %v, want held by %s", round, id, err, ws[0])
			}
		}
	}
	t.Logf("%d rounds × %d worksets, %d Go and %d Python claimers: %d Go wins, %d Python wins, %d double holders, %d refusals naming the wrong holder",
		rounds, worksets, claimers, claimers, goWins, pyWins, doubles, refusedWrongHolder)
	if goWins == 0 || pyWins == 0 {
		t.Errorf("one side never won (%d Go, %d Python): the race did not race", goWins, pyWins)
	}
}

// Archive, restore and delete keep the deployed bookkeeping, both ways: what Go
// writes has the attributes the deployed code writes, and each side restores
// what the other archived.
func TestSideBySideLifecycleBookkeeping(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	py := e.py("host-py-1")
	for _, id := range []string{"go-arch", "py-arch"} {
		e.register(id)
		if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete}); err != nil {
			t.Fatal(err)
		}
	}
	goW, err := workset.Archive(ctx, e.st, "go-arch", "ops@example.org", "quarterly cleanup")
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Archive(ctx, "py-arch", "ops@example.org", "quarterly cleanup"); err != nil {
		t.Fatal(err)
	}
	pyW, err := e.st.Get(ctx, "py-arch")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []*workset.Workset{goW, pyW} {
		a := w.Attributes
		if w.State != workset.StateArchived || a["archived_by"] != "ops@example.org" || a["archive_reason"] != "quarterly cleanup" ||
			a["original_state"] != "complete" || a["archived_at"] == nil {
			t.Errorf("%s archived: state %s, attributes %v", w.ID, w.State, a)
		}
	}
	// Each side restores what the other archived.
	if err := py.Restore(ctx, "go-arch", "ops@example.org"); err != nil {
		t.Fatalf("python restores a Go-archived workset: %v", err)
	}
	restored, err := workset.Restore(ctx, e.st, "py-arch", "ops@example.org", "needed again")
	if err != nil {
		t.Fatal(err)
	}
	goRestored, err := e.st.Get(ctx, "go-arch")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []*workset.Workset{restored, goRestored} {
		a := w.Attributes
		if w.State != workset.StateReady || a["restored_by"] != "ops@example.org" || a["restored_at"] == nil || a["archived_at"] != nil || a["archive_reason"] != nil {
			t.Errorf("%s restored: state %s, attributes %v", w.ID, w.State, a)
		}
	}
	// Delete (soft) from archived.
	if _, err := workset.Archive(ctx, e.st, "go-arch", "ops", ""); err == nil {
		t.Fatal("archived a ready workset: the graph allows archive only from complete, failed or ignored")
	}
	if _, err := e.st.Transition(ctx, workset.TransitionRequest{ID: "go-arch", To: workset.StateIgnored}); err != nil {
		t.Fatal(err)
	}
	if _, err := workset.Archive(ctx, e.st, "go-arch", "ops", "ignored"); err != nil {
		t.Fatal(err)
	}
	del, err := workset.MarkDeleted(ctx, e.st, "go-arch", "ops", "retention")
	if err != nil {
		t.Fatal(err)
	}
	if a := del.Attributes; del.State != workset.StateDeleted || a["deleted_by"] != "ops" || a["delete_reason"] != "retention" || a["deleted_at"] == nil {
		t.Errorf("deleted: %s %v", del.State, a)
	}
}

// Go monitors claiming in one write (workset.Claim) race deployed Python
// monitors acquiring locks, first on fresh worksets, then, after every lock
// went stale, on the ones Python holds: no workset ever has two holders, a
// Go claim over a live Python lock is refused naming it, and one over a
// stale one takes it over.
func TestSideBySideOneWriteClaims(t *testing.T) {
	t.Parallel()
	e := newSideBySide(t)
	ctx := t.Context()
	const worksets, claimers = 16, 3
	for i := range worksets {
		e.register(fmt.Sprintf("ws-%02d", i))
	}
	goWins, pyWins := 0, 0
	for round := range 2 {
		if round == 1 {
			e.clock.Advance(deployed.LockTimeout + time.Minute) // every Python lock is stale
		}
		winners := e.raceRound(round, worksets, claimers, func(id, owner string) error {
			_, err := workset.Claim(ctx, e.st, workset.ClaimRequest{ID: id, Owner: owner, TTL: 10 * time.Minute})
			if err != nil && !errors.Is(err, workset.ErrLeaseHeld) && !errors.Is(err, workset.ErrNotLeasable) && !errors.Is(err, workset.ErrConflict) {
				t.Errorf("claim %s: %v", id, err)
			}
			return err
		})
		for id, ws := range winners {
			if len(ws) > 1 {
				t.Errorf("round %d: %s held by %v at once", round, id, ws)
				continue
			}
			w, err := e.st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if w.Lease == nil || w.Lease.Owner != ws[0] {
				t.Errorf("round %d: %s stored holder %+v, want %s", round, id, w.Lease, ws[0])
			}
			if ws[0][:2] == "go" {
				goWins++
				if w.State != workset.StateInProgress {
					t.Errorf("round %d: %s claimed by Go is %s", round, id, w.State)
				}
				continue
			}
			pyWins++
			_, err = workset.Claim(ctx, e.st, workset.ClaimRequest{ID: id, Owner: "go-late", TTL: time.Minute})
			e.wantHeldBy(fmt.Sprintf("round %d: claim of %s over a live Python lock", round, id), err, ws[0])
		}
	}
	t.Logf("2 rounds × %d worksets, %d Go and %d Python claimers: %d Go claims, %d Python locks", worksets, claimers, claimers, goWins, pyWins)
	if goWins == 0 || pyWins == 0 {
		t.Errorf("one side never won (%d Go, %d Python): the race did not race", goWins, pyWins)
	}
}
