package sentinel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Cleanup races a monitor taking leases: no lease a monitor was granted is
// ever deleted under it (the workset stays, with that lease), and every
// workset cleanup leaves alone is reported skipped.
func TestCleanupNeverDeletesALeaseTakenAfterItsScan(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for round := range 3 {
		src := newStore(t, s3Bucket(t))
		dst, err := memstore.New()
		if err != nil {
			t.Fatal(err)
		}
		const n = 16
		var ids []string
		for i := range n {
			id := fmt.Sprintf("ws-%02d", i)
			if _, err := src.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		m, err := migrate.New(src, dst, func(o *migrate.Options) { o.Concurrency = 4 })
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Apply(ctx, nil); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		granted := map[string]*workset.Lease{}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { // the monitor
			defer wg.Done()
			for _, id := range ids {
				time.Sleep(time.Duration(round) * time.Millisecond)
				l, err := src.AcquireLease(context.Background(), id, "monitor-1", time.Hour)
				if err == nil {
					mu.Lock()
					granted[id] = l
					mu.Unlock()
				} else if !errors.Is(err, workset.ErrNotFound) && !errors.Is(err, workset.ErrLeaseHeld) && !errors.Is(err, workset.ErrConflict) {
					t.Errorf("acquire %s: %v", id, err)
				}
			}
		}()
		res, err := m.Cleanup(ctx, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		for id, l := range granted {
			w, err := src.Get(ctx, id)
			if err != nil {
				t.Errorf("round %d: %s was deleted under the lease granted to the monitor: %v", round, id, err)
				continue
			}
			if w.Lease == nil || w.Lease.Token != l.Token {
				t.Errorf("round %d: %s lease %+v, want the monitor's (token %d)", round, id, w.Lease, l.Token)
			}
		}
		if got := res.Outcomes[migrate.OutcomeDeleted] + res.Outcomes[migrate.OutcomeSkipped]; got != n || res.Outcomes[migrate.OutcomeFailed] != 0 {
			t.Errorf("round %d: outcomes %v, want %d deleted or skipped", round, res.Outcomes, n)
		}
		t.Logf("round %d: %d leases granted during cleanup, outcomes %v", round, len(granted), res.Outcomes)
	}
}

// failingDelete fails the Delete of one key (as S3 answering SlowDown would)
// and passes every other call on.
type failingDelete struct {
	sentinel.Bucket
	key string
}

func (f *failingDelete) Delete(ctx context.Context, key, etag string) error {
	if key == f.key {
		return errors.New("SlowDown: please reduce your request rate")
	}
	return f.Bucket.Delete(ctx, key, etag)
}

// A delete that fails part way leaves the state that was there (issue 23, 4):
// a completed workset holding the legacy pile-up reads complete whichever of
// its sentinels could not be removed, never in_progress or ready.
func TestFailedDeleteNeverMovesAWorksetBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := s3Bucket(t)
	// The legacy monitor that left the pile-up is stopped: its lock is stale.
	daylilyStopped := func(o *sentinel.Options) {
		o.Naming, o.LegacyLockTTL, o.SkewMargin = sentinel.DaylilyNaming(), time.Nanosecond, 0
	}
	pile := []string{"daylily.ready", "daylily.lock", "daylily.in_progress", "daylily.complete"}
	for i := range 6 * len(pile) { // rounds, so that no lucky order of deletes hides a wrong one
		failing := pile[i%len(pile)]
		id := fmt.Sprintf("ws-%d", i)
		for _, n := range pile {
			if _, err := b.Create(ctx, "worksets/"+id+"/"+n, sentinel.Content{Body: []byte("2025-03-04T05:06:07Z")}); err != nil {
				t.Fatal(err)
			}
		}
		st := newStore(t, &failingDelete{Bucket: b, key: "worksets/" + id + "/" + failing}, daylilyStopped)
		if err := st.Delete(ctx, id, 0); err == nil {
			t.Fatalf("%s: Delete reported success although deleting %s failed", id, failing)
		}
		w, err := newStore(t, b, daylilyStopped).Get(ctx, id)
		if err != nil {
			t.Fatalf("%s: after the failed delete of %s: %v", id, failing, err)
		}
		if w.State != workset.StateComplete {
			t.Errorf("a failed delete of %s moved a completed workset to %s", failing, w.State)
		}
	}
}
