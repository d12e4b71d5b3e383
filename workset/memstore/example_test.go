package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// A monitor claims the most urgent ready workset, works on it under its lease,
// and records the outcome.
func Example() {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		log.Fatal(err)
	}
	for id, p := range map[string]workset.Priority{"ws-a": workset.PriorityLow, "ws-b": workset.PriorityUrgent} {
		if _, err := store.Register(ctx, workset.RegisterRequest{ID: id, Priority: p}); err != nil {
			panic(err)
		}
	}
	page, err := store.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 1})
	if err != nil {
		log.Fatal(err)
	}
	next := page.Worksets[0]
	lease, err := store.AcquireLease(ctx, next.ID, "host-1-42", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: next.ID, To: workset.StateInProgress, Lease: lease, Reason: "started"}); err != nil {
		log.Fatal(err)
	}
	w, err := store.Transition(ctx, workset.TransitionRequest{ID: next.ID, To: workset.StateComplete, Lease: lease, Reason: "done"})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.ReleaseLease(ctx, *lease); err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.ID, w.Priority, w.State, len(w.History))
	// Output: ws-b urgent complete 3
}

// The graph refuses a move it does not allow; errors.As gives the details.
func ExampleStore_Transition_refused() {
	ctx := context.Background()
	store, err := memstore.New()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		log.Fatal(err)
	}
	_, err = store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateComplete})
	var te *workset.TransitionError
	fmt.Println(errors.Is(err, workset.ErrInvalidTransition), errors.As(err, &te) && te.From == workset.StateReady)
	// Output: true true
}

// An expired lease is taken over at once, and the old holder is fenced off.
func ExampleStore_AcquireLease_takeover() {
	ctx := context.Background()
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	store, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		log.Fatal(err)
	}

	old, err := store.AcquireLease(ctx, "ws-1", "monitor-a", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.AcquireLease(ctx, "ws-1", "monitor-b", 30*time.Second)
	fmt.Println(err)

	clock.Advance(31 * time.Second) // monitor-a stopped renewing
	nl, err := store.AcquireLease(ctx, "ws-1", "monitor-b", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	_, err = store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateInProgress, Lease: old})
	fmt.Println(nl.Token > old.Token, errors.Is(err, workset.ErrLeaseLost))
	// Output:
	// workset ws-1: lease held: by "monitor-a" until 2026-01-01T00:00:30Z
	// true true
}
