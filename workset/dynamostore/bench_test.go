package dynamostore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// Against dynalite on loopback: these measure the store's round trips plus the
// server, not DynamoDB's own latency.

func BenchmarkTransition(b *testing.B) {
	s, _, _ := newStore(b, storetest.NewClock(time.Now()))
	ctx := b.Context()
	s.Register(ctx, workset.RegisterRequest{ID: "w"})
	to := []workset.State{workset.StateIgnored, workset.StateReady}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "w", To: to[i%2]}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeaseCycle(b *testing.B) {
	s, _, _ := newStore(b, workset.SystemClock)
	ctx := b.Context()
	s.Register(ctx, workset.RegisterRequest{ID: "w"})
	b.ReportAllocs()
	for b.Loop() {
		l, err := s.AcquireLease(ctx, "w", "me", time.Minute)
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
}

func BenchmarkReadyQueue(b *testing.B) {
	s, _, _ := newStore(b, workset.SystemClock)
	ctx := b.Context()
	for i := range 300 {
		s.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("w-%05d", i), Priority: workset.Priorities()[i%3]})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 100}); err != nil {
			b.Fatal(err)
		}
	}
}
