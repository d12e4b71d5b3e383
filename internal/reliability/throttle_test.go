package reliability

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// A table that throttles writes above 100 a second (a fault transport in
// front of the server): the Migrator with default options loses nothing, and
// converges: after its first, probing half it settles near the rate, with
// writes in flight backed off to a few (then spaced) and fewer of its requests
// throttled than pass (a slower machine offers less load, so it can only look
// better).
func TestMigratorConvergesOnAThrottlingTable(t *testing.T) {
	t.Parallel()
	const n, rate = 800, 100
	src, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := src.Register(t.Context(), workset.RegisterRequest{ID: fmt.Sprintf("ws-%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	limit := &transport.RateLimit{Rate: rate}
	ddb := testenv.DynamoDB(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: limit} })
	dst, err := dynamostore.New(ddb, testenv.UniqueName("throttle"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var halfPassed, halfThrottled int
	var halfAt time.Time
	m, err := migrate.New(src, dst, func(o *migrate.Options) {
		o.ProgressEvery = time.Millisecond
		o.OnProgress = func(p migrate.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if halfAt.IsZero() && p.Done >= n/2 {
				halfPassed, halfThrottled = limit.Counts()
				halfAt = time.Now()
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := m.Apply(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	passed, throttled := limit.Counts()
	mu.Lock()
	defer mu.Unlock()
	p2, t2 := passed-halfPassed, throttled-halfThrottled
	t.Logf("%d created, %d failed in %v; first half: %d writes passed, %d throttled in %v; second half: %d passed (%.0f/s), %d throttled (%.0f%%); writes in flight ended at %d (peak %d)",
		res.Outcomes[migrate.OutcomeCreated], len(res.Errors), end.Sub(start).Round(time.Millisecond),
		halfPassed, halfThrottled, halfAt.Sub(start).Round(time.Millisecond), p2, float64(p2)/end.Sub(halfAt).Seconds(),
		t2, 100*float64(t2)/float64(p2+t2), res.Concurrency.Final, res.Concurrency.Peak)
	if res.Outcomes[migrate.OutcomeCreated] != n || len(res.Errors) != 0 {
		t.Fatalf("the run lost worksets: %v, %d errors (first %v)", res.Outcomes, len(res.Errors), res.Errors)
	}
	if t2 >= p2 { // observed: 10–31% here; a fixed pool of 64 had 38–60% over its runs, and lost worksets in most
		t.Errorf("second half: %d throttled for %d passed: the Migrator did not back off to the table's rate", t2, p2)
	}
}
