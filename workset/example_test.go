package workset_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// The transition graph, as every store enforces it.
func ExampleNextStates() {
	for _, s := range workset.States() {
		fmt.Printf("%-11s -> %v\n", s, workset.NextStates(s))
	}
	fmt.Println("leasable:", workset.LeasableStates())
	// Output:
	// ready       -> [locked in_progress ignored]
	// locked      -> [in_progress ready error]
	// in_progress -> [complete error retrying failed]
	// complete    -> [archived]
	// error       -> [ready retrying failed ignored]
	// ignored     -> [archived ready]
	// retrying    -> [in_progress ready failed]
	// failed      -> [archived]
	// archived    -> [ready deleted]
	// deleted     -> []
	// leasable: [ready retrying]
}

// The first things a user of any store does: register, lease, move, and tell
// the errors apart.
func Example() {
	ctx := context.Background()
	var store workset.StateStore
	store, err := memstore.New() // or dynamostore.New, sentinel.New: the same contract
	if err != nil {
		panic(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1", Priority: workset.PriorityUrgent}); err != nil {
		panic(err)
	}
	lease, err := store.AcquireLease(ctx, "ws-1", "monitor-a", time.Minute)
	if err != nil {
		panic(err)
	}
	w, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateInProgress, Lease: lease, Reason: "started"})
	if err != nil {
		panic(err)
	}
	fmt.Println(w.State, "version", w.Version, "history", len(w.History))

	_, err = store.AcquireLease(ctx, "ws-1", "monitor-b", time.Minute)
	var held *workset.LeaseHeldError
	fmt.Println(errors.Is(err, workset.ErrLeaseHeld), errors.As(err, &held) && held.Owner == "monitor-a")

	_, err = store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateArchived, Lease: lease})
	fmt.Println(err)
	_, err = store.Get(ctx, "nope")
	fmt.Println(err, errors.Is(err, workset.ErrNotFound))
	// Output:
	// in_progress version 3 history 2
	// true true
	// workset ws-1: invalid transition: in_progress -> archived (allowed from in_progress: complete, error, retrying, failed)
	// workset nope: not found true
}
