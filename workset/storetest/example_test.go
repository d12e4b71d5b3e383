package storetest_test

import (
	"testing"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// A store's conformance test: Run with a harness that makes a fresh store for
// each behaviour (this is memstore's; a store over a server makes a fresh
// table or bucket each time).
func ExampleRun() {
	_ = func(t *testing.T) { // func TestConformance(t *testing.T)
		storetest.Run(t, storetest.Harness{
			NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
				s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
		})
	}
}
