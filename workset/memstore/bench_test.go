package memstore_test

import (
	"testing"

	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func Benchmark(b *testing.B) {
	s, _ := memstore.New(func(o *memstore.Options) { o.HistoryLimit = 100 })
	storetest.Benchmark(b, s, 10000)
}
