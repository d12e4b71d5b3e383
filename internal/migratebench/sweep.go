package main

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// floorConcurrencies are the pool sizes the floor is measured at; the best is
// the floor.
var floorConcurrencies = []int{16, 32, 64, 128, 256}

// sweepRTTs are the added round trips of the sweep: beside the table, in the
// same region, from a bastion, from a laptop.
var sweepRTTs = []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sweepRow is one round trip's three contenders.
type sweepRow struct {
	rtt                   time.Duration
	guide, migr, floor    float64 // worksets/s
	mem                   float64 // worksets/s of the Migrator from a memory copy of the layout
	guideCPU, migrCPU     float64 // µs of this process's CPU per workset
	memCPU                float64
	floorCPU              float64
	floorBest             int
	migrFinal, migrPeak   int
	guideN, migrN, floorN int
}

// sweep runs, at each round trip, (a) the guide's script on a small layout
// (it is sequential: its rate does not depend on the size), (b) the Migrator
// with default options and (c) the floor at each pool size, on one layout of
// n worksets, and tabulates the ratios.
func sweep(ctx context.Context, srv *servers.Servers, n, nGuide int) error {
	setup := newClients(srv, 0)
	bucketName := fmt.Sprintf("bench-sweep-%d", time.Now().UnixNano())
	if _, err := setup.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucketName)}); err != nil {
		return err
	}
	b, _ := sentinel.NewS3Bucket(setup.s3, bucketName)
	opt := legacy.Options{GuideOnly: true, NoDecoys: true}
	if _, err := legacy.SeedWith(ctx, b, "worksets/", sentinel.GuideNaming(), n, 2026, opt); err != nil {
		return err
	}
	if _, err := legacy.SeedWith(ctx, b, "guide/", sentinel.GuideNaming(), nGuide, 2027, opt); err != nil {
		return err
	}
	// A memory copy of the layout, loaded untimed: the Migrator from it isolates
	// the Migrator's own pipeline from the S3 server's listing work.
	mem, err := memstore.New()
	if err != nil {
		return err
	}
	{
		lb, _ := sentinel.NewS3Bucket(setup.s3, bucketName)
		ls, err := sentinel.New(lb, func(o *sentinel.Options) { o.Root, o.NoSentinel = "worksets/", sentinel.NoSentinelReady })
		if err != nil {
			return err
		}
		lm, err := migrate.New(ls, mem, func(o *migrate.Options) { o.Marker = map[string]any{} })
		if err != nil {
			return err
		}
		if _, err := lm.Apply(ctx, nil); err != nil {
			return err
		}
	}
	var rows []sweepRow
	for i, rtt := range sweepRTTs {
		r := sweepRow{rtt: rtt}
		fmt.Printf("sweep: %v ...\n", rtt)

		a := newClients(srv, rtt)
		table := fmt.Sprintf("sweep-a-%d", i)
		if _, err := newTable(ctx, a.ddb, table); err != nil {
			return err
		}
		cpu0, t0 := cpuTime(), time.Now()
		got, err := guideMigrate(ctx, a.s3, a.ddb, bucketName, "guide/", table)
		if err != nil {
			return fmt.Errorf("guide at %v: %w", rtt, err)
		}
		r.guideN, r.guide, r.guideCPU = got, float64(got)/time.Since(t0).Seconds(), perItem(cpuTime()-cpu0, got)

		bc := newClients(srv, rtt)
		table = fmt.Sprintf("sweep-b-%d", i)
		dst, err := newTable(ctx, bc.ddb, table)
		if err != nil {
			return err
		}
		bb, _ := sentinel.NewS3Bucket(bc.s3, bucketName)
		src, err := sentinel.New(bb, func(o *sentinel.Options) { o.Root, o.NoSentinel = "worksets/", sentinel.NoSentinelReady })
		if err != nil {
			return err
		}
		m, err := migrate.New(src, dst) // default options: the adaptive bound up to migrate.DefaultConcurrency
		if err != nil {
			return err
		}
		cpu0, t0 = cpuTime(), time.Now()
		res, err := m.Apply(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrator at %v: %w", rtt, err)
		}
		if len(res.Errors) > 0 {
			return fmt.Errorf("migrator at %v: %d failures, first %+v", rtt, len(res.Errors), res.Errors[0])
		}
		r.migrN = int(res.Seen)
		r.migr, r.migrCPU = float64(res.Seen)/time.Since(t0).Seconds(), perItem(cpuTime()-cpu0, int(res.Seen))
		r.migrFinal, r.migrPeak = res.Concurrency.Final, res.Concurrency.Peak

		mc := newClients(srv, rtt)
		mdst, err := newTable(ctx, mc.ddb, fmt.Sprintf("sweep-m-%d", i))
		if err != nil {
			return err
		}
		mm, err := migrate.New(mem, mdst)
		if err != nil {
			return err
		}
		cpu0, t0 = cpuTime(), time.Now()
		mres, err := mm.Apply(ctx, nil)
		if err != nil || len(mres.Errors) > 0 {
			return fmt.Errorf("migrator from memory at %v: %v, %v", rtt, err, mres.Errors)
		}
		r.mem, r.memCPU = float64(mres.Seen)/time.Since(t0).Seconds(), perItem(cpuTime()-cpu0, int(mres.Seen))

		items, err := migratedItems(ctx, setup.ddb, table)
		if err != nil {
			return err
		}
		for j, conc := range floorConcurrencies {
			fc := newClients(srv, rtt)
			ft := fmt.Sprintf("sweep-c-%d-%d", i, j)
			if _, err := newTable(ctx, fc.ddb, ft); err != nil {
				return err
			}
			cpu0, t0 = cpuTime(), time.Now()
			if err := floor(ctx, fc.ddb, ft, items, conc); err != nil {
				return fmt.Errorf("floor at %v, %d: %w", rtt, conc, err)
			}
			if rate := float64(len(items)) / time.Since(t0).Seconds(); rate > r.floor {
				r.floor, r.floorBest, r.floorN, r.floorCPU = rate, conc, len(items), perItem(cpuTime()-cpu0, len(items))
			}
		}
		rows = append(rows, r)
	}
	fmt.Printf("\nsweep: %d worksets for (b) and (c), %d for (a) (sequential: its rate does not depend on the size)\n", n, nGuide)
	fmt.Println("| added RTT | (a) guide /s | (b) Migrator, defaults /s | (c) floor /s (best pool) | (b)/(a) | (b)/(c) | (b) in flight: end, peak | (b') from memory /s | (b')/(c) | CPU µs/workset (a) / (b) / (b') / (c) |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		fmt.Printf("| %v | %.0f | %.0f | %.0f (%d) | %.1f× | %.0f%% | %d, %d | %.0f | %.0f%% | %.0f / %.0f / %.0f / %.0f |\n", r.rtt, r.guide, r.migr, r.floor, r.floorBest,
			r.migr/r.guide, 100*r.migr/r.floor, r.migrFinal, r.migrPeak, r.mem, 100*r.mem/r.floor, r.guideCPU, r.migrCPU, r.memCPU, r.floorCPU)
	}
	return nil
}

func perItem(d time.Duration, n int) float64 {
	if n == 0 {
		return 0
	}
	return float64(d.Microseconds()) / float64(n)
}
