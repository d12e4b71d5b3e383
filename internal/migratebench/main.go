// Command migratebench puts the Migrator side by side with the migration
// guide's algorithm and with the physical floor of the DynamoDB server, on the
// same seeded legacy layout, in one run (make bench). It also runs the
// no-server scale check of the Migrator's memory and the lease contention
// benchmark.
//
//	go run ./internal/migratebench [-n 10000] [-rtt 2ms] [-concurrency 16]
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

type config struct {
	n, concurrency int
	rtt            time.Duration
	cache          string
	scale          string
	contention     int
	cpuprofile     string
	only           string
	sweepN         int
	sweepGuideN    int
	deepN          int
}

// wants reports whether part runs (-only lists the parts; empty runs all).
func (c config) wants(part string) bool {
	if c.only == "" {
		return true
	}
	for _, p := range strings.Split(c.only, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

func main() {
	var c config
	flag.IntVar(&c.n, "n", 10000, "worksets to seed")
	flag.DurationVar(&c.rtt, "rtt", 2*time.Millisecond, "round-trip time added to every request (0 disables)")
	flag.IntVar(&c.concurrency, "concurrency", migrate.DefaultConcurrency, "the Migrator's cap on writes in flight (it adapts below it)")
	flag.StringVar(&c.cache, "cache", ".cache", "where the servers are installed")
	flag.StringVar(&c.scale, "scale", "100000,1000000", "synthetic sizes for the memory scale check (empty to skip)")
	flag.IntVar(&c.contention, "contention", 1000, "ready worksets for the 16-monitor contention run (0 to skip)")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the Migrator's apply to this file")
	flag.StringVar(&c.only, "only", "", "run only these parts, comma-separated: migration, leases, contention, idle, sweep, deep, scale (default: all)")
	flag.IntVar(&c.sweepN, "sweep-n", 10000, "worksets for the Migrator and the floor in the round-trip sweep (0 to skip)")
	flag.IntVar(&c.sweepGuideN, "sweep-guide-n", 300, "worksets for the guide's script in the round-trip sweep")
	flag.IntVar(&c.deepN, "deep-n", 200, "worksets for the deep-folder passes (3, 50 and 500 objects a folder; 0 to skip)")
	flag.Parse()
	if err := run(context.Background(), c); err != nil {
		fmt.Fprintln(os.Stderr, "migratebench:", err)
		os.Exit(1)
	}
}

// contender is one measured run.
type contender struct {
	name     string
	worksets int
	wall     time.Duration
	peakHeap uint64
	counts   map[string]int
}

func (c contender) rate() float64 { return float64(c.worksets) / c.wall.Seconds() }

func (c contender) calls(ops ...string) float64 {
	n := 0
	for op, v := range c.counts {
		for _, want := range ops {
			if op == want {
				n += v
			}
		}
	}
	return float64(n) / float64(c.worksets)
}

var s3Ops = []string{"ListObjectsV2", "GetObject", "PutObject", "DeleteObject", "HeadObject"}
var ddbOps = []string{"GetItem", "PutItem", "UpdateItem", "BatchGetItem", "Query", "Scan", "DeleteItem"}

// measure runs fn, sampling the heap, and returns wall time and peak heap
// growth over the heap at the start.
func measure(fn func() error) (time.Duration, uint64, error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > base && m.HeapInuse-base > peak.Load() {
				peak.Store(m.HeapInuse - base)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	start := time.Now()
	err := fn()
	wall := time.Since(start)
	close(stop)
	wg.Wait()
	return wall, peak.Load(), err
}

type clients struct {
	counter *transport.Counter
	s3      *s3.Client
	ddb     *dynamodb.Client
}

// newClients returns clients whose requests are delayed by rtt and counted.
func newClients(srv *servers.Servers, rtt time.Duration) clients {
	base := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}
	counter := &transport.Counter{Next: &transport.Delay{Next: base, RTT: rtt}}
	hc := &http.Client{Transport: counter}
	cfg := testenv.AWSConfig(servers.S3AccessKey, servers.S3SecretKey)
	cfg.HTTPClient = hc
	return clients{
		counter: counter,
		s3:      s3.NewFromConfig(cfg, func(o *s3.Options) { o.BaseEndpoint, o.UsePathStyle = aws.String(srv.S3Endpoint), true }),
		ddb:     dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(srv.DynamoDBEndpoint) }),
	}
}

func newTable(ctx context.Context, c *dynamodb.Client, name string) (*dynamostore.Store, error) {
	st, err := dynamostore.New(c, name)
	if err != nil {
		return nil, err
	}
	return st, st.CreateTable(ctx, time.Minute)
}

func run(ctx context.Context, c config) error {
	srv, err := servers.Start(ctx, c.cache)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("migratebench: %d worksets, %v added round trip, concurrency %d, GOMAXPROCS %d\n", c.n, c.rtt, c.concurrency, runtime.GOMAXPROCS(0))
	if c.wants("migration") {
		if err := migration(ctx, srv, c); err != nil {
			return err
		}
	}
	if c.wants("leases") {
		if err := leaseCounts(ctx, srv); err != nil {
			return err
		}
	}
	if c.contention > 0 && c.wants("contention") {
		if err := contention(ctx, srv, c.contention, c.rtt); err != nil {
			return err
		}
	}
	if c.wants("idle") {
		if err := idle(ctx, srv, c.rtt); err != nil {
			return err
		}
	}
	if c.sweepN > 0 && c.wants("sweep") {
		if err := sweep(ctx, srv, c.sweepN, c.sweepGuideN); err != nil {
			return err
		}
	}
	if c.deepN > 0 && c.wants("deep") {
		if err := deep(ctx, srv, c.deepN, []int{3, 50, 500}, []time.Duration{0, 10 * time.Millisecond}); err != nil {
			return err
		}
	}
	if c.scale != "" && c.wants("scale") {
		if err := scale(ctx, c.scale, c.concurrency); err != nil {
			return err
		}
	}
	return nil
}

// migration is the side-by-side run of (a), (b) and (c) on one seeded layout.
func migration(ctx context.Context, srv *servers.Servers, c config) error {

	setup := newClients(srv, 0)
	bucketName := "bench-legacy"
	if _, err := setup.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucketName)}); err != nil {
		return err
	}
	setupBucket, _ := sentinel.NewS3Bucket(setup.s3, bucketName)
	t0 := time.Now()
	layout, err := legacy.SeedWith(ctx, setupBucket, "worksets/", sentinel.GuideNaming(), c.n, 2026, legacy.Options{GuideOnly: true, NoDecoys: true})
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d objects in %.1fs\n\n", layout.Objects, time.Since(t0).Seconds())

	var rows []contender
	// (a) the guide's algorithm.
	a := newClients(srv, c.rtt)
	if _, err := newTable(ctx, a.ddb, "bench-baseline"); err != nil {
		return err
	}
	a.counter.Reset()
	var migrated int
	wall, peak, err := measure(func() (err error) {
		migrated, err = guideMigrate(ctx, a.s3, a.ddb, bucketName, "worksets/", "bench-baseline")
		return err
	})
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	rows = append(rows, contender{"(a) guide's script, ported", migrated, wall, peak, a.counter.Counts()})

	// (b) the Migrator.
	b := newClients(srv, c.rtt)
	dst, err := newTable(ctx, b.ddb, "bench-migrator")
	if err != nil {
		return err
	}
	bucket, _ := sentinel.NewS3Bucket(b.s3, bucketName)
	src, err := sentinel.New(bucket, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		return err
	}
	m, err := migrate.New(src, dst, func(o *migrate.Options) { o.Concurrency = c.concurrency })
	if err != nil {
		return err
	}
	b.counter.Reset()
	var res *migrate.Result
	wall, peak, err = measure(func() (err error) { res, err = m.Plan(ctx, func(migrate.Difference) error { return nil }); return err })
	if err != nil {
		return fmt.Errorf("migrator plan: %w", err)
	}
	planRow := contender{"    its dry run (plan) alone", int(res.Seen), wall, peak, b.counter.Counts()}
	b.counter.Reset()
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	wall, peak, err = measure(func() (err error) { res, err = m.Apply(ctx, nil); return err })
	if c.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return fmt.Errorf("migrator: %w", err)
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("migrator: %d failures, first %+v", len(res.Errors), res.Errors[0])
	}
	rows = append(rows, contender{fmt.Sprintf("(b) Migrator (writes in flight: peak %d, end %d)", res.Concurrency.Peak, res.Concurrency.Final), int(res.Seen), wall, peak, b.counter.Counts()})
	b.counter.Reset()
	if res, err = m.Apply(ctx, nil); err != nil {
		return err
	}
	rerun := b.counter.Counts()

	// (c) the physical floor: the same number of conditional PutItems, at the
	// same concurrency, with nothing else.
	fl := newClients(srv, c.rtt)
	items, err := migratedItems(ctx, setup.ddb, "bench-migrator")
	if err != nil {
		return err
	}
	// The floor at its best pool size.
	var best contender
	for j, conc := range floorConcurrencies {
		table := fmt.Sprintf("bench-floor-%d", j)
		if _, err := newTable(ctx, fl.ddb, table); err != nil {
			return err
		}
		fl.counter.Reset()
		wall, peak, err = measure(func() error { return floor(ctx, fl.ddb, table, items, conc) })
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		if row := (contender{fmt.Sprintf("(c) floor: the same items, PutItem, best pool (%d)", conc), len(items), wall, peak, fl.counter.Counts()}); best.wall == 0 || row.rate() > best.rate() {
			best = row
		}
	}
	rows = append(rows, best, planRow)

	if err := sameState(ctx, newClients(srv, 0).ddb, "bench-baseline", "bench-migrator"); err != nil {
		return fmt.Errorf("(a) and (b) differ: %w", err)
	}
	fmt.Println("check: (a) and (b) produced the same destination state for every workset")
	printTable(rows)
	fmt.Printf("\nratios: (b)/(a) throughput %.1fx, (b)/(c) %.0f%% of the floor\n", rows[1].rate()/rows[0].rate(), 100*rows[1].rate()/rows[2].rate())
	lists := rows[1].counts["ListObjectsV2"]
	fmt.Printf("Migrator: %d ListObjectsV2 for %d objects (bound ceil(objects/1000)+1 = %d); %.3f DynamoDB writes per workset\n",
		lists, layout.Objects, (layout.Objects+999)/1000+1, rows[1].calls("PutItem", "UpdateItem"))
	fmt.Printf("rerun after success: %d DynamoDB writes (%v)\n", rerun["PutItem"]+rerun["UpdateItem"], formatCounts(rerun))
	return nil
}

func printTable(rows []contender) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "contender\tworksets\twall s\tworksets/s\tS3 calls/ws\tDynamoDB calls/ws\tpeak heap MB\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%.3f\t%.3f\t%.1f\t\n", r.name, r.worksets, r.wall.Seconds(), r.rate(),
			r.calls(s3Ops...), r.calls(ddbOps...), float64(r.peakHeap)/(1<<20))
	}
	tw.Flush()
	for _, r := range rows {
		fmt.Printf("  %s: %s\n", r.name, formatCounts(r.counts))
	}
}

func formatCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	if len(parts) == 0 {
		return "no requests"
	}
	return strings.Join(parts, " ")
}

// sameState compares what two tables say of every workset: state, priority,
// bucket, prefix and the migration marker.
func sameState(ctx context.Context, c *dynamodb.Client, ta, tb string) error {
	read := func(table string) (map[string]string, error) {
		st, err := dynamostore.New(c, table)
		if err != nil {
			return nil, err
		}
		out := map[string]string{}
		for w, err := range workset.Scan(ctx, st, workset.ListQuery{}) {
			if err != nil {
				return nil, err
			}
			out[w.ID] = fmt.Sprintf("%s %s %s %s %v", w.State, w.Priority, w.Bucket, w.Prefix, w.Metadata["migrated_from_s3"])
		}
		return out, nil
	}
	a, err := read(ta)
	if err != nil {
		return err
	}
	b, err := read(tb)
	if err != nil {
		return err
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d worksets against %d", len(a), len(b))
	}
	for id, v := range a {
		if b[id] != v {
			return fmt.Errorf("%s: %q against %q", id, v, b[id])
		}
	}
	return nil
}
