package migrate_test

import (
	"context"
	"fmt"
	"log"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Plan is the dry run; Apply copies; a second Apply writes nothing; Verify
// confirms.
func Example() {
	ctx := context.Background()
	legacy, err := memstore.New() // in production: a sentinel.Store over the S3 bucket
	if err != nil {
		log.Fatal(err)
	}
	next, err := memstore.New() // in production: a dynamostore.Store
	if err != nil {
		log.Fatal(err)
	}
	for _, id := range []string{"ws-1", "ws-2", "ws-3"} {
		if _, err := legacy.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := legacy.Transition(ctx, workset.TransitionRequest{ID: "ws-2", To: workset.StateInProgress}); err != nil {
		log.Fatal(err)
	}

	m, err := migrate.New(legacy, next)
	if err != nil {
		log.Fatal(err)
	}
	plan, err := m.Plan(ctx, func(d migrate.Difference) error {
		fmt.Println(d.WorksetID, d.Kind, d.SourceState)
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := m.Apply(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	again, err := m.Apply(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	check, err := m.Verify(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("planned:", plan.Kinds[migrate.MissingInDestination], "created:", res.Outcomes[migrate.OutcomeCreated],
		"rerun unchanged:", again.Outcomes[migrate.OutcomeUnchanged], "discrepancies:", check.Discrepancies())
	// Unordered output:
	// ws-1 missing_in_destination ready
	// ws-2 missing_in_destination in_progress
	// ws-3 missing_in_destination ready
	// planned: 3 created: 3 rerun unchanged: 3 discrepancies: 0
}
