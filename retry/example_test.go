package retry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Recording failures of a worker that does not use monitor: transient ones are
// retried with backoff up to the limit, then the workset fails.
func ExampleRecord() {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		panic(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		panic(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 3 {
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateInProgress}); err != nil {
			panic(err)
		}
		w, err := retry.Record(ctx, store, retry.Request{ID: "ws-1", Category: workset.CategoryTransient,
			Step: "align", Details: "node lost", MaxRetries: 2}, now)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s, count %d: %s\n", w.State, w.RetryCount, w.History[len(w.History)-1].Reason)
		if w.State == workset.StateRetrying {
			fmt.Println("  due in", w.RetryAfter.Sub(now))
		}
	}
	// Output:
	// retrying, count 1: transient failure (retry 1 of 2)
	//   due in 30s
	// retrying, count 2: transient failure (retry 2 of 2)
	//   due in 1m0s
	// failed, count 2: transient failure
}
