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

// claimLoop is one way for a monitor to claim the workset it picked: it
// returns the claimed workset's ID, or an error matching ErrLeaseHeld or
// ErrNotLeasable when another monitor was first.
type claimLoop struct {
	name string
	// list reads the candidates, nextOnRefusal says whether a refused claim
	// goes on to the next candidate of the page (else the page is read again).
	list          func(ctx context.Context, st *dynamostore.Store) ([]*workset.Workset, error)
	nextOnRefusal bool
	claim         func(ctx context.Context, st *dynamostore.Store, id, owner string) error
}

// listWindow reads a page of n of the ready queue.
func listWindow(n int) func(ctx context.Context, st *dynamostore.Store) ([]*workset.Workset, error) {
	return func(ctx context.Context, st *dynamostore.Store) ([]*workset.Workset, error) {
		page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: n})
		if err != nil {
			return nil, err
		}
		return page.Worksets, nil
	}
}

// listPerPriority reads the window as the store did before (one Query per
// priority, in dispatch order, until 32 are read).
func listPerPriority(ctx context.Context, st *dynamostore.Store) ([]*workset.Workset, error) {
	var out []*workset.Workset
	for _, p := range workset.Priorities() {
		page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady, Priority: p, Limit: 32 - len(out)})
		if err != nil {
			return nil, err
		}
		out = append(out, page.Worksets...)
		if len(out) == 32 {
			break
		}
	}
	return out, nil
}

func acquireThenTransition(ctx context.Context, st *dynamostore.Store, id, owner string) error {
	lease, err := st.AcquireLease(ctx, id, owner, time.Minute)
	if err != nil {
		return err
	}
	_, err = st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: lease, Reason: owner})
	return err
}

var claimLoops = []claimLoop{
	{"before: a Query per priority, acquire then transition, list again after a refusal", listPerPriority, false, acquireThenTransition},
	{"one Query a page of 32, acquire then transition, list again after a refusal", listWindow(32), false, acquireThenTransition},
	{"one Query a page of 32, one-write Claim, next candidate after a refusal", listWindow(32), true, oneWriteClaim},
	{"one Query a page of 32, one-write Claim, list again after a refusal", listWindow(32), false, oneWriteClaim},
	{"now (the monitor): one Query a page of 64, one-write Claim, list again after a refusal", listWindow(64), false, oneWriteClaim},
}

func oneWriteClaim(ctx context.Context, st *dynamostore.Store, id, owner string) error {
	_, err := workset.Claim(ctx, st, workset.ClaimRequest{ID: id, Owner: owner, TTL: time.Minute})
	return err
}

// contention runs, side by side on fresh tables, 16 monitors claiming from n
// ready worksets through the DynamoDB store with each claim loop: each lists a
// page of the ready queue, picks at random one workset the listing does not
// show as leased, claims it, and lists again.
func contention(ctx context.Context, srv *servers.Servers, n int, rtt time.Duration) error {
	fmt.Printf("\ncontention: 16 monitors, %d ready worksets, %v added round trip\n", n, rtt)
	fmt.Println("| claim loop | claims/s | requests per claim | refused per claim | requests |")
	fmt.Println("|---|---:|---:|---:|---|")
	for i, loop := range claimLoops {
		if err := runClaimLoop(ctx, srv, n, rtt, loop, fmt.Sprintf("bench-contention-%d-%d", i, time.Now().UnixNano())); err != nil {
			return fmt.Errorf("contention (%s): %w", loop.name, err)
		}
	}
	return nil
}

func runClaimLoop(ctx context.Context, srv *servers.Servers, n int, rtt time.Duration, loop claimLoop, table string) error {
	c := newClients(srv, rtt)
	st, err := dynamostore.New(c.ddb, table)
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
				page, err := loop.list(gctx, st)
				if err != nil {
					return err
				}
				if len(page) == 0 {
					return nil
				}
				// Skip what the listing already shows as leased; try the rest in
				// random order, so that monitors spread over the page.
				free := page[:0]
				for _, w := range page {
					if w.Lease == nil || w.Lease.Expired(time.Now(), 0) {
						free = append(free, w)
					}
				}
				rng.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
				for _, w := range free {
					err := loop.claim(gctx, st, w.ID, owner)
					if errors.Is(err, workset.ErrLeaseHeld) || errors.Is(err, workset.ErrNotLeasable) {
						refused.Add(1)
						if loop.nextOnRefusal {
							continue
						}
						break
					}
					if err != nil {
						return err
					}
					claims.Add(1)
					mu.Lock()
					claimedBy[w.ID]++
					mu.Unlock()
					break
				}
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
	fmt.Printf("| %s | %.0f | %.2f | %.2f | %s |\n", loop.name, float64(claims.Load())/wall.Seconds(),
		float64(total)/float64(claims.Load()), float64(refused.Load())/float64(claims.Load()), formatCounts(c.counter.Counts()))
	if twice != 0 || len(claimedBy) != n {
		return fmt.Errorf("%d worksets claimed, %d more than once", len(claimedBy), twice)
	}
	return nil
}
