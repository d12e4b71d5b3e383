package memstore_test

import (
	"testing"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func TestConformance(t *testing.T) {
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
