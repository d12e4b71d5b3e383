package migrate_test

import (
	"context"
	"fmt"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Plan is the dry run; Apply copies; a second Apply writes nothing; Verify
// confirms.
func Example() {
	ctx := context.Background()
	legacy, _ := memstore.New() // in production: a sentinel.Store over the S3 bucket
	next, _ := memstore.New()   // in production: a dynamostore.Store
	for _, id := range []string{"ws-1", "ws-2", "ws-3"} {
		legacy.Register(ctx, workset.RegisterRequest{ID: id})
	}
	legacy.Transition(ctx, workset.TransitionRequest{ID: "ws-2", To: workset.StateInProgress})

	m, _ := migrate.New(legacy, next)
	plan, _ := m.Plan(ctx, func(d migrate.Difference) error {
		fmt.Println(d.WorksetID, d.Kind, d.SourceState)
		return nil
	})
	res, _ := m.Apply(ctx, nil)
	again, _ := m.Apply(ctx, nil)
	check, _ := m.Verify(ctx, nil)
	fmt.Println("planned:", plan.Kinds[migrate.MissingInDestination], "created:", res.Outcomes[migrate.OutcomeCreated],
		"rerun unchanged:", again.Outcomes[migrate.OutcomeUnchanged], "discrepancies:", check.Discrepancies())
	// Unordered output:
	// ws-1 missing_in_destination ready
	// ws-2 missing_in_destination in_progress
	// ws-3 missing_in_destination ready
	// planned: 3 created: 3 rerun unchanged: 3 discrepancies: 0
}
