package reliability

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// runMonitor runs m until every id is complete in s (or 60s pass) and returns
// how often the handler ran for each.
func drain(t *testing.T, s workset.StateStore, ids []string, newMonitor func(workset.StateStore, monitor.Handler) (*monitor.Monitor, error), during func()) map[string]int {
	t.Helper()
	var mu sync.Mutex
	runs := map[string]int{}
	m, err := newMonitor(s, func(ctx context.Context, w *workset.Workset) error {
		mu.Lock()
		runs[w.ID]++
		mu.Unlock()
		select { // long enough to need a renewal
		case <-time.After(400 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	if during != nil {
		during()
	}
	for ctx.Err() == nil {
		done := 0
		for _, id := range ids {
			if w, err := s.Get(t.Context(), id); err == nil && w.State == workset.StateComplete {
				done++
			}
		}
		if done == len(ids) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return runs
}

// The mirror is on a closed port while a monitor claims work through the
// DualWriter, in both dual phases: the DynamoDB mirror of LegacyPrimary, and
// the legacy bucket of NewPrimary that legacy monitors poll. A claim the mirror
// did not take is never handed out (issue 23, 3: a legacy monitor would see
// the workset free and run it too), so nothing starts during the outage; once
// the mirror is back every workset completes exactly once in both stores and
// none is left active or leased.
func TestMirrorOutageHandsOutNoClaim(t *testing.T) {
	t.Parallel()
	for _, phase := range []dualwrite.Phase{dualwrite.LegacyPrimary, dualwrite.NewPrimary} {
		t.Run(phase.String(), func(t *testing.T) {
			t.Parallel()
			outage := &transport.Outage{}
			ddbOpts := func(o *dynamodb.Options) {}
			s3Opts := func(o *s3.Options) {}
			if phase == dualwrite.LegacyPrimary {
				ddbOpts = func(o *dynamodb.Options) { o.HTTPClient, o.RetryMaxAttempts = &http.Client{Transport: outage}, 1 }
			} else {
				s3Opts = func(o *s3.Options) { o.HTTPClient, o.RetryMaxAttempts = &http.Client{Transport: outage}, 1 }
			}
			s3c := testenv.S3(t, s3Opts)
			bucket, err := sentinel.NewS3Bucket(s3c, testenv.Bucket(t, testenv.S3(t)))
			if err != nil {
				t.Fatal(err)
			}
			legacyStore, err := sentinel.New(bucket, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
			if err != nil {
				t.Fatal(err)
			}
			next, err := dynamostore.New(testenv.DynamoDB(t, ddbOpts), testenv.UniqueName("outage"))
			if err != nil {
				t.Fatal(err)
			}
			if err := next.CreateTable(t.Context(), time.Minute); err != nil {
				t.Fatal(err)
			}
			w, err := dualwrite.New(legacyStore, next, func(o *dualwrite.Options) { o.Phase = phase })
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for i := range 6 {
				id := fmt.Sprintf("ws-%d", i)
				if _, err := w.Register(t.Context(), workset.RegisterRequest{ID: id}); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			var startedDuringOutage atomic.Int64
			outage.Down.Store(true)
			runs := drain(t, w, ids, func(s workset.StateStore, h monitor.Handler) (*monitor.Monitor, error) {
				return monitor.New(s, func(ctx context.Context, ws *workset.Workset) error {
					if outage.Down.Load() {
						startedDuringOutage.Add(1)
					}
					return h(ctx, ws)
				}, func(o *monitor.Options) {
					o.Owner, o.Concurrency, o.PollInterval = "m1", 6, 20*time.Millisecond
					o.LeaseTTL, o.RenewEvery = 3*time.Second, 100*time.Millisecond
				})
			}, func() {
				// Back once claims met the outage for a while.
				for deadline := time.Now().Add(30 * time.Second); outage.Refused.Load() < 20 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				outage.Down.Store(false)
			})
			if n := startedDuringOutage.Load(); n != 0 {
				t.Errorf("%d worksets started while the %s mirror was down", n, phase)
			}
			for _, id := range ids {
				if runs[id] != 1 {
					t.Errorf("%s ran %d times, want once", id, runs[id])
				}
				for name, s := range map[string]workset.StateStore{"legacy": legacyStore, "new": next} {
					got, err := s.Get(t.Context(), id)
					if err != nil {
						t.Fatal(err)
					}
					if got.State != workset.StateComplete || got.Lease != nil {
						t.Errorf("%s ended %s in the %s store with lease %v (divergences: %+v)", id, got.State, name, got.Lease, w.Divergences().(*dualwrite.MemoryLog).Divergences())
					}
				}
			}
		})
	}
}

// An active workset whose worker vanished without a lease (or with one that
// expired) is handed back and completed by a monitor: nothing is stranded.
func TestOrphansAreHandedBack(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, id := range []string{"orphan-in-progress", "orphan-locked", "orphan-expired"} {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "orphan-in-progress", To: workset.StateInProgress}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "orphan-locked", To: workset.StateLocked}); err != nil {
		t.Fatal(err)
	}
	l, err := s.AcquireLease(ctx, "orphan-expired", "crashed-monitor", 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "orphan-expired", To: workset.StateInProgress, Lease: l}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"orphan-in-progress", "orphan-locked", "orphan-expired"}
	runs := drain(t, s, ids, func(s workset.StateStore, h monitor.Handler) (*monitor.Monitor, error) {
		return monitor.New(s, h, func(o *monitor.Options) {
			o.Owner, o.PollInterval, o.LeaseTTL, o.RenewEvery, o.OrphanAfter = "m1", 20*time.Millisecond, 2*time.Second, 500*time.Millisecond, 300*time.Millisecond
		})
	}, nil)
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("%s ran %d times, want once", id, runs[id])
		}
	}
}
