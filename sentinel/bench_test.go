package sentinel_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// listing is a read-only Bucket serving a fixed listing from memory, so the
// benchmark measures state derivation, not a server.
type listing struct {
	sentinel.Bucket
	objs []sentinel.Object
}

func (l *listing) Name() string { return "bench" }

func (l *listing) List(_ context.Context, in sentinel.ListInput) (*sentinel.ListOutput, error) {
	start := 0
	if in.ContinuationToken != "" {
		if _, err := fmt.Sscan(in.ContinuationToken, &start); err != nil {
			return nil, fmt.Errorf("bad continuation token %q: %w", in.ContinuationToken, err)
		}
	}
	end := min(start+1000, len(l.objs))
	out := &sentinel.ListOutput{Objects: l.objs[start:end]}
	if end < len(l.objs) {
		out.NextContinuationToken = fmt.Sprint(end)
	}
	return out, nil
}

// BenchmarkDeriveListing derives the state of 10,000 worksets (40,000 keys:
// sentinels, data and subfolders) from a listing, without lock objects.
func BenchmarkDeriveListing(b *testing.B) {
	names := sentinel.GuideNaming().Names
	var objs []sentinel.Object
	now := time.Now()
	for i := range 10000 {
		p := fmt.Sprintf("worksets/ws-%05d/", i)
		for _, k := range []string{names[workset.StateComplete], names[workset.StateReady], "data/reads.fq", "samples.tsv"} {
			objs = append(objs, sentinel.Object{Key: p + k, ETag: `"x"`, LastModified: now})
		}
	}
	// Keys sorted as S3 lists them.
	for i := 1; i < len(objs); i++ {
		for j := i; j > 0 && strings.Compare(objs[j-1].Key, objs[j].Key) > 0; j-- {
			objs[j-1], objs[j] = objs[j], objs[j-1]
		}
	}
	st, err := sentinel.New(&listing{objs: objs}, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for w, err := range st.Scan(b.Context(), workset.ListQuery{}) {
			if err != nil || w.State != workset.StateComplete {
				b.Fatalf("%v %v", w, err)
			}
			n++
		}
		if n != 10000 {
			b.Fatal(n)
		}
	}
}

// Get reports every object missing: the listing has no bodies.
func (l *listing) Get(context.Context, string) (sentinel.Content, string, error) {
	return sentinel.Content{}, "", sentinel.ErrObjectNotFound
}
