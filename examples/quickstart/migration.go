package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// legacyLayout is what legacy monitors left behind: sentinel files (old ones
// never cleaned up) beside the data.
var legacyLayout = map[string][]string{
	"ws-101": {"_READY"},
	"ws-102": {"_READY", "_LOCKED"},
	"ws-103": {"_READY", "_LOCKED", "_IN_PROGRESS", "_COMPLETE"},
	"ws-104": {"_READY", "_ERROR"},
	"ws-105": {"_READY", "_COMPLETE"},
	"ws-106": {}, // data only: the guide reads it as ready
	"ws-107": {"_READY"},
	"ws-108": {"_READY"},
}

func migration(ctx context.Context, out io.Writer, dir string) error {
	fmt.Fprintln(out, "\n== 6. A legacy sentinel layout (guide names) in a local directory")
	for id, names := range legacyLayout {
		for _, name := range append(names, "samples.tsv", "data/reads_R1.fastq.gz") {
			p := filepath.Join(dir, "worksets", id, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte("2024-01-15T10:00:00Z"), 0o644); err != nil {
				return err
			}
		}
	}
	bucket, err := sentinel.NewDirBucket(dir)
	if err != nil {
		return err
	}
	legacy, err := sentinel.New(bucket, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   %d worksets, each with samples.tsv and data/ beside its sentinels\n", len(legacyLayout))

	next, err := memstore.New() // in production: dynamostore.New(client, "daylily-worksets")
	if err != nil {
		return err
	}
	m, err := migrate.New(legacy, next)
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "\n== 7. Plan (dry run: nothing is written)")
	states := map[workset.State]int{}
	res, err := m.Plan(ctx, func(d migrate.Difference) error { states[d.SourceState]++; return nil })
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   %d missing in the new store; by state: %s\n", res.Kinds[migrate.MissingInDestination], summarize(states))

	fmt.Fprintln(out, "\n== 8. Apply")
	if res, err = m.Apply(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "   created %d, failed %d\n", res.Outcomes[migrate.OutcomeCreated], len(res.Errors))
	if res, err = m.Apply(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "   run again: unchanged %d (an apply is idempotent)\n", res.Outcomes[migrate.OutcomeUnchanged])

	fmt.Fprintln(out, "\n== 9. Verify")
	if res, err = m.Verify(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "   discrepancies: %d\n", res.Discrepancies())

	fmt.Fprintln(out, "\n== 10. A monitor on a DualWriter; the phase switches under it")
	store, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })
	if err != nil {
		return err
	}
	process := func(id string) error {
		lease, err := store.AcquireLease(ctx, id, "monitor-7", time.Minute)
		if err != nil {
			return err
		}
		for _, to := range []workset.State{workset.StateInProgress, workset.StateComplete} {
			if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: to, Lease: lease, Reason: "monitor-7"}); err != nil {
				return err
			}
		}
		if err := store.ReleaseLease(ctx, *lease); err != nil {
			return err
		}
		fmt.Fprintf(out, "   [%s] processed %s\n", store.Phase(), id)
		return nil
	}
	if err := process("ws-107"); err != nil {
		return err
	}
	if err := store.SetPhase(dualwrite.NewPrimary); err != nil {
		return err
	}
	if err := process("ws-108"); err != nil {
		return err
	}
	_, err = store.AcquireLease(ctx, "ws-102", "monitor-7", time.Minute)
	fmt.Fprintf(out, "   ws-102 was migrated as locked, so it cannot be claimed: %v\n", err)
	fmt.Fprintf(out, "   ws-108 sentinels now: %s (legacy monitors still see the state)\n", sentinels(dir, "ws-108"))
	fmt.Fprintf(out, "   divergences: %d\n", store.Stats().Divergences)

	fmt.Fprintln(out, "\n== 11. Rollback: the new store's state rebuilt as sentinels")
	if _, err := next.Transition(ctx, workset.TransitionRequest{ID: "ws-101", To: workset.StateIgnored, Reason: "written to the new store only"}); err != nil {
		return err
	}
	if res, err = m.Reverse().Apply(ctx, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "   updated %d; ws-101 sentinels now: %s\n", res.Outcomes[migrate.OutcomeUpdated], sentinels(dir, "ws-101"))

	fmt.Fprintln(out, "\n== 12. Cleanup (dry run)")
	if res, err = m.Cleanup(ctx, true, nil); err != nil {
		return err
	}
	fmt.Fprintf(out, "   would delete the sentinels of %d verified worksets; data files are never touched\n", res.Outcomes[migrate.OutcomeDeleted])
	fmt.Fprintf(out, "   %d keep theirs: their _LOCKED files are younger than an hour, so a legacy monitor may still hold them\n", res.Outcomes[migrate.OutcomeSkipped])
	return nil
}

func summarize(m map[workset.State]int) string {
	var parts []string
	for _, s := range workset.States() {
		if m[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, m[s]))
		}
	}
	return strings.Join(parts, ", ")
}

func sentinels(dir, id string) string {
	entries, _ := os.ReadDir(filepath.Join(dir, "worksets", id))
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "_") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return strings.Join(names, " ")
}
