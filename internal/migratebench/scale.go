package main

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// genSource yields n synthetic worksets without holding them.
type genSource struct {
	workset.StateStore // only Scan and Capabilities are called
	n                  int
}

func (g genSource) Capabilities() workset.Capabilities { return workset.Capabilities{} }

func (g genSource) Scan(ctx context.Context, _ workset.ListQuery) iter.Seq2[*workset.Workset, error] {
	return func(yield func(*workset.Workset, error) bool) {
		states := workset.States()
		for i := range g.n {
			w := &workset.Workset{ID: fmt.Sprintf("ws-%08d", i), State: states[i%4], Priority: workset.PriorityNormal,
				Bucket: "b", Prefix: fmt.Sprintf("worksets/ws-%08d/", i)}
			if !yield(w, nil) {
				return
			}
		}
	}
}

// sink is a destination that holds nothing: every record is missing, every
// import is counted and dropped.
type sink struct {
	workset.StateStore
	imports atomic.Int64
}

func (s *sink) Capabilities() workset.Capabilities { return workset.Capabilities{} }
func (s *sink) GetMany(context.Context, []string) (map[string]*workset.Workset, error) {
	return map[string]*workset.Workset{}, nil
}
func (s *sink) Import(_ context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	s.imports.Add(1)
	return req.Workset, nil
}

// scale runs the Migrator over synthetic worksets between in-memory stand-ins
// and reports its own peak heap, which must not grow with N.
func scale(ctx context.Context, sizes string, concurrency int) error {
	fmt.Println("\nscale check (no servers): the Migrator's own peak heap")
	var first float64
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-scale: %w", err)
		}
		dst := &sink{}
		m, err := migrate.New(genSource{n: n}, dst, func(o *migrate.Options) { o.Concurrency = concurrency })
		if err != nil {
			return err
		}
		var res *migrate.Result
		wall, peak, err := measure(func() (err error) { res, err = m.Apply(ctx, nil); return err })
		if err != nil {
			return err
		}
		mb := float64(peak) / (1 << 20)
		if first == 0 {
			first = mb
		}
		fmt.Printf("  N=%-9d %6.1f MB peak heap  (%.2fx of the first)  %.1fs  %d imported\n", n, mb, mb/first, wall.Seconds(), res.Outcomes[migrate.OutcomeCreated])
	}
	return nil
}

// leaseCounts reports the requests a lease costs: acquire on a free workset,
// and takeover of an expired one.
func leaseCounts(ctx context.Context, srv *servers.Servers) error {
	c := newClients(srv, 0)
	clock := &manualClock{now: time.Now()}
	st, err := dynamostore.New(c.ddb, "bench-leases", func(o *dynamostore.Options) { o.Clock = clock })
	if err != nil {
		return err
	}
	if err := st.CreateTable(ctx, time.Minute); err != nil {
		return err
	}
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "l"}); err != nil {
		return err
	}
	c.counter.Reset()
	if _, err := st.AcquireLease(ctx, "l", "a", time.Minute); err != nil {
		return err
	}
	free := c.counter.Total()
	clock.advance(2 * time.Minute)
	c.counter.Reset()
	if _, err := st.AcquireLease(ctx, "l", "b", time.Minute); err != nil {
		return err
	}
	fmt.Printf("\nlease acquire on a free workset: %d request(s); takeover of an expired lease: %d request(s), no waiting\n", free, c.counter.Total())
	return nil
}

type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
