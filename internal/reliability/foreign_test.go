package reliability

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/internal/deployed"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// runBeside runs a Go monitor with a short sweep over s until the control
// workset is complete and then for linger more (many sweeps), and returns how
// often its handler ran for each workset.
func runBeside(t *testing.T, s workset.StateStore, control string, linger time.Duration, optFns ...func(*monitor.Options)) map[string]int {
	t.Helper()
	var mu sync.Mutex
	runs := map[string]int{}
	m, err := monitor.New(s, func(ctx context.Context, w *workset.Workset) error {
		mu.Lock()
		runs[w.ID]++
		mu.Unlock()
		return nil
	}, append([]func(*monitor.Options){func(o *monitor.Options) {
		o.Owner, o.PollInterval, o.MaxPollInterval = "go-monitor", 20*time.Millisecond, 40*time.Millisecond
		o.LeaseTTL, o.RenewEvery, o.OrphanAfter = 2*time.Second, 500*time.Millisecond, 200*time.Millisecond
	}}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	for ctx.Err() == nil {
		if w, err := s.Get(t.Context(), control); err == nil && w.State == workset.StateComplete {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(linger)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("monitor: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs[control] != 1 {
		t.Fatalf("the control workset ran %d times, want once (the monitor did not work)", runs[control])
	}
	return runs
}

// The deployed workers give no liveness signal while they run, so a Go monitor
// never runs, hands back or takes over a workset another tool is running,
// however long ago that tool wrote and however stale its lock looks
// (issue 23, 1): the legacy daylily monitor (daylily.in_progress written once,
// with or without its lock left), the guide's monitor (an unconditional empty
// _LOCKED), the deployed Python monitor past its lock timeout, and a record the
// Migrator copied from a legacy layout into DynamoDB.
func TestForeignWorkIsNeverRunTwice(t *testing.T) {
	t.Parallel()
	legacyBody := []byte(time.Now().Add(-5*time.Hour).UTC().Format("2006-01-02T15:04:05.000000") + "Z")
	seedLegacy := func(t *testing.T, b sentinel.Bucket, root string, objs map[string][]string) {
		t.Helper()
		for id, names := range objs {
			for _, n := range names {
				if _, err := b.Create(t.Context(), root+id+"/"+n, sentinel.Content{Body: legacyBody}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := b.Create(t.Context(), root+id+"/sample_data/S1_R1.fastq.gz", sentinel.Content{Body: []byte("@r1")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	newBucket := func(t *testing.T) sentinel.Bucket {
		s3c := testenv.S3(t)
		b, err := sentinel.NewS3Bucket(s3c, testenv.Bucket(t, s3c))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	legacyLayouts := []struct {
		name   string
		naming sentinel.Naming
		objs   map[string][]string
		busy   []string
	}{
		{"DaylilyMonitor", sentinel.DaylilyNaming(), map[string][]string{
			"running-lock-kept":    {"daylily.ready", "daylily.lock", "daylily.in_progress"},
			"running-lock-removed": {"daylily.ready", "daylily.in_progress"},
			"control":              {"daylily.ready"},
		}, []string{"running-lock-kept", "running-lock-removed"}},
		{"GuideMonitor", sentinel.GuideNaming(), map[string][]string{
			"running-locked": {"_READY", "_LOCKED"},
			"control":        {"_READY"},
		}, []string{"running-locked"}},
	}
	for _, tc := range legacyLayouts {
		t.Run("Sentinels/"+tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBucket(t)
			seedLegacy(t, b, "worksets/", tc.objs)
			// The legacy lock bound is spent at once: only the rule about
			// foreign work stands between the Go monitor and a second run.
			s, err := sentinel.New(b, func(o *sentinel.Options) { o.Naming, o.LegacyLockTTL = tc.naming, time.Nanosecond })
			if err != nil {
				t.Fatal(err)
			}
			runs := runBeside(t, s, "control", 1500*time.Millisecond)
			for _, id := range tc.busy {
				w, err := s.Get(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if runs[id] != 0 || !w.ForeignWork() || (w.State != workset.StateInProgress && w.State != workset.StateLocked) {
					t.Errorf("%s (run by a legacy monitor): ran %d times here, now %s ForeignWork=%v; want never run, still active and foreign", id, runs[id], w.State, w.ForeignWork())
				}
			}
		})
	}

	t.Run("DynamoDB/PythonPastItsLockTimeout", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		client := testenv.DynamoDB(t)
		s, err := dynamostore.New(client, testenv.UniqueName("foreign"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTable(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"python-running", "control"} {
			if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
				t.Fatal(err)
			}
		}
		py := &deployed.Monitor{Client: client, Table: s.Table(), Owner: "worker-host-4242", Timeout: 100 * time.Millisecond}
		if ok, err := py.AcquireLock(ctx, "python-running", false); err != nil || !ok {
			t.Fatalf("python acquire_lock: %v %v", ok, err)
		}
		if err := py.UpdateState(ctx, "python-running", "in_progress", "started", ""); err != nil {
			t.Fatal(err)
		}
		// The Python run goes on far past its lock timeout, never refreshing it.
		runs := runBeside(t, s, "control", 1500*time.Millisecond)
		if runs["python-running"] != 0 {
			t.Errorf("the Go monitor ran a workset the Python worker is running, %d times", runs["python-running"])
		}
		if err := py.UpdateState(ctx, "python-running", "complete", "done", ""); err != nil {
			t.Fatal(err)
		}
		w, err := s.Get(ctx, "python-running")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range w.History {
			if h.State == workset.StateRetrying || h.State == workset.StateReady && h.Timestamp.After(w.CreatedAt) {
				t.Errorf("the Python run was handed back while it ran: history %+v", w.History)
			}
		}
	})

	t.Run("DynamoDB/ImportedFromALegacyLayout", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		b := newBucket(t)
		root := "daylily_monitoring/active_worksets/"
		seedLegacy(t, b, root, map[string][]string{
			"legacy-running": {"daylily.ready", "daylily.lock", "daylily.in_progress"},
			"control":        {"daylily.ready"},
		})
		src, err := sentinel.New(b, func(o *sentinel.Options) {
			o.Root, o.Naming, o.LegacyLockTTL = root, sentinel.DaylilyNaming(), time.Nanosecond
		})
		if err != nil {
			t.Fatal(err)
		}
		dst, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("foreign"))
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.CreateTable(ctx, time.Minute); err != nil {
			t.Fatal(err)
		}
		m, err := migrate.New(src, dst)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Apply(ctx, nil); err != nil {
			t.Fatal(err)
		}
		w, err := dst.Get(ctx, "legacy-running")
		if err != nil {
			t.Fatal(err)
		}
		if w.State != workset.StateInProgress || !w.ForeignWork() {
			t.Fatalf("imported legacy in_progress reads %s ForeignWork=%v; want in_progress, foreign", w.State, w.ForeignWork())
		}
		runs := runBeside(t, dst, "control", 1500*time.Millisecond)
		if runs["legacy-running"] != 0 {
			t.Errorf("a DynamoDB-side monitor ran a workset a legacy monitor holds, %d times", runs["legacy-running"])
		}
	})

	t.Run("ForeignAfterIsTheExplicitBound", func(t *testing.T) {
		t.Parallel()
		b := newBucket(t)
		seedLegacy(t, b, "worksets/", map[string][]string{
			"stopped-long-ago": {"daylily.ready", "daylily.in_progress"},
			"control":          {"daylily.ready"},
		})
		s, err := sentinel.New(b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		runs := runBeside(t, s, "control", time.Second, func(o *monitor.Options) { o.ForeignAfter = 250 * time.Millisecond })
		if runs["stopped-long-ago"] != 1 {
			t.Errorf("with ForeignAfter set, a foreign workset silent past it ran %d times, want once", runs["stopped-long-ago"])
		}
	})
}

// A claim that applied but whose reply was lost (the connection reset after
// DynamoDB processed it, with no retry left in the SDK) is recognised when the
// monitor asks again with the claim's key, and the workset runs now, once,
// instead of sitting in_progress until the sweep (issue 23, 5).
func TestLostClaimReplyStillRuns(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lost := &transport.AmbiguousFailure{Match: transport.IsOp("UpdateItem"), Times: 1}
	s, err := dynamostore.New(testenv.DynamoDB(t, func(o *dynamodb.Options) {
		o.HTTPClient, o.RetryMaxAttempts = &http.Client{Transport: lost}, 1
	}), testenv.UniqueName("lostclaim"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "ws"}); err != nil {
		t.Fatal(err)
	}
	runs := 0
	m, err := monitor.New(s, func(context.Context, *workset.Workset) error { runs++; return nil }, func(o *monitor.Options) {
		o.PollInterval, o.OrphanAfter = 10*time.Millisecond, -1 // no sweep: only the claim's retry can run it
	})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := m.RunUntilIdle(rctx); err != nil {
		t.Fatal(err)
	}
	if lost.Hits() != 1 {
		t.Fatalf("%d replies lost, want the claim's", lost.Hits())
	}
	w, err := s.Get(ctx, "ws")
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || w.State != workset.StateComplete {
		t.Errorf("after a lost claim reply the workset ran %d times and is %s; want once, complete", runs, w.State)
	}
}
