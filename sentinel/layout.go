package sentinel

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/daylily-informatics/worksetstate/internal/adaptive"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Layout is what one listing of a root found: its folders, and which sentinel
// conventions they hold. Survey makes it; DetectNaming and Store.CheckLayout
// read it, so that a store is never pointed at a bucket laid out by another
// convention without a word (a guide-named store reads a daylily bucket's
// finished worksets as ready).
type Layout struct {
	Root string `json:"root"`
	// Folders is the number of folders directly under Root.
	Folders int `json:"folders"`
	// Guide and Daylily count the folders holding at least one sentinel of
	// GuideNaming and of DaylilyNaming, directly under the folder.
	Guide   int `json:"guide_folders"`
	Daylily int `json:"daylily_folders"`
	// Neither counts the folders holding no sentinel of either convention
	// (data only, or empty).
	Neither int `json:"no_sentinel_folders"`
	// Invalid lists the folders whose names are not valid workset IDs (at
	// most 20 names; InvalidCount counts them all). No store reads them: they
	// are reported, never dropped silently.
	Invalid      []string `json:"invalid_names,omitempty"`
	InvalidCount int      `json:"invalid_folders"`
	// Examples names up to 3 folders of each kind ("guide", "daylily",
	// "neither").
	Examples map[string][]string `json:"examples,omitempty"`

	own int // folders holding a sentinel of the naming surveyed for, if any
}

// maxLayoutNames bounds the names a Layout lists.
const (
	maxInvalidNames = 20
	maxExamples     = 3
)

// Survey lists the folders under root once, as a pass does (no body read; see
// the package doc for what that costs) and counts what its folders hold.
func Survey(ctx context.Context, b Bucket, root string) (*Layout, error) {
	return survey(ctx, &walker{b: b, root: root, lim: adaptive.NewFrom(32, 32, false), batch: 100, shape: &passShape{}}, nil)
}

// survey is Survey with a store's walker (its limiter and what it learned of
// the layout's shape), also counting the folders holding a sentinel of own.
func survey(ctx context.Context, wk *walker, own *Naming) (*Layout, error) {
	root := wk.root
	l := &Layout{Root: root, Examples: map[string][]string{}}
	guide, daylily := GuideNaming(), DaylilyNaming()
	type folder struct{ guide, daylily, own bool }
	var cur string
	var f folder
	started := false
	done := func() {
		if !started {
			return
		}
		l.Folders++
		if err := workset.ValidateID(cur); err != nil {
			l.InvalidCount++
			if len(l.Invalid) < maxInvalidNames {
				l.Invalid = append(l.Invalid, cur)
			}
			return
		}
		if f.own {
			l.own++
		}
		kind := "neither"
		switch {
		case f.guide && f.daylily:
			l.Guide++
			l.Daylily++
			kind = "guide"
			l.example("daylily", cur)
		case f.guide:
			l.Guide++
			kind = "guide"
		case f.daylily:
			l.Daylily++
			kind = "daylily"
		default:
			l.Neither++
		}
		l.example(kind, cur)
	}
	err := wk.walk(ctx, "", func(folders []folderListing) error {
		for _, fl := range folders {
			done()
			cur, f, started = fl.id, folder{}, true
			for _, o := range fl.objects {
				name := strings.TrimPrefix(o.Key, root+fl.id+"/")
				if _, ok := guide.stateOf(name); ok {
					f.guide = true
				}
				if _, ok := daylily.stateOf(name); ok {
					f.daylily = true
				}
				if own != nil {
					if _, ok := own.stateOf(name); ok {
						f.own = true
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	done()
	return l, nil
}

func (l *Layout) example(kind, id string) {
	if len(l.Examples[kind]) < maxExamples {
		l.Examples[kind] = append(l.Examples[kind], id)
	}
}

// DetectNaming returns the convention the layout's folders hold. It refuses,
// with the counts, a layout that holds both (migrate them separately, with a
// root each) or neither (no sentinel at all: nothing says which convention's
// reader the folders were meant for).
func (l *Layout) DetectNaming() (Naming, string, error) {
	switch {
	case l.Guide > 0 && l.Daylily > 0:
		return Naming{}, "", fmt.Errorf("%w: under %q, %d folders hold _READY-style (guide) sentinels and %d hold daylily.* ones (e.g. %s and %s): both conventions in one root; choose one explicitly, and migrate the other separately",
			workset.ErrInvalidInput, l.Root, l.Guide, l.Daylily, strings.Join(l.Examples["guide"], ", "), strings.Join(l.Examples["daylily"], ", "))
	case l.Guide > 0:
		return GuideNaming(), "guide", nil
	case l.Daylily > 0:
		return DaylilyNaming(), "daylily", nil
	}
	return Naming{}, "", fmt.Errorf("%w: under %q, none of the %d folders holds a sentinel of either convention: nothing tells the naming; choose it explicitly",
		workset.ErrInvalidInput, l.Root, l.Folders)
}

// CheckLayout implements storekit.LayoutChecker: one Survey of the root, read
// with this store's naming and no-sentinel policy. It refuses (ErrInvalidInput,
// with the counts) a root where folders hold sentinels of the other built-in
// convention, which this store would misread or skip. The report counts the
// folders, the worksets this store recognises, those without a sentinel, and
// the folders it skips, by reason.
func (s *Store) CheckLayout(ctx context.Context) (*storekit.LayoutReport, error) {
	l, err := survey(ctx, s.walker, &s.opts.Naming)
	if err != nil {
		return nil, err
	}
	own, other, ownName, otherName := l.own, 0, "this naming's", ""
	switch {
	case sameNames(s.opts.Naming, GuideNaming()):
		other, ownName, otherName = l.Daylily, "_READY-style (guide)", "daylily.*"
	case sameNames(s.opts.Naming, DaylilyNaming()):
		other, ownName, otherName = l.Guide, "daylily.*", "_READY-style (guide)"
	}
	r := &storekit.LayoutReport{Folders: l.Folders, Skipped: map[string]int{}, Examples: map[string][]string{}}
	noSentinel := l.Folders - l.InvalidCount - own
	r.NoSentinel = noSentinel
	r.Worksets = own
	if s.opts.NoSentinel == NoSentinelReady {
		r.Worksets += noSentinel
	} else if noSentinel > 0 {
		r.Skipped["no sentinel"] = noSentinel
		r.Examples["no sentinel"] = l.Examples["neither"]
	}
	if l.InvalidCount > 0 {
		r.Skipped["not a valid workset ID"] = l.InvalidCount
		r.Examples["not a valid workset ID"] = quoteAll(l.Invalid)
	}
	if other > 0 {
		hint := "both conventions appear in one root: migrate them separately, with a root each"
		if own == 0 {
			hint = "the layout is the other convention's: open the store with its naming (--naming)"
		}
		return r, fmt.Errorf("%w: under %q, %d folders hold %s sentinels and %d hold %s ones (this store's naming): %s",
			workset.ErrInvalidInput, s.opts.Root, other, otherName, own, ownName, hint)
	}
	return r, nil
}

func sameNames(a, b Naming) bool { return maps.Equal(a.Names, b.Names) }

func quoteAll(names []string) []string {
	out := slices.Clone(names)
	for i, n := range out {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

var _ storekit.LayoutChecker = (*Store)(nil)
