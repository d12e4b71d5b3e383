package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

func fast(o *monitor.Options) {
	o.Owner, o.PollInterval, o.LeaseTTL, o.RenewEvery = "m1", 10*time.Millisecond, 600*time.Millisecond, 100*time.Millisecond
	o.Backoff = func(int) time.Duration { return 20 * time.Millisecond }
}

// runUntil runs m until cond holds (or 10s pass), then stops it.
func runUntil(t *testing.T, m *monitor.Monitor, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func states(t *testing.T, s workset.StateStore) map[string]workset.State {
	out := map[string]workset.State{}
	for w, err := range workset.All(context.Background(), s, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		out[w.ID] = w.State
	}
	return out
}

func TestPriorityOrderAndRetryThenComplete(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for id, p := range map[string]workset.Priority{"low-1": workset.PriorityLow, "urgent-1": workset.PriorityUrgent, "normal-1": workset.PriorityNormal, "flaky": workset.PriorityLow} {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id, Priority: p}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var order []string
	var flakyRuns atomic.Int64
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		mu.Lock()
		order = append(order, w.ID)
		mu.Unlock()
		if w.ID == "flaky" && flakyRuns.Add(1) == 1 {
			return monitor.Fail(workset.CategoryTransient, "align", errors.New("node lost"))
		}
		return nil
	}, fast, func(o *monitor.Options) { o.Concurrency = 1 })
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, m, func() bool {
		st := states(t, s)
		return st["flaky"] == workset.StateComplete && st["low-1"] == workset.StateComplete
	})
	if fmt.Sprint(order[:3]) != "[urgent-1 normal-1 flaky]" && fmt.Sprint(order[:3]) != "[urgent-1 normal-1 low-1]" {
		t.Errorf("processing order %v, want urgent then normal then low", order)
	}
	w, err := s.Get(ctx, "flaky")
	if err != nil {
		t.Fatal(err)
	}
	var seq []workset.State
	for _, h := range w.History {
		seq = append(seq, h.State)
	}
	// The failure is in the history; success cleared the retry fields.
	if fmt.Sprint(seq) != "[ready in_progress retrying in_progress complete]" || w.RetryCount != 0 || w.FailedStep != "" || w.Lease != nil {
		t.Errorf("flaky: history %v, retry count %d, step %q, lease %v", seq, w.RetryCount, w.FailedStep, w.Lease)
	}
}

func TestPermanentFailureAndConcurrencyBound(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("w-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var running, peak atomic.Int64
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		n := running.Add(1)
		defer running.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		if w.ID == "w-03" {
			return monitor.Fail(workset.CategoryData, "qc", errors.New("bad reads"))
		}
		return nil
	}, fast, func(o *monitor.Options) { o.Concurrency = 3 })
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, m, func() bool {
		n := 0
		for _, st := range states(t, s) {
			if st == workset.StateComplete || st == workset.StateFailed {
				n++
			}
		}
		return n == 12
	})
	if st := states(t, s)["w-03"]; st != workset.StateFailed {
		t.Errorf("data failure ended %s, want failed", st)
	}
	if peak.Load() > 3 || peak.Load() < 2 {
		t.Errorf("peak concurrency %d, want ≤ 3 (and some overlap)", peak.Load())
	}
}

// lossy fails lease renewals: as lost, or as a network error.
type lossy struct {
	workset.StateStore
	lost bool
}

func (l *lossy) RenewLease(ctx context.Context, lease workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	if l.lost {
		return nil, workset.ErrLeaseLost
	}
	return nil, errors.New("dial tcp: connection refused")
}

func TestLeaseLossCancelsWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lost bool
		want error
	}{{true, monitor.ErrLeaseTakenOver}, {false, monitor.ErrStoreUnreachable}} {
		inner, err := memstore.New()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := inner.Register(t.Context(), workset.RegisterRequest{ID: "w"}); err != nil {
			t.Fatal(err)
		}
		causes := make(chan error, 1)
		m, err := monitor.New(&lossy{StateStore: inner, lost: tc.lost}, func(ctx context.Context, w *workset.Workset) error {
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		}, fast)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go m.Run(ctx)
		select {
		case cause := <-causes:
			if !errors.Is(cause, tc.want) {
				t.Errorf("lost=%v: cause %v, want %v", tc.lost, cause, tc.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("lost=%v: work not cancelled", tc.lost)
		}
		cancel()
		// The monitor did not write after losing the lease.
		if w, err := inner.Get(t.Context(), "w"); err != nil {
			t.Fatal(err)
		} else if w.State != workset.StateInProgress {
			t.Errorf("lost=%v: state %s after the loss, want untouched in_progress", tc.lost, w.State)
		}
	}
}

// Shutdown keeps finished work (issue 26, 1-2): the monitor stops claiming,
// a handler that finishes within ShutdownGrace is recorded as it ends (a
// success is complete, not retrying), and one still running when the grace
// ends is cancelled with ErrShutdown and handed back (retrying, count
// unchanged, lease released).
func TestShutdownDrainsRunningWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		finishes  bool // the handler finishes soon after the shutdown
		wantState workset.State
		wantCause error
	}{
		{"FinishesWithinTheGrace", 10 * time.Second, true, workset.StateComplete, nil},
		{"GraceEnds", 150 * time.Millisecond, false, workset.StateRetrying, monitor.ErrShutdown},
		{"NoGrace", -1, false, workset.StateRetrying, monitor.ErrShutdown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"long", "queued"} {
				if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: id, Priority: map[string]workset.Priority{"long": workset.PriorityUrgent, "queued": workset.PriorityLow}[id]}); err != nil {
					t.Fatal(err)
				}
			}
			started := make(chan struct{})
			shut := make(chan struct{})
			var cause atomic.Value
			m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
				close(started)
				if tc.finishes {
					<-shut
					time.Sleep(100 * time.Millisecond) // still working after Run's context ended
					if ctx.Err() != nil {
						return fmt.Errorf("handler cancelled during the grace period: %w", context.Cause(ctx))
					}
					return nil
				}
				<-ctx.Done()
				cause.Store(context.Cause(ctx))
				return ctx.Err()
			}, fast, func(o *monitor.Options) { o.Concurrency, o.ShutdownGrace = 1, tc.grace })
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() { errc <- m.Run(ctx) }()
			<-started
			cancel()
			close(shut)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			w, err := s.Get(t.Context(), "long")
			if err != nil {
				t.Fatal(err)
			}
			if w.State != tc.wantState || w.Lease != nil || w.RetryCount != 0 {
				t.Errorf("after shutdown: %s, lease %v, count %d; want %s, released, 0", w.State, w.Lease, w.RetryCount, tc.wantState)
			}
			if c, _ := cause.Load().(error); !errors.Is(c, tc.wantCause) {
				t.Errorf("handler's cause %v, want %v", c, tc.wantCause)
			}
			if q, _ := s.Get(t.Context(), "queued"); q.State != workset.StateReady {
				t.Errorf("a workset was claimed after the shutdown began: %s", q.State)
			}
		})
	}
}

// RunUntilIdle whose context ends with work left says so (issue 26, 3).
func TestRunUntilIdleReportsTheContextWhenWorkIsLeft(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("ws-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		time.Sleep(30 * time.Millisecond)
		return nil
	}, fast, func(o *monitor.Options) { o.Concurrency = 1 })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := m.RunUntilIdle(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RunUntilIdle with work left = %v, want the context's error", err)
	}
}

// A zero option, set inside the option function or left, is the default; a
// bad one is refused naming it and its value (issue 26, 5); Fail of a nil
// error is no failure (issue 26, 7).
func TestOptionsAndFail(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, *workset.Workset) error { return nil }
	if _, err := monitor.New(s, h, func(o *monitor.Options) { o.Concurrency, o.PollInterval, o.LeaseTTL, o.Owner = 0, 0, 0, "" }); err != nil {
		t.Errorf("zero options: %v; want the defaults", err)
	}
	for want, fn := range map[string]func(*monitor.Options){
		"Concurrency -2": func(o *monitor.Options) { o.Concurrency = -2 },
		"RenewEvery 2m0s must be positive and below LeaseTTL 1m0s": func(o *monitor.Options) { o.LeaseTTL, o.RenewEvery = time.Minute, 2*time.Minute },
		"PollInterval -1s": func(o *monitor.Options) { o.PollInterval = -time.Second },
	} {
		if _, err := monitor.New(s, h, fn); !errors.Is(err, workset.ErrInvalidInput) || !strings.Contains(err.Error(), want) {
			t.Errorf("New with a bad option: %v; want it named: %q", err, want)
		}
	}
	if err := monitor.Fail(workset.CategoryData, "align", nil); err != nil {
		t.Errorf("Fail(nil) = %v, want nil", err)
	}
	if err := monitor.Fail(workset.CategoryData, "align", errors.New("bad read")); err == nil || !strings.Contains(err.Error(), "data failure in align") {
		t.Errorf("Fail(err) = %v", err)
	}
}

func TestMonitorOnDynamoDB(t *testing.T) {
	t.Parallel()
	s, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("mon"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("d-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var failed atomic.Bool
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		if w.ID == "d-2" && failed.CompareAndSwap(false, true) {
			return errors.New("spot instance reclaimed")
		}
		return nil
	}, fast)
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, m, func() bool {
		for _, st := range states(t, s) {
			if st != workset.StateComplete {
				return false
			}
		}
		return true
	})
	w, err := s.Get(t.Context(), "d-2")
	if err != nil {
		t.Fatal(err)
	}
	retried := 0
	for _, h := range w.History {
		if h.State == workset.StateRetrying && h.ErrorCategory == workset.CategoryTransient {
			retried++
		}
	}
	if w.State != workset.StateComplete || retried != 1 || w.RetryCount != 0 {
		t.Errorf("d-2: %s, %d transient retries in the history, count %d; want complete after one, count cleared", w.State, retried, w.RetryCount)
	}
}

// Several monitors on one queue process every workset exactly once.
func TestManyMonitorsProcessEachOnce(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	for i := range n {
		if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("w-%02d", i), Priority: workset.Priorities()[i%3]}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	runs := map[string]int{}
	handler := func(ctx context.Context, w *workset.Workset) error {
		mu.Lock()
		runs[w.ID]++
		mu.Unlock()
		time.Sleep(time.Millisecond)
		return nil
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for i := range 4 {
		m, err := monitor.New(s, handler, fast, func(o *monitor.Options) { o.Owner, o.Concurrency = fmt.Sprint("m", i), 3 })
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); m.Run(ctx) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		done := 0
		for _, st := range states(t, s) {
			if st == workset.StateComplete {
				done++
			}
		}
		if done == n || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	for i := range n {
		id := fmt.Sprintf("w-%02d", i)
		if runs[id] != 1 {
			t.Errorf("%s processed %d times", id, runs[id])
		}
	}
}

// Run returns after its context ends however many worksets finished while it
// was not listening: a finished worker never blocks on waking Run (it used to,
// once more had finished than Concurrency, and Run then waited forever).
func TestRunReturnsAfterManyCompletions(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	for i := range n {
		if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("q-%03d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var finished atomic.Int64
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		finished.Add(1)
		return nil
	}, fast, func(o *monitor.Options) { o.Concurrency = 8 })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	for deadline := time.Now().Add(20 * time.Second); finished.Load() < n-20 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended: a finished worker is stuck")
	}
}

// An always-failing workset runs at most MaxRetries+1 times, each retry after
// its backoff, on every store: those that keep retry counts, and the sentinel
// store on a directory, which (today) does not.
func TestAlwaysFailingWorksetIsBounded(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) workset.StateStore{
		"memory": func(t *testing.T) workset.StateStore {
			s, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"sentinel-dir": func(t *testing.T) workset.StateStore {
			b, err := sentinel.NewDirBucket(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			s, err := sentinel.New(b)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"dynamodb": func(t *testing.T) workset.StateStore {
			s, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("fail"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTable(t.Context(), time.Minute); err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mk(t)
			if _, err := s.Register(t.Context(), workset.RegisterRequest{ID: "doomed"}); err != nil {
				t.Fatal(err)
			}
			const maxRetries = 3
			backoff := func(n int) time.Duration { return time.Duration(n) * 60 * time.Millisecond }
			var mu sync.Mutex
			var runs []time.Time
			m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
				mu.Lock()
				runs = append(runs, time.Now())
				mu.Unlock()
				return errors.New("exit 1")
			}, fast, func(o *monitor.Options) { o.MaxRetries, o.Backoff = maxRetries, backoff })
			if err != nil {
				t.Fatal(err)
			}
			runUntil(t, m, func() bool {
				w, err := s.Get(t.Context(), "doomed")
				return err == nil && w.State == workset.StateFailed
			})
			time.Sleep(200 * time.Millisecond) // a hot loop would show more runs by now
			mu.Lock()
			defer mu.Unlock()
			if len(runs) != maxRetries+1 {
				t.Errorf("handler ran %d times, want %d", len(runs), maxRetries+1)
			}
			for i := 1; i < len(runs); i++ {
				if gap := runs[i].Sub(runs[i-1]); gap < backoff(i) {
					t.Errorf("retry %d ran %v after the failure before it, before its backoff %v", i, gap, backoff(i))
				}
			}
		})
	}
}
