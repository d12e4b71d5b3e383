package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func mem(t testing.TB) *memstore.Store {
	s, err := memstore.New(func(o *memstore.Options) { o.Clock = storetest.NewClock(storetest.Start) })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// counting counts the writes that reach a store.
type counting struct {
	workset.StateStore
	imports atomic.Int64
	// before, when set, runs before each Import (a concurrent monitor).
	before func(id string)
}

func (c *counting) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	c.imports.Add(1)
	if c.before != nil {
		c.before(req.Workset.ID)
	}
	return c.StateStore.(workset.Importer).Import(ctx, req)
}

func (c *counting) GetMany(ctx context.Context, ids []string) (map[string]*workset.Workset, error) {
	return c.StateStore.(workset.BatchGetter).GetMany(ctx, ids)
}

func seed(t *testing.T, s workset.StateStore, n int, to func(i int) workset.State) {
	t.Helper()
	ctx := t.Context()
	for i := range n {
		id := fmt.Sprintf("ws-%04d", i)
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id, Priority: workset.Priorities()[i%3]}); err != nil {
			t.Fatal(err)
		}
		if st := to(i); st != workset.StateReady {
			if _, err := s.Transition(ctx, workset.TransitionRequest{ID: id, To: st, Force: true}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestPlanApplyVerifyRerun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, inner := mem(t), mem(t)
	dst := &counting{StateStore: inner}
	states := []workset.State{workset.StateReady, workset.StateComplete, workset.StateError, workset.StateInProgress}
	seed(t, src, 250, func(i int) workset.State { return states[i%4] })
	// The destination already has some: equal, a different state, an extra.
	seed(t, inner, 20, func(i int) workset.State {
		if i%2 == 0 {
			return states[i%4]
		}
		return workset.StateIgnored
	})
	if _, err := inner.Register(ctx, workset.RegisterRequest{ID: "only-in-dest"}); err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(src, dst, func(o *migrate.Options) { o.Concurrency, o.BatchSize = 4, 7 })
	if err != nil {
		t.Fatal(err)
	}
	var plan []migrate.Difference
	var mu sync.Mutex
	res, err := m.Plan(ctx, func(d migrate.Difference) error { mu.Lock(); plan = append(plan, d); mu.Unlock(); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if dst.imports.Load() != 0 {
		t.Fatal("Plan wrote")
	}
	if res.Seen != 250 || res.Kinds[migrate.MissingInDestination] != 230 || res.Kinds[migrate.Equal] != 10 || res.Kinds[migrate.StateDiffers] != 10 {
		t.Fatalf("plan kinds %+v (seen %d)", res.Kinds, res.Seen)
	}
	res, err = m.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[migrate.OutcomeCreated] != 230 || res.Outcomes[migrate.OutcomeUpdated] != 10 || len(res.Errors) != 0 {
		t.Fatalf("apply outcomes %+v, failures %v", res.Outcomes, res.Errors)
	}
	w, err := inner.Get(ctx, "ws-0100")
	if err != nil {
		t.Fatal(err)
	}
	if w.Metadata["migrated_from_s3"] != true || w.Priority != workset.PriorityNormal && w.Priority != workset.Priorities()[100%3] {
		t.Errorf("migrated record %+v", w)
	}
	if w.History[len(w.History)-1].Reason != migrate.DefaultReason {
		t.Errorf("history %+v", w.History)
	}
	// A rerun writes nothing.
	before := dst.imports.Load()
	res, err = m.Apply(ctx, nil)
	if err != nil || dst.imports.Load() != before || res.Outcomes[migrate.OutcomeUnchanged] != 250 {
		t.Fatalf("rerun: %+v, %v, %d writes", res, err, dst.imports.Load()-before)
	}
	res, err = m.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Discrepancies() != 1 || res.Kinds[migrate.MissingInSource] != 1 {
		t.Errorf("verify: %+v", res.Kinds)
	}
}

// A destination changed between the plan and the write is never overwritten
// under SkipAndReport; the policies resolve it otherwise.
func TestConflictPolicies(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy migrate.ConflictPolicy
		want   migrate.Outcome
		final  workset.State
	}{
		{migrate.SkipAndReport, migrate.OutcomeConflict, workset.StateFailed},
		{migrate.DestinationWins, migrate.OutcomeKept, workset.StateFailed},
		{migrate.SourceWins, migrate.OutcomeUpdated, workset.StateComplete},
	} {
		t.Run(fmt.Sprint(tc.policy), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			src, inner := mem(t), mem(t)
			seed(t, src, 3, func(int) workset.State { return workset.StateComplete })
			seed(t, inner, 3, func(int) workset.State { return workset.StateInProgress })
			monitor := func(id string) { // a live monitor moves the record first (once: failed stays failed)
				_, err := inner.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateFailed, Reason: "monitor"})
				if err != nil && !errors.Is(err, workset.ErrInvalidTransition) {
					t.Error(err) // called from the Migrator's workers: no Fatal
				}
			}
			dst := &counting{StateStore: inner, before: monitor}
			m, err := migrate.New(src, dst, func(o *migrate.Options) { o.OnConflict = tc.policy })
			if err != nil {
				t.Fatal(err)
			}
			res, err := m.Apply(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcomes[tc.want] != 3 {
				t.Errorf("outcomes %+v, want 3 × %s", res.Outcomes, tc.want)
			}
			for i := range 3 {
				w, err := inner.Get(ctx, fmt.Sprintf("ws-%04d", i))
				if err != nil {
					t.Fatal(err)
				}
				if w.State != tc.final {
					t.Errorf("%s ended %s, want %s", w.ID, w.State, tc.final)
				}
			}
		})
	}
}

// Transient failures are retried; permanent ones are reported per workset.
type flaky struct {
	workset.StateStore
	n atomic.Int64
}

func (f *flaky) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	if f.n.Add(1)%3 != 0 {
		return nil, errors.New("503 SlowDown")
	}
	if req.Workset.ID == "ws-0004" {
		return nil, fmt.Errorf("%w: bad record", workset.ErrInvalidInput)
	}
	return f.StateStore.(workset.Importer).Import(ctx, req)
}

func TestRetriesAndFailures(t *testing.T) {
	t.Parallel()
	src, inner := mem(t), mem(t)
	seed(t, src, 6, func(int) workset.State { return workset.StateReady })
	var last migrate.Progress
	m, err := migrate.New(src, &flaky{StateStore: inner}, func(o *migrate.Options) {
		o.Concurrency, o.RetryBase, o.Total = 1, time.Millisecond, 6
		o.OnProgress = func(p migrate.Progress) { last = p }
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[migrate.OutcomeCreated] != 5 || len(res.Errors) != 1 || res.Errors[0].WorksetID != "ws-0004" {
		t.Fatalf("outcomes %+v failures %+v", res.Outcomes, res.Errors)
	}
	if last.Done != 6 || last.Total != 6 {
		t.Errorf("final progress %+v", last)
	}
}

func TestCleanupOnlyVerified(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, dst := mem(t), mem(t)
	seed(t, src, 10, func(int) workset.State { return workset.StateComplete })
	m, err := migrate.New(src, dst, func(o *migrate.Options) { o.Clock = storetest.NewClock(storetest.Start) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Transition(ctx, workset.TransitionRequest{ID: "ws-0003", To: workset.StateReady, Force: true}); err != nil { // now differs
		t.Fatal(err)
	}
	for _, s := range []*memstore.Store{src, dst} { // ws-0005 back in the queue, then claimed
		if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "ws-0005", To: workset.StateReady, Force: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.AcquireLease(ctx, "ws-0005", "busy-monitor", time.Hour); err != nil { // being worked on
		t.Fatal(err)
	}
	res, err := m.Cleanup(ctx, true, nil)
	if err != nil || res.Outcomes[migrate.OutcomeDeleted] != 8 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if _, err := src.Get(ctx, "ws-0000"); err != nil {
		t.Fatal("dry run deleted")
	}
	res, err = m.Cleanup(ctx, false, nil)
	if err != nil || res.Outcomes[migrate.OutcomeDeleted] != 8 {
		t.Fatalf("cleanup: %+v, %v", res, err)
	}
	if _, err := src.Get(ctx, "ws-0003"); err != nil {
		t.Errorf("cleanup deleted an unverified workset: %v", err)
	}
	if _, err := src.Get(ctx, "ws-0005"); err != nil {
		t.Errorf("cleanup deleted a workset under a live lease: %v", err)
	}
	if _, err := src.Get(ctx, "ws-0000"); !errors.Is(err, workset.ErrNotFound) {
		t.Errorf("cleanup kept a verified workset: %v", err)
	}
}

// Two applies at once leave every workset created once, and neither reports
// the other's identical creates as conflicts.
func TestConcurrentAppliesAgree(t *testing.T) {
	t.Parallel()
	src, dst := mem(t), mem(t)
	const n = 2000
	seed(t, src, n, func(i int) workset.State { return workset.States()[i%4] })
	var wg sync.WaitGroup
	results := make([]*migrate.Result, 2)
	for i := range results {
		m, err := migrate.New(src, dst, func(o *migrate.Options) { o.Concurrency = 8 })
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := m.Apply(context.Background(), nil)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		}()
	}
	wg.Wait()
	created := int64(0)
	for i, res := range results {
		if res == nil {
			t.FailNow()
		}
		t.Logf("run %d: %v", i, res.Outcomes)
		if c := res.Outcomes[migrate.OutcomeConflict] + res.Outcomes[migrate.OutcomeFailed]; c != 0 {
			t.Errorf("run %d: %d conflicts or failures for identical creates: %v", i, c, res.Outcomes)
		}
		if got := res.Outcomes[migrate.OutcomeCreated] + res.Outcomes[migrate.OutcomeUnchanged]; got != n {
			t.Errorf("run %d: %d created or unchanged, want %d", i, got, n)
		}
		created += res.Outcomes[migrate.OutcomeCreated]
	}
	if created != n {
		t.Errorf("%d creates in all, want exactly %d", created, n)
	}
}

// lostReplies applies every write, then loses its reply: for the first
// `lose` attempts of each workset (all of them when lose < 0).
type lostReplies struct {
	workset.StateStore
	lose int
	mu   sync.Mutex
	seen map[string]int
}

func (l *lostReplies) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	w, err := l.StateStore.(workset.Importer).Import(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]int{}
	}
	l.seen[req.Workset.ID]++
	if err == nil && (l.lose < 0 || l.seen[req.Workset.ID] <= l.lose) {
		return nil, errors.New("read tcp: connection reset by peer")
	}
	return w, err
}

// The report can be trusted under lost replies (issue 24, 4): a run's own
// creations are counted created, never unchanged, and a write that applied is
// never listed as failed, whether one reply or every reply was lost.
func TestApplyReportsWhatLandedDespiteLostReplies(t *testing.T) {
	t.Parallel()
	for _, lose := range []int{1, -1} {
		src, inner := mem(t), mem(t)
		seed(t, src, 40, func(int) workset.State { return workset.StateComplete })
		m, err := migrate.New(src, &lostReplies{StateStore: inner, lose: lose}, func(o *migrate.Options) { o.RetryBase, o.MaxRetries = time.Millisecond, 2 })
		if err != nil {
			t.Fatal(err)
		}
		res, err := m.Apply(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcomes[migrate.OutcomeCreated] != 40 || len(res.Errors) != 0 {
			t.Errorf("losing %d replies a workset: outcomes %+v, %d failures listed (%v); want 40 created, none failed", lose, res.Outcomes, len(res.Errors), res.Errors)
		}
	}
}

// slowDeletes counts the deletes in flight.
type slowDeletes struct {
	workset.StateStore
	inFlight, peak atomic.Int64
}

func (s *slowDeletes) Delete(ctx context.Context, id string, v int64) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	time.Sleep(5 * time.Millisecond)
	return s.StateStore.(workset.Deleter).Delete(ctx, id, v)
}

// Cleanup deletes with Apply's concurrency, as its doc promises (issue 24, 4:
// it deleted one workset at a time per batch).
func TestCleanupDeletesConcurrently(t *testing.T) {
	t.Parallel()
	src, dst := mem(t), mem(t)
	seed(t, src, 60, func(int) workset.State { return workset.StateComplete })
	m, err := migrate.New(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	slow := &slowDeletes{StateStore: src}
	m, err = migrate.New(slow, dst)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Cleanup(t.Context(), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[migrate.OutcomeDeleted] != 60 || slow.peak.Load() < 2 {
		t.Errorf("cleanup: %+v with at most %d deletes in flight; want 60 deleted, several at once", res.Outcomes, slow.peak.Load())
	}
}

// Plan, Apply, Verify and Cleanup take a nil emit (Plan with one panicked).
func TestNilEmit(t *testing.T) {
	t.Parallel()
	src, dst := mem(t), mem(t)
	seed(t, src, 3, func(int) workset.State { return workset.StateReady })
	m, err := migrate.New(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := m.Plan(t.Context(), nil); err != nil || res.Seen != 3 {
		t.Fatalf("Plan(nil) = %+v, %v", res, err)
	}
	if _, err := m.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Cleanup(t.Context(), true, nil); err != nil {
		t.Fatal(err)
	}
}
