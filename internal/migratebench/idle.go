package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// idle measures what an idle monitor costs: two monitors, one with the
// polling backoff and one without, each on an empty table of its own, side by
// side for the same time, at a tenth of the default intervals (PollInterval
// 500ms, MaxPollInterval 4s) so that the run is short; at the defaults (5s,
// 40s) every figure per minute is a tenth. Then a workset is registered for
// each and the time until it is claimed is measured (the backed-off one is
// woken with Wake, as an embedder that learns of new work does).
func idle(ctx context.Context, srv *servers.Servers, rtt time.Duration) error {
	const run = 40 * time.Second
	type variant struct {
		name     string
		max      time.Duration
		wake     bool
		requests int64
		pickup   time.Duration
	}
	variants := []*variant{{name: "no backoff (MaxPollInterval = PollInterval)", max: 500 * time.Millisecond},
		{name: "backoff to 8×PollInterval (the default), Wake on new work", max: 4 * time.Second, wake: true}}
	var wg sync.WaitGroup
	errs := make([]error, len(variants))
	for i, v := range variants {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = func() error {
				c := newClients(srv, rtt)
				st, err := dynamostore.New(c.ddb, fmt.Sprintf("bench-idle-%d-%d", i, time.Now().UnixNano()))
				if err != nil {
					return err
				}
				if err := st.CreateTable(ctx, time.Minute); err != nil {
					return err
				}
				claimed := make(chan time.Time, 1)
				m, err := monitor.New(st, func(context.Context, *workset.Workset) error { claimed <- time.Now(); return nil }, func(o *monitor.Options) {
					o.Owner, o.PollInterval, o.MaxPollInterval = fmt.Sprintf("idle-%d", i), 500*time.Millisecond, v.max
				})
				if err != nil {
					return err
				}
				rctx, cancel := context.WithCancel(ctx)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- m.Run(rctx) }()
				time.Sleep(2 * time.Second) // let it settle
				c.counter.Reset()
				time.Sleep(run)
				v.requests = int64(c.counter.Total())
				registered := time.Now()
				if _, err := st.Register(ctx, workset.RegisterRequest{ID: "ws-new"}); err != nil {
					return err
				}
				if v.wake {
					m.Wake()
				}
				select {
				case at := <-claimed:
					v.pickup = at.Sub(registered)
				case <-time.After(time.Minute):
					return fmt.Errorf("%s: the new workset was not claimed within a minute", v.name)
				}
				cancel()
				return <-done
			}()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("\nidle monitor, %v of an empty queue at PollInterval 500ms (a tenth of the default), %v added round trip\n", run, rtt)
	fmt.Println("| polling | requests per minute | at the default intervals | new work claimed after |")
	fmt.Println("|---|---:|---:|---:|")
	for _, v := range variants {
		perMin := float64(v.requests) / run.Minutes()
		fmt.Printf("| %s | %.0f | %.1f | %v |\n", v.name, perMin, perMin/10, v.pickup.Round(time.Millisecond))
	}
	return nil
}
