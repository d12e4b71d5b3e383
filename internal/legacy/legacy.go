// Package legacy seeds sentinel layouts as legacy monitors left them, for the
// tests and benchmarks: a realistic mix of sentinel combinations, legacy bodies,
// data files, and decoy sentinel names in subfolders that must not count.
package legacy

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// Workset is one seeded workset and the state the precedence rules give it
// ("" when it has no sentinel).
type Workset struct {
	ID        string
	Sentinels []workset.State
	State     workset.State
}

// Layout is a seeded layout.
type Layout struct {
	Worksets []Workset
	Objects  int // objects written, data files included
}

// Expected returns the state of each workset under a no-sentinel policy;
// worksets that policy skips are absent.
func (l Layout) Expected(policy sentinel.NoSentinel) map[string]workset.State {
	out := make(map[string]workset.State, len(l.Worksets))
	for _, w := range l.Worksets {
		switch {
		case w.State != "":
			out[w.ID] = w.State
		case policy == sentinel.NoSentinelReady:
			out[w.ID] = workset.StateReady
		}
	}
	return out
}

// combos are the sentinel combinations legacy monitors leave behind, with
// weights: mostly one sentinel, often an old one not cleaned up.
var combos = []struct {
	states []workset.State
	weight int
}{
	{[]workset.State{workset.StateReady}, 30},
	{[]workset.State{workset.StateReady, workset.StateLocked}, 8},
	{[]workset.State{workset.StateReady, workset.StateInProgress}, 8},
	{[]workset.State{workset.StateReady, workset.StateLocked, workset.StateInProgress, workset.StateComplete}, 15},
	{[]workset.State{workset.StateReady, workset.StateComplete}, 10},
	{[]workset.State{workset.StateReady, workset.StateError}, 8},
	{[]workset.State{workset.StateComplete, workset.StateError}, 3},
	{[]workset.State{workset.StateIgnored}, 3},
	{[]workset.State{workset.StateComplete}, 5},
	{nil, 5},
	{[]workset.State{workset.StateLocked}, 5},
}

// legacy bodies seen in the wild.
var bodies = []string{"", "2024-01-15T10:00:00Z", "2024-01-15T10:00:00.123456+00:00", "2024-01-15T10:00:00Z\tbwa exited 137", "claimed by ops for re-run"}

// Options vary a seeded layout.
type Options struct {
	// GuideOnly keeps to the four states the guide's script reads (READY,
	// LOCKED, COMPLETE, ERROR), so that its precedence and the naming's agree.
	GuideOnly bool
	// NoDecoys leaves out sentinel names in subfolders (which the guide's script
	// wrongly counts).
	NoDecoys bool
}

// Seed writes n worksets under root with the naming's object names, using up
// to 16 parallel writes. IDs are ws-00000, ws-00001, ... The same seed gives
// the same layout.
func Seed(ctx context.Context, b sentinel.Bucket, root string, naming sentinel.Naming, n int, seed uint64) (Layout, error) {
	return SeedWith(ctx, b, root, naming, n, seed, Options{})
}

// guideStates are the states the guide's script tells apart.
var guideStates = []workset.State{workset.StateReady, workset.StateLocked, workset.StateComplete, workset.StateError}

// SeedWith is Seed with options.
func SeedWith(ctx context.Context, b sentinel.Bucket, root string, naming sentinel.Naming, n int, seed uint64, opt Options) (Layout, error) {
	rng := rand.New(rand.NewPCG(seed, 7))
	total := 0
	for _, c := range combos {
		total += c.weight
	}
	type obj struct{ key, body string }
	var objs []obj
	var l Layout
	for i := range n {
		id := fmt.Sprintf("ws-%05d", i)
		p := root + id + "/"
		r := rng.IntN(total)
		var states []workset.State
		for _, c := range combos {
			if r < c.weight {
				states = c.states
				break
			}
			r -= c.weight
		}
		if opt.GuideOnly {
			states = slices.DeleteFunc(slices.Clone(states), func(s workset.State) bool { return !slices.Contains(guideStates, s) })
		}
		w := Workset{ID: id, Sentinels: states}
		best := len(naming.Precedence)
		for _, st := range states {
			objs = append(objs, obj{p + naming.Names[st], bodies[rng.IntN(len(bodies))]})
			if r := slices.Index(naming.Precedence, st); r < best {
				best, w.State = r, st
			}
		}
		// Data: a sample sheet beside the sentinels, reads in a subfolder, and
		// now and then a decoy sentinel name in a subfolder.
		objs = append(objs, obj{p + "samples.tsv", "sample\tpath\n"}, obj{p + "data/reads_R1.fastq.gz", "@r1"})
		if i%7 == 0 && !opt.NoDecoys {
			objs = append(objs, obj{p + "data/" + naming.Names[workset.StateComplete], ""}, obj{p + "results/" + naming.Names[workset.StateError], ""})
		}
		l.Worksets = append(l.Worksets, w)
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, o := range objs {
		g.Go(func() error {
			if _, err := b.Create(ctx, o.key, sentinel.Content{Body: []byte(o.body)}); err != nil {
				return fmt.Errorf("seeding %s: %w", o.key, err)
			}
			return nil
		})
	}
	l.Objects = len(objs)
	return l, g.Wait()
}
