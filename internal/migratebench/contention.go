package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"golang.org/x/sync/errgroup"
)

// contention runs 16 monitors claiming from n ready worksets through the
// DynamoDB store: each lists a page of the ready queue, picks at random one
// workset the listing does not show as leased, tries to lease it, moves it to
// in_progress under the lease when it wins, and lists again.
func contention(ctx context.Context, srv *servers.Servers, n int, rtt time.Duration) error {
	c := newClients(srv, rtt)
	st, err := dynamostore.New(c.ddb, "bench-contention")
	if err != nil {
		return err
	}
	if err := st.CreateTable(ctx, time.Minute); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			_, err := st.Register(gctx, workset.RegisterRequest{ID: fmt.Sprintf("c-%05d", i), Priority: workset.Priorities()[i%3]})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.counter.Reset()
	var claims, refused atomic.Int64
	var mu sync.Mutex
	claimedBy := map[string]int{}
	start := time.Now()
	g, gctx = errgroup.WithContext(ctx)
	for m := range 16 {
		g.Go(func() error {
			rng := rand.New(rand.NewPCG(uint64(m), 99))
			owner := fmt.Sprintf("monitor-%02d", m)
			for {
				page, err := st.List(gctx, workset.ListQuery{State: workset.StateReady, Limit: 32})
				if err != nil {
					return err
				}
				if len(page.Worksets) == 0 {
					return nil
				}
				// Skip what the listing already shows as leased; try one of the
				// rest at random, so that monitors spread over the page.
				free := page.Worksets[:0]
				for _, w := range page.Worksets {
					if w.Lease == nil || w.Lease.Expired(time.Now(), 0) {
						free = append(free, w)
					}
				}
				if len(free) == 0 {
					continue
				}
				w := free[rng.IntN(len(free))]
				lease, err := st.AcquireLease(gctx, w.ID, owner, time.Minute)
				if errors.Is(err, workset.ErrLeaseHeld) || errors.Is(err, workset.ErrNotLeasable) {
					refused.Add(1)
					continue
				}
				if err != nil {
					return err
				}
				if _, err := st.Transition(gctx, workset.TransitionRequest{ID: w.ID, To: workset.StateInProgress, Lease: lease, Reason: owner}); err != nil {
					return err
				}
				claims.Add(1)
				mu.Lock()
				claimedBy[w.ID]++
				mu.Unlock()
			}
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	wall := time.Since(start)
	twice := 0
	for _, k := range claimedBy {
		if k != 1 {
			twice++
		}
	}
	total := c.counter.Total()
	fmt.Printf("\ncontention: 16 monitors, %d ready worksets, %v added round trip\n", n, rtt)
	fmt.Printf("  claimed %d (each exactly once: %v), %.0f claims/s, %d refused acquisitions\n", claims.Load(), twice == 0 && len(claimedBy) == n, float64(claims.Load())/wall.Seconds(), refused.Load())
	fmt.Printf("  %.2f requests per claim (the minimum is 3: list, acquire, transition); wasted %.2f per claim (%s)\n",
		float64(total)/float64(claims.Load()), float64(total)/float64(claims.Load())-3, formatCounts(c.counter.Counts()))
	if twice != 0 || len(claimedBy) != n {
		return fmt.Errorf("contention: %d worksets claimed, %d more than once", len(claimedBy), twice)
	}
	return nil
}
