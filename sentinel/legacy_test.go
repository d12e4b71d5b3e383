package sentinel_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// Legacy layouts in both conventions, with data files and decoys in
// subfolders, across several list pages: every state is derived as the
// precedence rules say, in one prefix-wide pass.
func TestLegacyLayouts(t *testing.T) {
	t.Parallel()
	const n = 2600
	for _, tc := range []struct {
		name   string
		naming sentinel.Naming
		policy sentinel.NoSentinel
	}{
		{"guide", sentinel.GuideNaming(), sentinel.NoSentinelReady},
		{"daylily", sentinel.DaylilyNaming(), sentinel.NoSentinelSkip},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			counter := &transport.Counter{}
			c := testenv.S3(t, func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: counter} })
			b, err := sentinel.NewS3Bucket(c, testenv.Bucket(t, c))
			if err != nil {
				t.Fatal(err)
			}
			layout, err := legacy.Seed(t.Context(), b, "worksets/", tc.naming, n, 42)
			if err != nil {
				t.Fatal(err)
			}
			st, err := sentinel.New(b, func(o *sentinel.Options) { o.Naming, o.NoSentinel = tc.naming, tc.policy })
			if err != nil {
				t.Fatal(err)
			}
			want := layout.Expected(tc.policy)
			counter.Reset()
			got := map[string]workset.State{}
			for w, err := range workset.Scan(t.Context(), st, workset.ListQuery{}) {
				if err != nil {
					t.Fatal(err)
				}
				if _, dup := got[w.ID]; dup {
					t.Fatalf("%s listed twice", w.ID)
				}
				got[w.ID] = w.State
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("derived states (-want +got):\n%s", d)
			}
			// One pass: ceil(objects/1000) list calls.
			locks := 0
			for _, w := range layout.Worksets {
				if slices.Contains(w.Sentinels, workset.StateLocked) {
					locks++
				}
			}
			counts := counter.Counts()
			if lists, max := counts["ListObjectsV2"], (layout.Objects+999)/1000; lists > max {
				t.Errorf("%d list calls for %d objects, want at most %d", lists, layout.Objects, max)
			}
			// Legacy lock files are smaller than any body this SDK writes, so
			// none is read.
			if counts["GetObject"] != 0 {
				t.Errorf("%d object reads for %d legacy lock files, want 0", counts["GetObject"], locks)
			}
			// Paged List agrees with the pass, and Get with both.
			paged := 0
			for w, err := range workset.All(t.Context(), st, workset.ListQuery{Limit: 1000, State: workset.StateComplete}) {
				if err != nil {
					t.Fatal(err)
				}
				if want[w.ID] != workset.StateComplete {
					t.Errorf("List(complete) returned %s in %s", w.ID, want[w.ID])
				}
				paged++
			}
			n := 0
			for _, s := range want {
				if s == workset.StateComplete {
					n++
				}
			}
			if paged != n {
				t.Errorf("List(complete) returned %d, want %d", paged, n)
			}
			for _, w := range layout.Worksets[:40] {
				g, err := st.Get(t.Context(), w.ID)
				if s, ok := want[w.ID]; !ok {
					if !errors.Is(err, workset.ErrNotFound) {
						t.Errorf("Get(%s) of a skipped prefix: %v", w.ID, err)
					}
				} else if err != nil || g.State != s {
					t.Errorf("Get(%s) = %v, %v; want %s", w.ID, g, err, s)
				}
			}
		})
	}
}

func keys(t *testing.T, b sentinel.Bucket, prefix string) []string {
	t.Helper()
	out, err := b.List(t.Context(), sentinel.ListInput{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	var ks []string
	for _, o := range out.Objects {
		if name := o.Key[len(prefix):]; name != ".worksetstate" { // the SDK's folder marker (TestFolderMarker)
			ks = append(ks, name)
		}
	}
	return ks
}

// Transitions write the target and remove what would mask it, and leave the
// sentinels below it as legacy writers do; data files and decoys in
// subfolders are never touched.
func TestTransitionRewritesSentinels(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	ctx := t.Context()
	for _, k := range []string{"worksets/ws-1/_READY", "worksets/ws-1/_ERROR", "worksets/ws-1/samples.tsv", "worksets/ws-1/data/_COMPLETE"} {
		if _, err := b.Create(ctx, k, sentinel.Content{Body: []byte("2024-01-15T10:00:00Z")}); err != nil {
			t.Fatal(err)
		}
	}
	st := newStore(t, b)
	w, err := st.Get(ctx, "ws-1")
	if err != nil || w.State != workset.StateError {
		t.Fatalf("legacy state = %v, %v; want error", w, err)
	}
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateReady, Reason: "requeue"}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"_READY", "data/_COMPLETE", "samples.tsv"}, keys(t, b, "worksets/ws-1/")); d != "" {
		t.Errorf("objects after error -> ready (-want +got):\n%s", d)
	}
	lease, err := st.AcquireLease(ctx, "ws-1", "host-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []workset.State{workset.StateInProgress, workset.StateComplete} {
		if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: to, Lease: lease}); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff([]string{"_COMPLETE", "_IN_PROGRESS", "_LOCKED", "_READY", "data/_COMPLETE", "samples.tsv"}, keys(t, b, "worksets/ws-1/")); d != "" {
		t.Errorf("objects while leased and complete (-want +got):\n%s", d)
	}
	if err := st.ReleaseLease(ctx, *lease); err != nil {
		t.Fatal(err)
	}
	// The lock object is gone; a fence object keeps the last token.
	after := keys(t, b, "worksets/ws-1/")
	if len(after) == 0 || !strings.HasPrefix(after[0], ".worksetstate-fence-") {
		t.Errorf("no fence object after release: %v", after)
	} else if d := cmp.Diff([]string{"_COMPLETE", "_IN_PROGRESS", "_READY", "data/_COMPLETE", "samples.tsv"}, after[1:]); d != "" {
		t.Errorf("objects after release (-want +got):\n%s", d)
	}
	// A legacy monitor's lock (timestamp body) is a live lease until its TTL.
	if _, err := b.Create(ctx, "worksets/ws-2/_READY", sentinel.Content{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "worksets/ws-2/_LOCKED", sentinel.Content{Body: []byte(time.Now().UTC().Format(time.RFC3339))}); err != nil {
		t.Fatal(err)
	}
	_, err = st.AcquireLease(ctx, "ws-2", "host-1", time.Minute)
	var held *workset.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != sentinel.LegacyOwner {
		t.Errorf("acquire over a live legacy lock: %v", err)
	}
	// A long legacy body is read: its old timestamp makes the lock stale. But
	// the guide's monitor writes _LOCKED once and never renews it while it
	// runs, so a stale lock on the locked state proves nothing: it is not
	// taken over (issue 23), an explicit transition decides.
	if _, err := b.Create(ctx, "worksets/ws-3/_READY", sentinel.Content{}); err != nil {
		t.Fatal(err)
	}
	long := "2024-01-15T10:00:00Z\tclaimed by the nightly re-run of the alignment step on cluster c7 (ticket OPS-4411)"
	if _, err := b.Create(ctx, "worksets/ws-3/_LOCKED", sentinel.Content{Body: []byte(long)}); err != nil {
		t.Fatal(err)
	}
	if w, err := st.Get(ctx, "ws-3"); err != nil || w.Lease == nil || w.Lease.ExpiresAt.Year() != 2024 {
		t.Fatalf("long legacy lock read as %+v, %v", w, err)
	}
	if _, err := st.AcquireLease(ctx, "ws-3", "host-1", time.Minute); !errors.Is(err, workset.ErrNotLeasable) {
		t.Errorf("takeover of a stale legacy lock on the locked state: %v, want ErrNotLeasable", err)
	}
}

// 32 goroutines race for one lease over S3, round after round: exactly one wins.
func TestLeaseRaceS3(t *testing.T) {
	t.Parallel()
	st := newStore(t, s3Bucket(t))
	ctx := t.Context()
	for round := range 15 {
		id := fmt.Sprintf("race-%d", round)
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		winners := 0
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := st.AcquireLease(ctx, id, fmt.Sprintf("m-%d", i), time.Minute)
				if err == nil {
					mu.Lock()
					winners++
					mu.Unlock()
				} else if !errors.Is(err, workset.ErrLeaseHeld) && !errors.Is(err, workset.ErrConflict) {
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if winners != 1 {
			t.Fatalf("round %d: %d winners", round, winners)
		}
	}
}

// ignoringBucket is an endpoint that silently ignores conditional writes.
type ignoringBucket struct{ sentinel.Bucket }

func (b ignoringBucket) Create(ctx context.Context, key string, body sentinel.Content) (string, error) {
	_ = b.Bucket.Delete(ctx, key, "")
	return b.Bucket.Create(ctx, key, body)
}

func TestProbeRefusesLeasesWithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	dir, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := sentinel.New(ignoringBucket{dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Every write is refused there, and nothing is written.
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "w"}); !errors.Is(err, workset.ErrUnsupported) {
		t.Fatalf("register on a non-conditional endpoint: %v, want ErrUnsupported", err)
	}
	if _, err := st.Get(ctx, "w"); !errors.Is(err, workset.ErrNotFound) {
		t.Fatalf("a refused register left a workset: %v", err)
	}
	if _, err := dir.Create(ctx, "worksets/w/_READY", sentinel.Content{}); err != nil { // a legacy writer's workset
		t.Fatal(err)
	}
	for name, write := range map[string]func() error{
		"transition": func() error {
			_, err := st.Transition(ctx, workset.TransitionRequest{ID: "w", To: workset.StateInProgress})
			return err
		},
		"lease":  func() error { _, err := st.AcquireLease(ctx, "w", "me", time.Minute); return err },
		"delete": func() error { return st.Delete(ctx, "w", 0) },
		"import": func() error {
			_, err := st.Import(ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "w", State: workset.StateError}})
			return err
		},
	} {
		if err := write(); !errors.Is(err, workset.ErrUnsupported) {
			t.Errorf("%s on a non-conditional endpoint: %v, want ErrUnsupported", name, err)
		}
	}
	if w, err := st.Get(ctx, "w"); err != nil || w.State != workset.StateReady {
		t.Errorf("refused writes changed the workset: %v, %v", w, err)
	}
	if _, err := sentinel.Open(ctx, ignoringBucket{dir}); !errors.Is(err, workset.ErrUnsupported) {
		t.Errorf("Open on a non-conditional endpoint: %v, want ErrUnsupported", err)
	}
	racy, err := sentinel.Open(ctx, ignoringBucket{dir}, func(o *sentinel.Options) { o.AllowRacyWrites = true })
	if err != nil {
		t.Fatal(err)
	}
	if racy.Capabilities().Guarantees.AtomicLeases {
		t.Error("Capabilities claims atomic leases after a failed probe")
	}
	if _, err := racy.AcquireLease(ctx, "w", "me", time.Minute); err != nil {
		t.Fatalf("AllowRacyWrites: %v", err)
	}
	if _, err := racy.Register(ctx, workset.RegisterRequest{ID: "w2"}); err != nil {
		t.Fatalf("AllowRacyWrites register: %v", err)
	}
}

func TestParseBody(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want sentinel.Body
	}{
		{"", sentinel.Body{Legacy: true}},
		{"2024-01-15T10:00:00Z\n", sentinel.Body{Legacy: true, At: ts}},
		{"2024-01-15T10:00:00+00:00\tbwa exited 137", sentinel.Body{Legacy: true, At: ts, Reason: "bwa exited 137"}},
		{"held for re-run", sentinel.Body{Legacy: true, Reason: "held for re-run"}},
		{"{not json", sentinel.Body{Legacy: true, Reason: "{not json"}},
		{"\xff\xfe", sentinel.Body{Legacy: true}},
		{`{"format":"worksetstate/1","state":"ready","at":"2024-01-15T10:00:00Z","nonce":"ab"}`, sentinel.Body{Format: "worksetstate/1", State: "ready", At: ts, Nonce: "ab"}},
	} {
		if d := cmp.Diff(tc.want, sentinel.ParseBody([]byte(tc.in))); d != "" {
			t.Errorf("ParseBody(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

// A legacy lock file older than a later error, complete or ignore sentinel is
// what a finished legacy monitor left behind: it does not block a requeue. A
// lock newer than the outcome is still a live claim.
func TestLeftoverLegacyLockDoesNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, err := sentinel.NewDirBucket(dir)
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	ctx := t.Context()
	now := time.Now()
	for id, lockAge := range map[string]time.Duration{"leftover": 10 * time.Minute, "live": time.Second} {
		for name, age := range map[string]time.Duration{"daylily.ready": 20 * time.Minute, "daylily.lock": lockAge, "daylily.error": 5 * time.Minute} {
			key := "worksets/" + id + "/" + name
			if _, err := b.Create(ctx, key, sentinel.Content{Body: []byte(now.Add(-age).UTC().Format(time.RFC3339) + "Z")}); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(filepath.Join(dir, key), now.Add(-age), now.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "leftover", To: workset.StateReady}); err != nil {
		t.Errorf("requeue past a leftover legacy lock: %v", err)
	}
	_, err = st.Transition(ctx, workset.TransitionRequest{ID: "live", To: workset.StateReady})
	var held *workset.LeaseHeldError
	if !errors.As(err, &held) {
		t.Errorf("requeue under a legacy lock newer than the error: %v, want ErrLeaseHeld", err)
	}
}

// In the daylily convention, sentinels pile up as the legacy monitor leaves
// them (so its --attempt-restart finds daylily.ready under daylily.error), and
// the states it does not know carry the marker that makes it do the right
// thing: retrying keeps daylily.in_progress (never dispatched early), failed
// shows daylily.error.
func TestDaylilyLayeringAndMarkers(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	st := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	ctx := t.Context()
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "d"}); err != nil {
		t.Fatal(err)
	}
	step := func(to workset.State, want ...string) {
		t.Helper()
		if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "d", To: to}); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, keys(t, b, "worksets/d/")); d != "" {
			t.Errorf("after -> %s (-want +got):\n%s", to, d)
		}
		if w, err := st.Get(ctx, "d"); err != nil || w.State != to {
			t.Errorf("reads as %v, %v; want %s", w, err, to)
		}
	}
	step(workset.StateInProgress, "daylily.in_progress", "daylily.ready")
	step(workset.StateError, "daylily.error", "daylily.in_progress", "daylily.ready")
	step(workset.StateRetrying, "daylily.in_progress", "daylily.ready", "daylily.retrying")
	step(workset.StateInProgress, "daylily.in_progress", "daylily.ready")
	step(workset.StateFailed, "daylily.error", "daylily.failed", "daylily.in_progress", "daylily.ready")
}

// A single workset's read uses what a legacy body says: the message of an
// error line and the time written in it.
func TestLegacyBodiesAreRead(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	st := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	ctx := t.Context()
	for k, body := range map[string]string{
		"worksets/e/daylily.ready": "2024-01-15T09:00:00Z",
		"worksets/e/daylily.error": "2024-01-15T10:30:00.250000Z\tbwa exited 137 (out of memory)",
	} {
		if _, err := b.Create(ctx, k, sentinel.Content{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := st.Get(ctx, "e")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateError || w.ErrorDetails != "bwa exited 137 (out of memory)" {
		t.Errorf("legacy error read as %s %q", w.State, w.ErrorDetails)
	}
	var found bool
	for _, h := range w.History {
		if h.State == workset.StateError {
			found = true
			if !h.Timestamp.Equal(time.Date(2024, 1, 15, 10, 30, 0, 250000000, time.UTC)) || h.Reason != "bwa exited 137 (out of memory)" {
				t.Errorf("error history entry %+v, want the body's time and message", h)
			}
		}
	}
	if !found {
		t.Errorf("no error entry in %+v", w.History)
	}
}

// s3rver ignores If-None-Match and If-Match: the probe says so, and every write
// is refused unless racy writes are accepted, in which case two concurrent
// registrations of one workset both succeed there (counted and logged).
func TestEndpointIgnoringConditions(t *testing.T) {
	t.Parallel()
	c, name := testenv.S3IgnoringConditions(t)
	b, err := sentinel.NewS3Bucket(c, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sentinel.New(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	r, err := st.Probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Atomic() {
		t.Fatalf("probe on s3rver: %+v, want not atomic", r)
	}
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "w"}); !errors.Is(err, workset.ErrUnsupported) {
		t.Fatalf("register on s3rver: %v, want ErrUnsupported", err)
	}
	if _, err := st.Get(ctx, "w"); !errors.Is(err, workset.ErrNotFound) {
		t.Fatalf("a refused register left a workset: %v", err)
	}
	racy, err := sentinel.New(b, func(o *sentinel.Options) { o.AllowRacyWrites = true })
	if err != nil {
		t.Fatal(err)
	}
	both := 0
	for i := range 15 {
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := racy.Register(ctx, workset.RegisterRequest{ID: fmt.Sprint("d-", i)}); err == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if ok == 2 {
			both++
		}
	}
	t.Logf("with AllowRacyWrites, both of two concurrent registrations succeeded %d times of 15", both)
}

// countingGets counts object reads.
type countingGets struct {
	sentinel.Bucket
	gets atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, key string) (sentinel.Content, string, error) {
	c.gets.Add(1)
	return c.Bucket.Get(ctx, key)
}

// Polling the ready queue reads no object of worksets in other states (their
// retry records are read only when their state is asked for), and a retrying
// one is read once.
func TestReadyQueueReadsNoRecords(t *testing.T) {
	t.Parallel()
	b := &countingGets{Bucket: dirBucket(t)}
	st := newStore(t, b)
	ctx := t.Context()
	for i := range 6 {
		id := fmt.Sprintf("q-%d", i)
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			if _, err := st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress}); err != nil {
				t.Fatal(err)
			}
		}
		if i == 0 {
			if _, err := st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateRetrying, Retry: &workset.RetryInfo{Count: 2}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.gets.Store(0)
	page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady})
	if err != nil || len(page.Worksets) != 2 {
		t.Fatalf("ready queue: %v, %v", page, err)
	}
	if n := b.gets.Load(); n != 0 {
		t.Errorf("listing the ready queue read %d objects, want 0", n)
	}
	page, err = st.List(ctx, workset.ListQuery{State: workset.StateRetrying})
	if err != nil || len(page.Worksets) != 1 || page.Worksets[0].RetryCount != 2 {
		t.Fatalf("retrying queue: %+v, %v", page, err)
	}
	if n := b.gets.Load(); n != 1 {
		t.Errorf("listing the retrying queue read %d objects, want 1 (its record)", n)
	}
}

// What a legacy reader reads of an object this SDK wrote is exactly
// "<timestamp>\t<detail>" (the daylily monitor's report splits every body once
// on a tab), with the SDK's record kept in the object's metadata; the SDK
// still reads back the exact details. The SDK marks the folders it writes to,
// so that passes over folders only legacy tools wrote read no body, and a
// legacy body in a marked folder still reads as another tool's.
func TestLegacyReadersReadExactlyTheLine(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	st := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	ctx := t.Context()
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	lease, err := st.AcquireLease(ctx, "x", "mon-1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	details := "bwa exited 137\nout of memory\tkilled"
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "x", To: workset.StateInProgress, Lease: lease}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "x", To: workset.StateError, Lease: lease, ErrorDetails: details}); err != nil {
		t.Fatal(err)
	}
	out, err := b.List(ctx, sentinel.ListInput{Prefix: "worksets/x/"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range out.Objects {
		name := strings.TrimPrefix(o.Key, "worksets/x/")
		seen[name] = true
		if !strings.HasPrefix(name, "daylily.") {
			continue
		}
		c, _, err := b.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.SplitN(string(c.Body), "\t", 2) // text.split("\t", 1)
		if len(parts) != 2 || strings.ContainsAny(parts[1], "\n\r\t{") {
			t.Errorf("%s: legacy readers read %q, want one <timestamp>\\t<detail> line", name, c.Body)
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, parts[0]); err != nil {
			t.Errorf("%s: timestamp %q: %v", name, parts[0], err)
		}
		if name == "daylily.error" && parts[1] != "bwa exited 137 out of memory killed" {
			t.Errorf("daylily.error detail %q", parts[1])
		}
		if c.Meta[sentinel.MetaKey] == "" {
			t.Errorf("%s: no record in the metadata: %v", name, c.Meta)
		}
	}
	if !seen["daylily.error"] || !seen[".worksetstate"] {
		t.Errorf("folder holds %v, want daylily.error and the marker", seen)
	}
	w, err := st.Get(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateError || w.ErrorDetails != details {
		t.Errorf("read back %s %q, want error %q", w.State, w.ErrorDetails, details)
	}
	// A legacy monitor then claims a workset in a folder the SDK marked, with
	// a timestamp body long enough to be an SDK one: it is read, and is
	// another tool's work.
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "worksets/y/daylily.in_progress", sentinel.Content{Body: []byte("2024-01-15T10:00:00.123456+00:00")}); err != nil {
		t.Fatal(err)
	}
	for w, err := range workset.All(ctx, st, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if w.ID == "y" && (w.State != workset.StateInProgress || !w.Foreign) {
			t.Errorf("legacy claim in a marked folder listed as %s, foreign %v", w.State, w.Foreign)
		}
	}
	// Reads never mark a folder.
	if _, err := b.Create(ctx, "worksets/z/daylily.ready", sentinel.Content{Body: []byte("2024-01-15T10:00:00Z")}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "z"); err != nil {
		t.Fatal(err)
	}
	if ks := keys(t, b, "worksets/z/"); len(ks) != 1 {
		t.Errorf("a read changed the folder: %v", ks)
	}
	if out, _ := b.List(ctx, sentinel.ListInput{Prefix: "worksets/z/"}); len(out.Objects) != 1 {
		t.Errorf("a read marked the folder: %v", out.Objects)
	}
}

// The record in the metadata survives S3 with any text in it: quotes,
// backslashes, control characters, DEL and non-ASCII, in the reason, the
// failed step, the details and the owner.
func TestRecordSurvivesAnyText(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	st := newStore(t, b)
	ctx := t.Context()
	odd := "naïve \"quoted\" back\\slash del\x7f bell\x07 ✓ 日本"
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "odd", Reason: odd}); err != nil {
		t.Fatal(err)
	}
	l, err := st.AcquireLease(ctx, "odd", "owner ✓ \"x\"", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "odd", To: workset.StateInProgress, Lease: l}); err != nil {
		t.Fatal(err)
	}
	if _, err := retry.Record(ctx, st, retry.Request{ID: "odd", Lease: l, Category: workset.CategoryTransient, Step: odd, Details: odd + "\nline two"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	w, err := st.Get(ctx, "odd")
	if err != nil {
		t.Fatal(err)
	}
	if w.FailedStep != odd || w.ErrorDetails != odd+"\nline two" || w.RetryCount != 1 {
		t.Errorf("read back step %q details %q retries %d", w.FailedStep, w.ErrorDetails, w.RetryCount)
	}
}
