package memstore_test

import (
	"testing"

	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func Benchmark(b *testing.B) {
	s, err := memstore.New(func(o *memstore.Options) { o.HistoryLimit = 100 })
	if err != nil {
		b.Fatal(err)
	}
	storetest.Benchmark(b, s, 10000)
}
