package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// RunUntilIdle drains the queue, retries included, and returns by itself;
// OnDone reports every claimed workset's outcome once.
func TestRunUntilIdleDrainsTheQueue(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 20 {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("ws-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	failed := map[string]bool{}
	outcomes := map[workset.State]int{}
	m, err := monitor.New(s, func(_ context.Context, w *workset.Workset) error {
		mu.Lock()
		defer mu.Unlock()
		if w.ID < "ws-03" && !failed[w.ID] { // the first three fail once
			failed[w.ID] = true
			return errors.New("flaky")
		}
		return nil
	}, fast, func(o *monitor.Options) {
		o.Backoff = func(int) time.Duration { return 0 }
		o.OnDone = func(out monitor.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			outcomes[out.State]++
			if out.Err != nil {
				t.Errorf("outcome of %s: %v", out.WorksetID, out.Err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.RunUntilIdle(runCtx); err != nil || runCtx.Err() != nil {
		t.Fatalf("RunUntilIdle: %v (context: %v)", err, runCtx.Err())
	}
	for id, st := range states(t, s) {
		if st != workset.StateComplete {
			t.Errorf("%s is %s after RunUntilIdle", id, st)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if outcomes[workset.StateComplete] != 20 || outcomes[workset.StateRetrying] != 3 || len(outcomes) != 2 {
		t.Errorf("outcomes %v, want 20 complete and 3 retrying", outcomes)
	}
}

// RunUntilIdle on an empty queue returns at once.
func TestRunUntilIdleOnAnEmptyQueue(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(s, func(context.Context, *workset.Workset) error { return nil }, fast,
		func(o *monitor.Options) { o.PollInterval = time.Hour })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := m.RunUntilIdle(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("RunUntilIdle on an empty queue: %v (context: %v)", err, ctx.Err())
	}
}

// With OldestFirst a monitor claims worksets of one priority in the order
// they were registered, whatever their IDs; urgent ones still come first.
func TestOldestFirstClaimsInRegistrationOrder(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	order := []string{"ws-q", "ws-c", "ws-x", "ws-a", "ws-m", "ws-b"}
	for _, id := range order {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "ws-z-urgent", Priority: workset.PriorityUrgent}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var claimed []string
	m, err := monitor.New(s, func(_ context.Context, w *workset.Workset) error {
		mu.Lock()
		claimed = append(claimed, w.ID)
		mu.Unlock()
		return nil
	}, fast, func(o *monitor.Options) {
		o.Concurrency, o.Order, o.Clock = 1, monitor.OldestFirst, clock
		o.LeaseTTL, o.RenewEvery = time.Hour, 20*time.Minute // the test clock does not move during the run
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.RunUntilIdle(runCtx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := append([]string{"ws-z-urgent"}, order...)
	if fmt.Sprint(claimed) != fmt.Sprint(want) {
		t.Errorf("claim order %v, want %v", claimed, want)
	}
}

// listCounter counts the list requests a monitor makes.
type listCounter struct {
	workset.StateStore
	lists atomic.Int64
}

func (c *listCounter) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	c.lists.Add(1)
	return c.StateStore.List(ctx, q)
}

// An idle monitor backs off: over one second of an empty queue, polling every
// 5ms without the backoff would list about 400 times; doubling up to 80ms
// lists a few dozen times at most (a slow machine only lists less).
func TestIdleMonitorBacksOff(t *testing.T) {
	t.Parallel()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &listCounter{StateStore: mem}
	m, err := monitor.New(s, func(context.Context, *workset.Workset) error { return nil }, fast, func(o *monitor.Options) {
		o.PollInterval, o.MaxPollInterval, o.OrphanAfter = 5*time.Millisecond, 80*time.Millisecond, -1
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.lists.Load(); n > 60 {
		t.Errorf("an idle monitor listed %d times in 1s; with the backoff it lists at most ~%d", n, 2*(4+12))
	}
}

// Wake ends an idle monitor's pause: one that would next poll in an hour
// claims a workset registered after Wake at once.
func TestWakeEndsThePause(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	claimed := make(chan string, 1)
	m, err := monitor.New(s, func(_ context.Context, w *workset.Workset) error { claimed <- w.ID; return nil }, fast, func(o *monitor.Options) {
		o.PollInterval, o.MaxPollInterval = time.Hour, time.Hour
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // the first, empty poll; then an hour's pause
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "ws-late"}); err != nil {
		t.Fatal(err)
	}
	m.Wake()
	select {
	case id := <-claimed:
		if id != "ws-late" {
			t.Errorf("claimed %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Error("Wake did not end the pause")
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
