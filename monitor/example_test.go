package monitor_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// A monitor end to end: register work, run until the queue is idle, and see
// each outcome. A handler classifies its failures with Fail; a plain error
// counts as transient and is retried.
func Example() {
	ctx := context.Background()
	store, err := memstore.New() // in production: a dynamostore.Store
	if err != nil {
		panic(err)
	}
	for _, id := range []string{"ws-1", "ws-2", "ws-3"} {
		if _, err := store.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			panic(err)
		}
	}
	var mu sync.Mutex
	var lines []string
	m, err := monitor.New(store, func(ctx context.Context, w *workset.Workset) error {
		if w.ID == "ws-3" {
			return monitor.Fail(workset.CategoryData, "align", errors.New("truncated FASTQ"))
		}
		return nil // the pipeline ran
	}, func(o *monitor.Options) {
		o.Owner, o.PollInterval = "monitor-a", 10*time.Millisecond
		o.OnDone = func(out monitor.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			lines = append(lines, fmt.Sprintf("%s: %s (handler: %v)", out.WorksetID, out.State, out.HandlerErr))
		}
	})
	if err != nil {
		panic(err)
	}
	if err := m.RunUntilIdle(ctx); err != nil {
		panic(err)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// ws-1: complete (handler: <nil>)
	// ws-2: complete (handler: <nil>)
	// ws-3: failed (handler: data failure in align: truncated FASTQ)
}
