package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Benchmark measures a store's hot paths on a fresh, empty store: a transition
// (back and forth, so the history grows to the store's bound), a lease cycle
// (acquire, renew, release), and reading one page of 100 of a ready queue of
// queueSize worksets.
func Benchmark(b *testing.B, s workset.StateStore, queueSize int) {
	ctx := b.Context()
	b.Run("Transition", func(b *testing.B) {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: "bench-transition"}); err != nil {
			b.Fatal(err)
		}
		to := []workset.State{workset.StateIgnored, workset.StateReady}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "bench-transition", To: to[i%2]}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("LeaseCycle", func(b *testing.B) {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: "bench-lease"}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			l, err := s.AcquireLease(ctx, "bench-lease", "me", time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if l, err = s.RenewLease(ctx, *l, time.Minute); err != nil {
				b.Fatal(err)
			}
			if err := s.ReleaseLease(ctx, *l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("ReadyQueuePageOf%d", queueSize), func(b *testing.B) {
		for i := range queueSize {
			if _, err := s.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("bench-q-%06d", i), Priority: workset.Priorities()[i%3]}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 100}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
