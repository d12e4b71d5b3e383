package dualwrite_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func mem(t testing.TB, clock workset.Clock) *memstore.Store {
	s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformanceMemoryEveryPhase(t *testing.T) {
	for p := dualwrite.LegacyOnly; p <= dualwrite.NewOnly; p++ {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, storetest.Harness{NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
				w, err := dualwrite.New(mem(t, clock), mem(t, clock), func(o *dualwrite.Options) {
					o.Phase, o.ShadowReadRate = p, 1
					o.OnMismatch = func(m dualwrite.Mismatch) { t.Errorf("shadow read mismatch on %s:\n%s", m.WorksetID, m.Diff) }
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					if p == dualwrite.LegacyPrimary || p == dualwrite.NewPrimary {
						log := w.Divergences().(*dualwrite.MemoryLog)
						if ds := log.Divergences(); len(ds) > 0 {
							t.Errorf("divergences between two healthy stores: %+v", ds)
						}
					}
				})
				return w
			}})
		})
	}
}

// The real pair: sentinels on S3 (versitygw) and DynamoDB (dynalite).
func TestConformanceSentinelAndDynamoDB(t *testing.T) {
	const skew = 200 * time.Millisecond
	for _, p := range []dualwrite.Phase{dualwrite.LegacyPrimary, dualwrite.NewPrimary} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, storetest.Harness{SkewMargin: skew, NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
				s3c := testenv.S3(t)
				b, err := sentinel.NewS3Bucket(s3c, testenv.Bucket(t, s3c))
				if err != nil {
					t.Fatal(err)
				}
				legacy, err := sentinel.New(b, func(o *sentinel.Options) { o.Clock, o.SkewMargin = clock, skew })
				if err != nil {
					t.Fatal(err)
				}
				if _, err := legacy.Probe(t.Context()); err != nil {
					t.Fatal(err)
				}
				ddb, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("dw"), func(o *dynamostore.Options) { o.Clock, o.SkewMargin = clock, skew })
				if err != nil {
					t.Fatal(err)
				}
				if err := ddb.CreateTable(t.Context(), time.Minute); err != nil {
					t.Fatal(err)
				}
				w, err := dualwrite.New(legacy, ddb, func(o *dualwrite.Options) { o.Phase = p })
				if err != nil {
					t.Fatal(err)
				}
				return w
			}})
		})
	}
}

// faulty fails a store's writes: always, at a rate, or slowly.
type faulty struct {
	workset.StateStore
	rate  float64
	delay time.Duration
	calls atomic.Int64
	mu    sync.Mutex
	rng   *rand.Rand
}

var errInjected = errors.New("injected failure")

func (f *faulty) fail(ctx context.Context) error {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() < f.rate {
		return errInjected
	}
	return nil
}

func (f *faulty) Register(ctx context.Context, r workset.RegisterRequest) (*workset.Workset, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.StateStore.Register(ctx, r)
}

func (f *faulty) Transition(ctx context.Context, r workset.TransitionRequest) (*workset.Workset, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.StateStore.Transition(ctx, r)
}

func (f *faulty) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.StateStore.AcquireLease(ctx, id, owner, ttl)
}

func (f *faulty) RenewLease(ctx context.Context, l workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	if err := f.fail(ctx); err != nil {
		return nil, err
	}
	return f.StateStore.RenewLease(ctx, l, ttl)
}

func (f *faulty) ReleaseLease(ctx context.Context, l workset.Lease) error {
	if err := f.fail(ctx); err != nil {
		return err
	}
	return f.StateStore.ReleaseLease(ctx, l)
}

// workload runs a monitor-like mix of calls and returns, per workset, whether
// any call on it reported success.
func workload(t *testing.T, w *dualwrite.Writer, n int) map[string]bool {
	t.Helper()
	ctx := t.Context()
	touched := map[string]bool{}
	for i := range n {
		id := fmt.Sprintf("ws-%03d", i)
		if _, err := w.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			continue
		}
		touched[id] = true
		l, err := w.AcquireLease(ctx, id, "m1", time.Minute)
		if err != nil {
			continue
		}
		// The mirror fails on purpose: any step may fail, and what is checked
		// afterwards is that no divergence went unrecorded.
		_, _ = w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: l})
		_, _ = w.RenewLease(ctx, *l, time.Minute)
		_, _ = w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete, Lease: l})
		_ = w.ReleaseLease(ctx, *l)
	}
	return touched
}

// Every workset where the two stores disagree has a recorded divergence.
func checkNoSilentDivergence(t *testing.T, w *dualwrite.Writer, primary, mirror workset.StateStore, ids map[string]bool) {
	t.Helper()
	recorded := map[string]bool{}
	for _, id := range w.Divergences().(*dualwrite.MemoryLog).IDs() {
		recorded[id] = true
	}
	for id := range ids {
		p, perr := primary.Get(t.Context(), id)
		m, merr := mirror.Get(t.Context(), id)
		same := perr == nil && merr == nil && p.State == m.State && (p.Lease == nil) == (m.Lease == nil)
		if !same && !recorded[id] {
			t.Errorf("%s diverged silently: primary %v/%v, mirror %v/%v", id, p, perr, m, merr)
		}
	}
}

func TestMirrorFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rate   float64
		delay  time.Duration
		policy dualwrite.MirrorFailure
	}{
		{"always/record", 1, 0, dualwrite.RecordAndContinue},
		{"always/fail", 1, 0, dualwrite.FailCall},
		{"intermittent/record", 0.3, 0, dualwrite.RecordAndContinue},
		{"intermittent/fail", 0.3, 0, dualwrite.FailCall},
		{"slow/record", 0.2, 2 * time.Millisecond, dualwrite.RecordAndContinue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := storetest.NewClock(storetest.Start)
			primary, inner := mem(t, clock), mem(t, clock)
			mirror := &faulty{StateStore: inner, rate: tc.rate, delay: tc.delay, rng: rand.New(rand.NewPCG(1, 2))}
			w, err := dualwrite.New(primary, mirror, func(o *dualwrite.Options) {
				o.Phase, o.OnMirrorFailure = dualwrite.LegacyPrimary, tc.policy
			})
			if err != nil {
				t.Fatal(err)
			}
			ids := workload(t, w, 60)
			checkNoSilentDivergence(t, w, primary, inner, ids)
			if tc.rate == 1 && len(w.Divergences().(*dualwrite.MemoryLog).IDs()) == 0 {
				t.Fatal("a failing mirror recorded no divergence")
			}
			if w.Stats().Divergences != int64(len(w.Divergences().(*dualwrite.MemoryLog).Divergences())) {
				t.Errorf("counter %d != log %d", w.Stats().Divergences, len(w.Divergences().(*dualwrite.MemoryLog).Divergences()))
			}
			// Under FailCall, a mirror failure fails the call with ErrMirror.
			if tc.policy == dualwrite.FailCall && tc.rate == 1 {
				_, err := w.Register(t.Context(), workset.RegisterRequest{ID: "extra"})
				if !errors.Is(err, dualwrite.ErrMirror) || !errors.Is(err, errInjected) {
					t.Errorf("FailCall: %v, want ErrMirror wrapping the cause", err)
				}
			}
		})
	}
}

// With the authoritative store failing, the mirror is never written.
func TestPrimaryFailureLeavesMirrorAlone(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	mirrorInner := mem(t, clock)
	primary := &faulty{StateStore: mem(t, clock), rate: 1, rng: rand.New(rand.NewPCG(3, 4))}
	mirror := &faulty{StateStore: mirrorInner, rng: rand.New(rand.NewPCG(5, 6))}
	w, err := dualwrite.New(mirror, primary, func(o *dualwrite.Options) { o.Phase = dualwrite.NewPrimary })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Register(t.Context(), workset.RegisterRequest{ID: "x"}); !errors.Is(err, errInjected) {
		t.Fatalf("Register: %v", err)
	}
	workload(t, w, 10)
	if n := mirror.calls.Load(); n != 0 {
		t.Errorf("mirror written %d times while the primary failed", n)
	}
	if _, err := mirrorInner.Get(t.Context(), "x"); !errors.Is(err, workset.ErrNotFound) {
		t.Errorf("mirror has x: %v", err)
	}
}

// A lock held in the mirror (a legacy monitor's claim) makes the acquisition
// fail with ErrLeaseHeld and leaves no authoritative lease behind.
func TestMirrorLockHeldBacksOut(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	legacy, next := mem(t, clock), mem(t, clock)
	w, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.NewPrimary })
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := w.Register(ctx, workset.RegisterRequest{ID: "ws"}); err != nil {
		t.Fatal(err)
	}
	if _, err := legacy.AcquireLease(ctx, "ws", "legacy-monitor", time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err = w.AcquireLease(ctx, "ws", "go-monitor", time.Minute)
	var held *workset.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "legacy-monitor" {
		t.Fatalf("acquire: %v, want LeaseHeldError by legacy-monitor", err)
	}
	if got, err := next.Get(ctx, "ws"); err != nil {
		t.Fatal(err)
	} else if got.Lease != nil {
		t.Errorf("authoritative lease left half-taken: %+v", got.Lease)
	}
}

func TestPhaseSwitchUnderLoad(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	legacy, next := mem(t, clock), mem(t, clock)
	w, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range 50 {
				id := fmt.Sprintf("g%d-%d", g, i)
				if _, err := w.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
					t.Error(err)
					return
				}
				if l, err := w.AcquireLease(ctx, id, fmt.Sprint("m", g), time.Minute); err == nil {
					if _, err := w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: l}); err != nil {
						t.Error(err)
						return
					}
					if err := w.ReleaseLease(ctx, *l); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	if err := w.SetPhase(dualwrite.NewPrimary); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ds := w.Divergences().(*dualwrite.MemoryLog).Divergences(); len(ds) != 0 {
		t.Errorf("divergences across a live phase switch: %+v", ds)
	}
	for g := range 4 {
		for i := range 50 {
			id := fmt.Sprintf("g%d-%d", g, i)
			a, err := legacy.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			b, err := next.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if a == nil || b == nil || a.State != b.State || (a.Lease == nil) != (b.Lease == nil) {
				t.Errorf("%s differs after the switch: %+v vs %+v", id, a, b)
			}
		}
	}
}

// The Writer counts with its authoritative store's counting, and says
// truthfully (workset.Has) whether that store counts without reading.
func TestWriterCountsWithItsPrimary(t *testing.T) {
	legacy, _ := memstore.New()
	next, _ := memstore.New()
	w, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.NewPrimary })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := w.Register(t.Context(), workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := next.Transition(t.Context(), workset.TransitionRequest{ID: "b", To: workset.StateIgnored}); err != nil {
		t.Fatal(err)
	}
	counts, err := observe.CountByState(t.Context(), w)
	if err != nil || counts[workset.StateReady] != 1 || counts[workset.StateIgnored] != 1 {
		t.Errorf("counts through the Writer: %v, %v (want the new store's)", counts, err)
	}
	if workset.Has[observe.Counter](w) {
		t.Errorf("the Writer claims to count without reading over memory stores")
	}
}
