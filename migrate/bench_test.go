package migrate_test

import (
	"fmt"
	"testing"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
)

// BenchmarkPlan computes the plan for 10,000 worksets between memory stores,
// half of them already equal.
func BenchmarkPlan(b *testing.B) {
	src, dst := mem(b), mem(b)
	seedB(b, src, 10000)
	seedB(b, dst, 5000)
	m, err := migrate.New(src, dst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Plan(b.Context(), func(migrate.Difference) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

func seedB(b *testing.B, s workset.StateStore, n int) {
	for i := range n {
		if _, err := s.Register(b.Context(), workset.RegisterRequest{ID: idOf(i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func idOf(i int) string { return fmt.Sprintf("ws-%04d", i) }
