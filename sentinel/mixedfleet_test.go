package sentinel_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// legacyClaim plays the legacy daylily monitor's claim protocol for one
// workset, as deployed-system-facts.md records it: list the folder; skip it if
// it shows ignore, complete, error or in_progress, or no ready; otherwise put
// daylily.lock without a condition, sleep, list again, back off if a sentinel
// other than the lock appeared, else write daylily.in_progress and run.
func legacyClaim(ctx context.Context, b sentinel.Bucket, prefix string, pause time.Duration) (bool, error) {
	names := func() (map[string]bool, error) {
		out, err := b.List(ctx, sentinel.ListInput{Prefix: prefix})
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, o := range out.Objects {
			seen[strings.TrimPrefix(o.Key, prefix)] = true
		}
		return seen, nil
	}
	before, err := names()
	if err != nil {
		return false, err
	}
	for _, n := range []string{"daylily.ignore", "daylily.complete", "daylily.error", "daylily.in_progress"} {
		if before[n] {
			return false, nil
		}
	}
	if !before["daylily.ready"] {
		return false, nil
	}
	stamp := []byte(time.Now().UTC().Format("2006-01-02T15:04:05.000000") + "Z")
	if err := b.Delete(ctx, prefix+"daylily.lock", ""); err != nil { // put_object overwrites: delete + create here
		return false, err
	}
	if _, err := b.Create(ctx, prefix+"daylily.lock", sentinel.Content{Body: stamp}); err != nil {
		return false, nil // someone created it in between: the overwrite would have won; count it as lost here
	}
	time.Sleep(pause)
	after, err := names()
	if err != nil {
		return false, err
	}
	for n := range after {
		if n != "daylily.lock" && !before[n] && strings.HasPrefix(n, "daylily.") {
			return false, nil // something changed: back off
		}
	}
	if _, err := b.Create(ctx, prefix+"daylily.in_progress", sentinel.Content{Body: stamp}); err != nil {
		return false, nil
	}
	return true, nil
}

// In a mixed fleet the only file a legacy monitor respects is
// daylily.in_progress. A Go monitor moves every workset it leases to
// in_progress at once, so a legacy monitor racing it backs off (or the Go
// monitor loses its lease to the legacy overwrite and stops): never both.
func TestMixedFleetNeverRunsAWorksetTwice(t *testing.T) {
	t.Parallel()
	b := s3Bucket(t)
	st := newStore(t, b, func(o *sentinel.Options) { o.Naming, o.NoSentinel = sentinel.DaylilyNaming(), sentinel.NoSentinelSkip })
	ctx := t.Context()
	const n = 24
	for i := range n {
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("mf-%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	runs := map[string][]string{}
	m, err := monitor.New(st, func(ctx context.Context, w *workset.Workset) error {
		mu.Lock()
		runs[w.ID] = append(runs[w.ID], "go")
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		return nil
	}, func(o *monitor.Options) {
		o.Owner, o.Concurrency, o.PollInterval, o.LeaseTTL, o.RenewEvery = "go-1", 4, 10*time.Millisecond, 10*time.Second, time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	var wg sync.WaitGroup
	for l := range 2 { // two legacy monitors
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(l), 5))
			for range 3 {
				for _, i := range rng.Perm(n) {
					id := fmt.Sprintf("mf-%02d", i)
					ok, err := legacyClaim(ctx, b, st.Prefix(id), time.Duration(rng.IntN(40))*time.Millisecond)
					if err != nil {
						t.Error(err)
						return
					}
					if ok {
						mu.Lock()
						runs[id] = append(runs[id], fmt.Sprint("legacy-", l))
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	goRuns, legacyRuns, twice := 0, 0, 0
	for id, who := range runs {
		if len(who) > 1 {
			twice++
			t.Errorf("%s ran %d times: %v", id, len(who), who)
		}
		if who[0] == "go" {
			goRuns++
		} else {
			legacyRuns++
		}
	}
	t.Logf("%d worksets: %d first run by the Go monitor, %d by legacy monitors, %d twice", n, goRuns, legacyRuns, twice)
}
