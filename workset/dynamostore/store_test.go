package dynamostore_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

const skew = 500 * time.Millisecond

// newStore creates a fresh table on the test server and a store over it whose
// requests are counted.
func newStore(t testing.TB, clock workset.Clock, optFns ...func(*dynamostore.Options)) (*dynamostore.Store, *transport.Counter, *dynamodb.Client) {
	t.Helper()
	counter := &transport.Counter{}
	client := testenv.DynamoDB(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: counter} })
	s, err := dynamostore.New(client, testenv.UniqueName("worksets"), append([]func(*dynamostore.Options){func(o *dynamostore.Options) {
		o.Clock = clock
		o.SkewMargin = skew
	}}, optFns...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateTable(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	return s, counter, client
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		SkewMargin: skew,
		NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
			s, _, _ := newStore(t, clock)
			return s
		},
		Faulty: func(t *testing.T, kind error) workset.StateStore {
			client := testenv.DynamoDB(t) // a missing table is a misconfiguration
			if kind == workset.ErrUnavailable {
				client = testenv.DynamoDB(t, func(o *dynamodb.Options) {
					o.BaseEndpoint, o.RetryMaxAttempts = aws.String(testenv.ClosedEndpoint(t)), 1
				})
			}
			s, err := dynamostore.New(client, "no-such-table")
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
