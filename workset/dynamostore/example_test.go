package dynamostore_test

import (
	"context"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// Constructing the store over the deployed table, creating it (with its
// indexes) where it does not exist yet. This example is compiled, not run: it
// talks to AWS. The same steps run against a local DynamoDB in this package's
// tests (TestRoundTrips and the conformance suite).
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-west-2"))
	if err != nil {
		log.Fatal(err)
	}
	store, err := dynamostore.New(dynamodb.NewFromConfig(cfg), "daylily-worksets", func(o *dynamostore.Options) {
		o.CustomerIndex = true // also create customer-id-state-index, for ListQuery.Customer
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx, 5*time.Minute); err != nil { // idempotent
		log.Fatal(err)
	}
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1", Priority: workset.PriorityUrgent}); err != nil {
		log.Fatal(err)
	}
}
