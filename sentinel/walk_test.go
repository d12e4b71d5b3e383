package sentinel_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// countingBucket counts the List calls and the keys they return.
type countingBucket struct {
	sentinel.Bucket
	lists, keys atomic.Int64
}

func (c *countingBucket) List(ctx context.Context, in sentinel.ListInput) (*sentinel.ListOutput, error) {
	out, err := c.Bucket.List(ctx, in)
	if err == nil {
		c.lists.Add(1)
		c.keys.Add(int64(len(out.Objects) + len(out.CommonPrefixes)))
	}
	return out, err
}

// seedDeep lays out daylily-shaped folders: sentinels and sample sheets at
// the top, `files` FASTQ files under sample_data/. It returns the IDs in key
// order of their folders.
func seedDeep(t *testing.T, b sentinel.Bucket, ids []string, files int) []string {
	t.Helper()
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(32)
	for _, id := range ids {
		keys := []string{"daylily.ready", "stage_samples.tsv"}
		for i := range files {
			keys = append(keys, fmt.Sprintf("sample_data/S%03d_R1.fastq.gz", i))
		}
		for _, k := range keys {
			g.Go(func() error {
				_, err := b.Create(ctx, "daylily_monitoring/active_worksets/"+id+"/"+k, sentinel.Content{Body: []byte("x")})
				mu.Lock()
				defer mu.Unlock()
				return err
			})
		}
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b string) int { return strings.Compare(a+"/", b+"/") })
	return sorted
}

// A pass over deep folders costs what the worksets cost, not their data files
// (issue 25): it lists each folder's direct objects with a delimiter after the
// first page, and keeps the order, the cursors and the "every workset once"
// promise, whatever IDs sort around the switch (ws-1-x/ before ws-1/).
func TestDeepFoldersAreReadByTheirSentinels(t *testing.T) {
	t.Parallel()
	for name, newBucket := range map[string]func(t *testing.T) sentinel.Bucket{
		"dir": func(t *testing.T) sentinel.Bucket { return dirBucket(t) },
		"s3":  func(t *testing.T) sentinel.Bucket { return s3Bucket(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var ids []string
			for i := range 46 {
				ids = append(ids, fmt.Sprintf("ws-%02d", i))
			}
			ids = append(ids, "ws-1", "ws-1-x", "ws-1.a", "ws-20-x")
			const files = 60
			cb := &countingBucket{Bucket: newBucket(t)}
			want := seedDeep(t, cb.Bucket, ids, files)
			s, err := sentinel.New(cb, func(o *sentinel.Options) {
				o.Root, o.Naming = "daylily_monitoring/active_worksets/", sentinel.DaylilyNaming()
			})
			if err != nil {
				t.Fatal(err)
			}
			cb.lists.Store(0)
			cb.keys.Store(0)
			var got []string
			for w, err := range s.Scan(t.Context(), workset.ListQuery{}) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, w.ID)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("Scan visited %v, want %v (folder key order, each once)", got, want)
			}
			// The first page (1000 keys) shows deep folders; after it, each
			// folder costs its two direct objects and its one subfolder.
			objects := int64(len(ids) * (files + 2))
			if k := cb.keys.Load(); k > 1000+int64(4*len(ids)) {
				t.Errorf("a pass listed %d keys of %d objects: it paid for the data files", k, objects)
			}
			t.Logf("%s: a pass over %d folders of %d objects made %d List calls returning %d keys", name, len(ids), files+2, cb.lists.Load(), cb.keys.Load())
			// Pages of 5 by cursor: every workset once, in the same order.
			got = nil
			q := workset.ListQuery{Limit: 5, State: workset.StateReady}
			for {
				p, err := s.List(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				for _, w := range p.Worksets {
					got = append(got, w.ID)
				}
				if p.Cursor == "" {
					break
				}
				q.Cursor = p.Cursor
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages of 5 visited %v, want %v", got, want)
			}
			// The data files make the folders worksets with data: a Get agrees.
			if w, err := s.Get(t.Context(), "ws-1-x"); err != nil || w.State != workset.StateReady {
				t.Errorf("Get(ws-1-x) = %v, %v", w, err)
			}
		})
	}
}

// A dry run's layout check and its pass, under storekit.ShareReads, list
// each folder once between them (the Migrator's Plan puts them under one),
// and still see every workset; without it each lists every folder.
func TestCheckAndPassShareTheirListings(t *testing.T) {
	t.Parallel()
	var ids []string
	for i := range 120 {
		ids = append(ids, fmt.Sprintf("ws-%03d", i))
	}
	cb := &countingBucket{Bucket: s3Bucket(t)}
	seedDeep(t, cb.Bucket, ids, 40)
	s, err := sentinel.New(cb, func(o *sentinel.Options) {
		o.Root, o.Naming = "daylily_monitoring/active_worksets/", sentinel.DaylilyNaming()
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(ctx context.Context) (lists int64) {
		cb.lists.Store(0)
		g, ctx := errgroup.WithContext(ctx)
		g.Go(func() error {
			r, err := s.CheckLayout(ctx)
			if err == nil && r.Worksets != len(ids) {
				err = fmt.Errorf("the check saw %d worksets, want %d", r.Worksets, len(ids))
			}
			return err
		})
		g.Go(func() error {
			n := 0
			for _, err := range s.Scan(ctx, workset.ListQuery{}) {
				if err != nil {
					return err
				}
				n++
			}
			if n != len(ids) {
				return fmt.Errorf("the pass saw %d worksets, want %d", n, len(ids))
			}
			return nil
		})
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
		return cb.lists.Load()
	}
	alone := run(t.Context())
	shared := run(storekit.ShareReads(t.Context()))
	if max := int64(len(ids)) + 3; shared > max || alone < shared*3/2 {
		t.Errorf("check beside pass: %d List calls sharing, %d alone; want at most %d sharing", shared, alone, max)
	}
	t.Logf("check beside pass over %d deep folders: %d List calls alone, %d sharing", len(ids), alone, shared)
}
