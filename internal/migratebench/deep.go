package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// deepRoot is the daylily monitor's root, where the deep layouts are seeded.
const deepRoot = sentinel.DaylilyRoot

// seedDeepLayout writes n daylily-shaped folders of `files` objects each: a
// sentinel (ready, one in ten complete) and a sample sheet at the top, the
// rest under sample_data/ (FASTQ files), as the daylily monitor's folders hold.
func seedDeepLayout(ctx context.Context, b sentinel.Bucket, n, files int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(64)
	for i := range n {
		id := fmt.Sprintf("ws-%05d", i)
		keys := []string{"daylily.ready", "stage_samples.tsv"}
		if i%10 == 0 {
			keys = append(keys, "daylily.complete")
		}
		for j := len(keys); j < files; j++ {
			keys = append(keys, fmt.Sprintf("sample_data/S%04d_R1.fastq.gz", j))
		}
		for _, k := range keys {
			g.Go(func() error {
				_, err := b.Create(ctx, deepRoot+id+"/"+k, sentinel.Content{Body: []byte("x")})
				return err
			})
		}
	}
	return g.Wait()
}

// prefixFloor lists every key under the root, page after page: the cheapest a
// prefix-wide pass can be. With stopAfter > 0 it stops once that many folders
// were seen (a poll).
func prefixFloor(ctx context.Context, b sentinel.Bucket, stopAfter int) error {
	in := sentinel.ListInput{Prefix: deepRoot}
	folders, last := 0, ""
	for {
		out, err := b.List(ctx, in)
		if err != nil {
			return err
		}
		for _, o := range out.Objects {
			id, _, _ := strings.Cut(strings.TrimPrefix(o.Key, deepRoot), "/")
			if id != last {
				folders, last = folders+1, id
			}
		}
		if out.NextContinuationToken == "" || (stopAfter > 0 && folders > stopAfter) {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// folderFloor lists the root's folders with a delimiter, then each folder's
// direct objects with a delimiter, `conc` at once: the cheapest a per-folder
// pass can be at that concurrency. With stopAfter > 0 it lists only that many
// folders (a poll).
func folderFloor(ctx context.Context, b sentinel.Bucket, conc, stopAfter int) error {
	var ids []string
	in := sentinel.ListInput{Prefix: deepRoot, Delimiter: "/"}
	for {
		out, err := b.List(ctx, in)
		if err != nil {
			return err
		}
		ids = append(ids, out.CommonPrefixes...)
		if out.NextContinuationToken == "" || (stopAfter > 0 && len(ids) >= stopAfter) {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if stopAfter > 0 && len(ids) > stopAfter {
		ids = ids[:stopAfter]
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for _, p := range ids {
		g.Go(func() error {
			in := sentinel.ListInput{Prefix: p, Delimiter: "/"}
			for {
				out, err := b.List(ctx, in)
				if err != nil || out.NextContinuationToken == "" {
					return err
				}
				in.ContinuationToken = out.NextContinuationToken
			}
		})
	}
	return g.Wait()
}

// best is the fastest of fn's runs over the concurrencies, and that one.
func best(concs []int, fn func(conc int) error) (time.Duration, int, error) {
	var bestD time.Duration
	bestC := 0
	for _, c := range concs {
		d, err := timeIt(3, func() error { return fn(c) })
		if err != nil {
			return 0, 0, err
		}
		if bestC == 0 || d < bestD {
			bestD, bestC = d, c
		}
	}
	return bestD, bestC, nil
}

// timeIt runs fn reps times and returns the fastest run.
func timeIt(reps int, fn func() error) (time.Duration, error) {
	var fastest time.Duration
	for i := range reps {
		start := time.Now()
		if err := fn(); err != nil {
			return 0, err
		}
		if d := time.Since(start); i == 0 || d < fastest {
			fastest = d
		}
	}
	return fastest, nil
}

// deep measures sentinel passes on daylily-shaped folders of 3, 50 and 500
// objects, at 0 and 10 ms round trips, side by side with the two floors: a
// plan (a whole pass) and a ready-queue poll (a monitor's List of 64).
func deep(ctx context.Context, srv *servers.Servers, n int, fileCounts []int, rtts []time.Duration) error {
	fmt.Printf("\n== sentinel passes on deep folders: %d worksets (daylily layout, one in ten complete) ==\n", n)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "objects/folder\tRTT\tpass (Scan)\tplan\tprefix floor\tfolder floor (conc)\tpass / best floor\tplan / best floor\tpoll\tprefix floor\tfolder floor (conc)\tpoll / best floor\tList calls (plan)\t")
	for _, files := range fileCounts {
		seedClients := newClients(srv, 0)
		bucketName := testenv.UniqueName("deep")
		if _, err := seedClients.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucketName)}); err != nil {
			return err
		}
		seedBucket, err := sentinel.NewS3Bucket(seedClients.s3, bucketName)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := seedDeepLayout(ctx, seedBucket, n, files); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "migratebench: seeded %d objects in %v\n", n*files, time.Since(start).Round(time.Millisecond))
		for _, rtt := range rtts {
			cl := newClients(srv, rtt)
			b, err := sentinel.NewS3Bucket(cl.s3, bucketName)
			if err != nil {
				return err
			}
			st, err := sentinel.New(b, func(o *sentinel.Options) { o.Root, o.Naming = deepRoot, sentinel.DaylilyNaming() })
			if err != nil {
				return err
			}
			var lists atomic.Int64
			plan, err := timeIt(8, func() error {
				dst, _ := memstore.New()
				m, err := migrate.New(st, dst)
				if err != nil {
					return err
				}
				before := cl.counter.Counts()["ListObjectsV2"]
				res, err := m.Plan(ctx, nil)
				if err == nil && res.Seen != int64(n) {
					err = fmt.Errorf("plan saw %d worksets, want %d", res.Seen, n)
				}
				lists.Store(int64(cl.counter.Counts()["ListObjectsV2"] - before))
				return err
			})
			if err != nil {
				return err
			}
			pass, err := timeIt(8, func() error {
				n := 0
				for _, err := range st.Scan(ctx, workset.ListQuery{}) {
					if err != nil {
						return err
					}
					n++
				}
				return nil
			})
			if err != nil {
				return err
			}
			planPrefix, err := timeIt(5, func() error { return prefixFloor(ctx, b, 0) })
			if err != nil {
				return err
			}
			planFolder, planConc, err := best([]int{8, 16, 32, 64}, func(c int) error { return folderFloor(ctx, b, c, 0) })
			if err != nil {
				return err
			}
			poll, err := timeIt(12, func() error {
				_, err := st.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 64})
				return err
			})
			if err != nil {
				return err
			}
			pollPrefix, err := timeIt(5, func() error { return prefixFloor(ctx, b, 64) })
			if err != nil {
				return err
			}
			pollFolder, pollConc, err := best([]int{8, 16, 32, 64}, func(c int) error { return folderFloor(ctx, b, c, 72) })
			if err != nil {
				return err
			}
			ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
			floor := float64(min(planPrefix, planFolder))
			fmt.Fprintf(tw, "%d\t%v\t%s\t%s\t%s\t%s (%d)\t%.2fx\t%.2fx\t%s\t%s\t%s (%d)\t%.2fx\t%d\t\n", files, rtt,
				ms(pass), ms(plan), ms(planPrefix), ms(planFolder), planConc, float64(pass)/floor, float64(plan)/floor,
				ms(poll), ms(pollPrefix), ms(pollFolder), pollConc, float64(poll)/float64(min(pollPrefix, pollFolder)), lists.Load())
		}
	}
	return tw.Flush()
}
