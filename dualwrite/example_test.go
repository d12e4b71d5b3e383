package dualwrite_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// A monitor keeps its code and switches phases underneath: first the legacy
// store is authoritative, then the new one, with both kept in step.
func Example() {
	ctx := context.Background()
	legacy, err := memstore.New() // in production: sentinel.New(bucket)
	if err != nil {
		log.Fatal(err)
	}
	next, err := memstore.New() // in production: dynamostore.New(client, table)
	if err != nil {
		log.Fatal(err)
	}
	store, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })
	if err != nil {
		log.Fatal(err)
	}

	monitor := func(id string) {
		lease, err := store.AcquireLease(ctx, id, "monitor-1", time.Minute)
		if err != nil {
			panic(err)
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: lease}); err != nil {
			log.Fatal(err)
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete, Lease: lease}); err != nil {
			log.Fatal(err)
		}
		if err := store.ReleaseLease(ctx, *lease); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		log.Fatal(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-2"}); err != nil {
		log.Fatal(err)
	}
	monitor("ws-1")

	if err := store.SetPhase(dualwrite.NewPrimary); err != nil { // no restart
		log.Fatal(err)
	}
	monitor("ws-2")

	for _, id := range []string{"ws-1", "ws-2"} {
		a, err := legacy.Get(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		b, err := next.Get(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(id, "legacy:", a.State, "new:", b.State)
	}
	fmt.Println("phase:", store.Phase(), "divergences:", store.Stats().Divergences)
	// Output:
	// ws-1 legacy: complete new: complete
	// ws-2 legacy: complete new: complete
	// phase: new-primary divergences: 0
}
