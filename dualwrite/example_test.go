package dualwrite_test

import (
	"context"
	"fmt"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// A monitor keeps its code and switches phases underneath: first the legacy
// store is authoritative, then the new one, with both kept in step.
func Example() {
	ctx := context.Background()
	legacy, _ := memstore.New() // in production: sentinel.New(bucket)
	next, _ := memstore.New()   // in production: dynamostore.New(client, table)
	store, _ := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })

	monitor := func(id string) {
		lease, err := store.AcquireLease(ctx, id, "monitor-1", time.Minute)
		if err != nil {
			panic(err)
		}
		store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: lease})
		store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete, Lease: lease})
		store.ReleaseLease(ctx, *lease)
	}
	store.Register(ctx, workset.RegisterRequest{ID: "ws-1"})
	store.Register(ctx, workset.RegisterRequest{ID: "ws-2"})
	monitor("ws-1")

	store.SetPhase(dualwrite.NewPrimary) // no restart
	monitor("ws-2")

	for _, id := range []string{"ws-1", "ws-2"} {
		a, _ := legacy.Get(ctx, id)
		b, _ := next.Get(ctx, id)
		fmt.Println(id, "legacy:", a.State, "new:", b.State)
	}
	fmt.Println("phase:", store.Phase(), "divergences:", store.Stats().Divergences)
	// Output:
	// ws-1 legacy: complete new: complete
	// ws-2 legacy: complete new: complete
	// phase: new-primary divergences: 0
}
