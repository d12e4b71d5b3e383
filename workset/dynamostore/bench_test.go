package dynamostore_test

import (
	"testing"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// Against dynalite on loopback: these measure the store's round trips plus the
// server, not DynamoDB's own latency.
func Benchmark(b *testing.B) {
	s, _, _ := newStore(b, workset.SystemClock)
	storetest.Benchmark(b, s, 300)
}
