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
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
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
