package storetest

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// recorder is a testing.TB that records what a check reports instead of
// failing the test that runs it: the suite's own tests run a check against a
// store that breaks its promise and assert that the check fails.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	failures []string
	skipped  bool
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}
func (r *recorder) Error(args ...any)                 { r.Errorf("%s", fmt.Sprint(args...)) }
func (r *recorder) Fatalf(format string, args ...any) { r.Errorf(format, args...); runtime.Goexit() }
func (r *recorder) Fatal(args ...any)                 { r.Error(args...); runtime.Goexit() }
func (r *recorder) Fail()                             { r.Errorf("Fail") }
func (r *recorder) FailNow()                          { r.Fail(); runtime.Goexit() }
func (r *recorder) Failed() bool                      { r.mu.Lock(); defer r.mu.Unlock(); return len(r.failures) > 0 }
func (r *recorder) Skipf(string, ...any)              { r.skipped = true; runtime.Goexit() }
func (r *recorder) Skip(...any)                       { r.skipped = true; runtime.Goexit() }
func (r *recorder) SkipNow()                          { r.skipped = true; runtime.Goexit() }

// check runs one behaviour of the suite against s and returns what it reported.
func check(t *testing.T, fn func(*env), s workset.StateStore, clock *Clock) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(&env{t: r, ctx: t.Context(), s: s, clock: clock, caps: s.Capabilities()})
	}()
	<-done
	return r
}

func newMem(t *testing.T, clock *Clock) *memstore.Store {
	s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Stores that each break one documented promise, as a store written from the
// docs in a few minutes did (issue 27). The check of that promise must fail on
// them; the same check passes on memstore (its conformance test).

// ignoresKeys drops TransitionRequest.IdempotencyKey.
type ignoresKeys struct{ *memstore.Store }

func (s ignoresKeys) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	req.IdempotencyKey = ""
	return s.Store.Transition(ctx, req)
}

// offsetCursors pages by position in the current result, so worksets that
// leave the queue between pages make it skip others.
type offsetCursors struct{ *memstore.Store }

func (s offsetCursors) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	off, _ := strconv.Atoi(q.Cursor)
	limit := q.Limit
	var all []*workset.Workset
	for w, err := range workset.All(ctx, s.Store, workset.ListQuery{State: q.State, Priority: q.Priority, Limit: workset.MaxPageSize}) {
		if err != nil {
			return nil, err
		}
		all = append(all, w)
	}
	p := &workset.Page{}
	if off < len(all) {
		p.Worksets = all[off:min(len(all), off+limit)]
	}
	if off+limit < len(all) {
		p.Cursor = strconv.Itoa(off + limit)
	}
	return p, nil
}

// leaseWritesKeepVersion reports versions that lease writes never bumped.
type leaseWritesKeepVersion struct {
	*memstore.Store
	mu     sync.Mutex
	leases map[string]int64
}

func (s *leaseWritesKeepVersion) count(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leases == nil {
		s.leases = map[string]int64{}
	}
	s.leases[id]++
}

func (s *leaseWritesKeepVersion) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	s.count(id)
	return s.Store.AcquireLease(ctx, id, owner, ttl)
}

func (s *leaseWritesKeepVersion) RenewLease(ctx context.Context, l workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	s.count(l.WorksetID)
	return s.Store.RenewLease(ctx, l, ttl)
}

func (s *leaseWritesKeepVersion) ReleaseLease(ctx context.Context, l workset.Lease) error {
	s.count(l.WorksetID)
	return s.Store.ReleaseLease(ctx, l)
}

func (s *leaseWritesKeepVersion) Get(ctx context.Context, id string) (*workset.Workset, error) {
	w, err := s.Store.Get(ctx, id)
	if err == nil {
		s.mu.Lock()
		w.Version -= s.leases[id]
		s.mu.Unlock()
	}
	return w, err
}

// checkThenWrite checks ExpectedState and ExpectedVersion on a read, then
// writes without them: two writers can both pass the check.
type checkThenWrite struct{ *memstore.Store }

func (s checkThenWrite) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	if req.ExpectedState != "" || req.ExpectedVersion != 0 {
		cur, err := s.Store.Get(ctx, req.ID)
		if err != nil {
			return nil, err
		}
		if err := storekit.CheckImportReplace(cur, workset.ImportRequest{ExpectedState: req.ExpectedState, ExpectedVersion: req.ExpectedVersion}); err != nil {
			return nil, err
		}
		time.Sleep(2 * time.Millisecond) // the window every check-then-write has
		req.ExpectedState, req.ExpectedVersion = "", 0
		req.Force = true // whatever the graph says now: the check said yes
	}
	return s.Store.Transition(ctx, req)
}

// noteByForce takes the tempting shortcut for a note: a forced move to the
// state the workset is in, which marks the entry forced and clears the mark
// of another tool's work.
type noteByForce struct{ *memstore.Store }

func (s noteByForce) Note(ctx context.Context, id, reason string) (*workset.Workset, error) {
	w, err := s.Store.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.Store.Transition(ctx, workset.TransitionRequest{ID: id, To: w.State, Force: true, Reason: reason})
}

func TestBrokenStoresFailTheirChecks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fn    func(*env)
		store func(*memstore.Store) workset.StateStore
	}{
		{"IgnoresIdempotencyKeys", testIdempotencyKeys, func(m *memstore.Store) workset.StateStore { return ignoresKeys{m} }},
		{"OffsetCursors", testCursorsWhileClaiming, func(m *memstore.Store) workset.StateStore { return offsetCursors{m} }},
		{"LeaseWritesKeepTheVersion", testLeaseWritesBumpVersion, func(m *memstore.Store) workset.StateStore { return &leaseWritesKeepVersion{Store: m} }},
		{"ChecksThenWrites", testExpectationsUnderRaces, func(m *memstore.Store) workset.StateStore { return checkThenWrite{m} }},
		{"NotesByForce", testNote, func(m *memstore.Store) workset.StateStore { return noteByForce{m} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(Start)
			honest := check(t, tc.fn, newMem(t, clock), clock)
			if honest.Failed() || honest.skipped {
				t.Fatalf("the check fails (or skips) on memstore itself: %v", honest.failures)
			}
			clock = NewClock(Start)
			r := check(t, tc.fn, tc.store(newMem(t, clock)), clock)
			if !r.Failed() {
				t.Fatalf("the check passed a store that breaks its promise")
			}
			t.Logf("the check caught it: %s", r.failures[0])
		})
	}
}
