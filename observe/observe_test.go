package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func TestWrapReportsEveryChange(t *testing.T) {
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var kinds []string
	s := observe.Wrap(mem, observe.Func(func(_ context.Context, e observe.Event) {
		mu.Lock()
		kinds = append(kinds, string(e.Kind)+":"+string(e.From)+">"+string(e.To))
		mu.Unlock()
	}))
	ctx := t.Context()
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	l, err := s.AcquireLease(ctx, "w", "m", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "w", To: workset.StateInProgress, Lease: l}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "w", To: workset.StateError, Lease: l, ErrorCategory: workset.CategoryData}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewLease(ctx, *l, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, *l); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RenewLease(ctx, *l, time.Minute); !errors.Is(err, workset.ErrLeaseLost) { // lost now
		t.Fatalf("renew after release: %v, want ErrLeaseLost", err)
	}
	want := "registered:>ready lease_acquired:> transitioned:ready>in_progress transitioned:in_progress>error failed:>error lease_renewed:> lease_released:> lease_lost:>"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	counts, err := observe.CountByState(ctx, s)
	if err != nil || counts[workset.StateError] != 1 {
		t.Errorf("CountByState through the wrapper: %v, %v", counts, err)
	}
}

func TestEMFLines(t *testing.T) {
	var buf bytes.Buffer
	m := &observe.EMF{W: &buf}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m.Observe(context.Background(), observe.Event{Kind: observe.Transitioned, WorksetID: "w", To: workset.StateInProgress, At: at})
	m.Observe(context.Background(), observe.Event{Kind: observe.LeaseAcquired, WorksetID: "w", At: at})
	if err := m.QueueDepth(map[workset.State]int64{workset.StateReady: 7, workset.StateError: 2}, at.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	var doc struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		WorksetStateInProgress float64
		LockAcquired           float64
		QueueDepth             float64
		StateCountError        float64
	}
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &doc); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		d := doc.AWS.CloudWatchMetrics[0]
		if d.Namespace != "Daylily/WorksetMonitor" || doc.AWS.Timestamp != at.UnixMilli() || len(d.Dimensions) != 1 || d.Metrics[0].Unit != "Count" {
			t.Errorf("line %d: %s", i, l)
		}
	}
	if doc.WorksetStateInProgress != 1 || doc.LockAcquired != 1 || doc.QueueDepth != 7 || doc.StateCountError != 2 {
		t.Errorf("metric values: %+v", doc)
	}
}

// QueueAge reports the oldest ready workset's wait in seconds, and Look
// finds it.
func TestQueueAge(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := storetest.NewClock(now.Add(-3 * time.Hour))
	s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	oldestReady := func() (*workset.Workset, error) {
		o, err := observe.Look(ctx, s, "", time.Time{})
		if err != nil {
			return nil, err
		}
		return o.OldestReady, nil
	}
	if w, err := oldestReady(); err != nil || w != nil {
		t.Fatalf("empty store: %v %v", w, err)
	}
	for _, id := range []string{"old", "new"} {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Hour)
	}
	w, err := oldestReady()
	if err != nil || w == nil || w.ID != "old" {
		t.Fatalf("oldest ready: %v %v", w, err)
	}
	var buf bytes.Buffer
	if err := (&observe.EMF{W: &buf}).QueueAge(now.Sub(w.UpdatedAt), now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OldestReadyAge float64
		AWS            struct {
			CloudWatchMetrics []struct{ Metrics []struct{ Name, Unit string } }
		} `json:"_aws"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if m := doc.AWS.CloudWatchMetrics[0].Metrics[0]; doc.OldestReadyAge != 3*3600 || m.Name != "OldestReadyAge" || m.Unit != "Seconds" {
		t.Errorf("queue age line: %s", buf.String())
	}
}

// From is never a guess: over the sentinel store's derived history (one entry
// per sentinel present) it is empty unless the request names the state it
// expects; from a history kept in full it is the entry before the last.
func TestFromIsNeverAGuess(t *testing.T) {
	ctx := t.Context()
	bucket, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The daylily layout keeps its earlier sentinels: after ready -> in_progress
	// -> error the derived history reads ready, in_progress, error, and a
	// requeue to ready would name "in_progress" as From if taken from it.
	st, err := sentinel.New(bucket, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	s := observe.Wrap(st, observe.Func(func(_ context.Context, e observe.Event) {
		if e.Kind == observe.Transitioned {
			froms = append(froms, string(e.From))
		}
	}))
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []workset.TransitionRequest{
		{ID: "w", To: workset.StateInProgress},
		{ID: "w", To: workset.StateError},
		{ID: "w", To: workset.StateReady},
		{ID: "w", To: workset.StateInProgress, ExpectedState: workset.StateReady},
	} {
		if _, err := s.Transition(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(froms, ","); got != ",,,ready" {
		t.Errorf("From over a derived history: %q, want only the expected state named", got)
	}
	// A legacy pile-up: daylily.in_progress, then daylily.ready written after
	// it (a restart). The workset is in_progress; its derived history ends
	// ..., ready, so the entry before the last would wrongly say ready.
	froms = nil
	for _, name := range []string{"daylily.in_progress", "daylily.ready"} {
		if _, err := bucket.Create(ctx, "worksets/p/"+name, sentinel.Content{Body: []byte("2024-01-15T10:00:00Z")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "p", To: workset.StateError}); err != nil {
		t.Fatal(err)
	}
	if len(froms) != 1 || froms[0] == string(workset.StateReady) {
		t.Errorf("From over a legacy pile-up: %q", froms)
	}
}

// listCounter counts the List calls made to a store that is not a Counter.
type listCounter struct {
	*memstore.Store
	lists int
}

func (l *listCounter) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	l.lists++
	return l.Store.List(ctx, q)
}

// Look reads a store that cannot count without reading in one pass, and
// counts what it could not read instead of dropping it.
func TestLookIsOnePass(t *testing.T) {
	ctx := t.Context()
	mem, _ := memstore.New()
	s := &listCounter{Store: mem}
	for _, id := range []string{"r1", "r2", "run", "bad"} {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "run", To: workset.StateInProgress}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "bad", To: workset.StateError, Force: true}); err != nil {
		t.Fatal(err)
	}
	o, err := observe.Look(ctx, s, "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s.lists != 1 || o.Total != 4 || o.Counts[workset.StateReady] != 2 || len(o.InFlight) != 1 || len(o.Failures) != 1 || o.OldestReady == nil || o.OldestReady.ID != "r1" {
		t.Errorf("Look made %d List calls: %+v", s.lists, o)
	}
}
