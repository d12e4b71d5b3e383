package sentinel_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/migrate"
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
