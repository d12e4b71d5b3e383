package sentinel_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// seed writes objects (name -> body) under root/id/ for each folder.
func seed(t *testing.T, b sentinel.Bucket, root string, folders map[string][]string) {
	t.Helper()
	for id, names := range folders {
		for _, n := range names {
			if _, err := b.Create(t.Context(), root+id+"/"+n, sentinel.Content{Body: []byte("2025-01-02T03:04:05Z")}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// A daylily monitor's bucket: finished, failed, ignored and running worksets,
// a data-only folder, each with data files below.
var daylilyFolders = map[string][]string{
	"ws-complete": {"daylily.ready", "daylily.in_progress", "daylily.complete", "stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
	"ws-error":    {"daylily.ready", "daylily.in_progress", "daylily.error", "sample_data/S1_R1.fastq.gz"},
	"ws-ignored":  {"daylily.ignore", "sample_data/S1_R1.fastq.gz"},
	"ws-ready":    {"daylily.ready", "stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
	"data-only":   {"stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
}

// The README's migration commands, run on a daylily bucket with the guide's
// naming, would have planned every folder as ready (issue 24, 1). The store's
// layout check refuses with the counts, and the Migrator writes nothing; with
// the right naming the report counts what was seen and what was skipped.
func TestLayoutCheckRefusesTheWrongNaming(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := dirBucket(t)
	seed(t, b, "worksets/", daylilyFolders)

	guide := newStore(t, b) // the defaults: the guide's naming
	dst, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(guide, dst)
	if err != nil {
		t.Fatal(err)
	}
	for name, run := range map[string]func() error{
		"plan":   func() error { _, err := m.Plan(ctx, nil); return err },
		"apply":  func() error { _, err := m.Apply(ctx, nil); return err },
		"verify": func() error { _, err := m.Verify(ctx, nil); return err },
	} {
		err := run()
		if !errors.Is(err, workset.ErrInvalidInput) || !strings.Contains(err.Error(), "4 folders hold daylily.* sentinels and 0 hold _READY-style") {
			t.Errorf("%s with the guide's naming on a daylily bucket: %v; want a refusal with the counts", name, err)
		}
	}
	if p, err := dst.List(ctx, workset.ListQuery{}); err != nil || len(p.Worksets) != 0 {
		t.Fatalf("the refused runs wrote %d records (%v)", len(p.Worksets), err)
	}

	l, err := sentinel.Survey(ctx, b, "worksets/")
	if err != nil {
		t.Fatal(err)
	}
	if n, name, err := l.DetectNaming(); err != nil || name != "daylily" || n.Names[workset.StateReady] != "daylily.ready" {
		t.Fatalf("DetectNaming = %s, %v", name, err)
	}
	daylily := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	m, err = migrate.New(daylily, dst)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := res.SourceLayout
	if r == nil || r.Folders != 5 || r.Worksets != 4 || r.NoSentinel != 1 || r.Skipped["no sentinel"] != 1 {
		t.Fatalf("source layout report %+v; want 5 folders, 4 worksets, 1 without a sentinel, skipped", r)
	}
	want := map[string]workset.State{"ws-complete": workset.StateComplete, "ws-error": workset.StateError, "ws-ignored": workset.StateIgnored, "ws-ready": workset.StateReady}
	for id, st := range want {
		if w, err := dst.Get(ctx, id); err != nil || w.State != st {
			t.Errorf("%s migrated as %v (%v), want %s", id, w, err, st)
		}
	}
	if _, err := dst.Get(ctx, "data-only"); !errors.Is(err, workset.ErrNotFound) {
		t.Errorf("the data-only folder was migrated (%v): the monitor's own rule skips it", err)
	}

	// Both conventions in one root: refused whichever naming is chosen.
	seed(t, b, "worksets/", map[string][]string{"ws-guide": {"_READY"}})
	for _, s := range []*sentinel.Store{guide, daylily} {
		if _, err := s.CheckLayout(ctx); !errors.Is(err, workset.ErrInvalidInput) || !strings.Contains(err.Error(), "both conventions") {
			t.Errorf("a mixed root: %v; want refused as both conventions", err)
		}
	}
}

// Each convention's no-sentinel default is its own reader's rule: the guide's
// reads a folder without sentinels as ready, the daylily monitor skips it.
func TestNoSentinelDefaultsToTheNamingsReader(t *testing.T) {
	t.Parallel()
	b := dirBucket(t)
	seed(t, b, "worksets/", map[string][]string{"data-only": {"sample_data/S1_R1.fastq.gz"}})
	if w, err := newStore(t, b).Get(t.Context(), "data-only"); err != nil || w.State != workset.StateReady {
		t.Errorf("guide naming, default policy: %v, %v; want ready", w, err)
	}
	if _, err := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() }).Get(t.Context(), "data-only"); !errors.Is(err, workset.ErrNotFound) {
		t.Errorf("daylily naming, default policy: %v; want not a workset", err)
	}
}

// A folder whose name is no valid workset ID (a zero-width space, a trailing
// space) is reported wherever unreadable records are, never dropped without a
// word (issue 24, 2): in the page's Malformed list, in Scan, and in verify,
// which fails while any remain.
func TestInvalidFolderNamesAreReported(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := dirBucket(t)
	seed(t, b, "worksets/", map[string][]string{
		"ws-1":       {"_READY"},
		"ws-2\u200b": {"_COMPLETE"},
		"ws-3 ":      {"_READY"},
		"ws-4":       {"_READY"},
	})
	s := newStore(t, b)
	var worksets []string
	var malformed []string
	q := workset.ListQuery{Limit: 1}
	for {
		p, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range p.Worksets {
			worksets = append(worksets, w.ID)
		}
		for _, m := range p.Malformed {
			malformed = append(malformed, m.ID)
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	if strings.Join(worksets, ",") != "ws-1,ws-4" || len(malformed) != 2 {
		t.Fatalf("pages of one: worksets %v, malformed %v; want ws-1, ws-4 and the two bad folders once each", worksets, malformed)
	}
	ready, err := s.List(ctx, workset.ListQuery{State: workset.StateReady})
	if err != nil || len(ready.Malformed) != 1 || !strings.Contains(ready.Malformed[0].Error(), `"ws-3 "`) {
		t.Fatalf("the ready queue's malformed list: %+v, %v; want the ready folder with the trailing space", ready, err)
	}
	dst, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(s, dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	res, err := m.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kinds[migrate.UnreadableInSource] != 2 || res.Discrepancies() != 2 {
		t.Errorf("verify: %+v; want the two folders as unreadable, and discrepancies", res.Kinds)
	}
	if res.SourceLayout == nil || res.SourceLayout.Skipped["not a valid workset ID"] != 2 {
		t.Errorf("layout report %+v; want the two names counted", res.SourceLayout)
	}
}

// A lock the older legacy monitor left behind when it wrote daylily.error in
// the same second is a leftover, not a live lease for an hour: the times
// compared are both LastModified, to the second (issue 24, 3). A lock body's
// own time decides a single read's expiry, even when LastModified is new (a
// copied bucket).
func TestLegacyLockTimesCompareLikeWithLike(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	b, err := sentinel.NewDirBucket(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed(t, b, "worksets/", map[string][]string{"ws-err": {"daylily.ready", "daylily.lock", "daylily.in_progress", "daylily.error"}})
	sec := time.Now().Truncate(time.Second).Add(-time.Minute)
	for name, at := range map[string]time.Time{"daylily.lock": sec.Add(700 * time.Millisecond), "daylily.error": sec.Add(200 * time.Millisecond)} {
		if err := os.Chtimes(filepath.Join(dir, "worksets", "ws-err", name), at, at); err != nil {
			t.Fatal(err)
		}
	}
	s := newStore(t, b, func(o *sentinel.Options) { o.Naming = sentinel.DaylilyNaming() })
	w, err := s.Get(ctx, "ws-err")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateError || w.Lease != nil {
		t.Errorf("error written in the lock's second: %s with lease %+v; want error, no live lease", w.State, w.Lease)
	}

	// A copied bucket: the lock file is new, its body says 2025.
	seed(t, b, "worksets/", map[string][]string{"ws-copied": {"daylily.ready"}})
	if _, err := b.Create(ctx, "worksets/ws-copied/daylily.lock", sentinel.Content{Body: []byte("2025-01-02T03:04:05Z")}); err != nil {
		t.Fatal(err)
	}
	if w, err := s.Get(ctx, "ws-copied"); err != nil || w.Lease == nil || w.Lease.AcquiredAt.Year() != 2025 {
		t.Errorf("copied legacy lock read as %+v, %v; want its body's 2025 time", w, err)
	}
}

// Verify compares the retry fields where both stores keep them (issue 27), so
// a rollback must write them: a retrying and a failed workset rebuilt as
// sentinels verify clean, and a second apply writes nothing.
func TestRollbackKeepsRetryRecords(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range map[string]workset.State{"ws-retrying": workset.StateRetrying, "ws-failed": workset.StateFailed} {
		if _, err := src.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress}); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Transition(ctx, workset.TransitionRequest{ID: id, To: st, ErrorCategory: workset.CategoryResource, FailedStep: "align",
			Retry: &workset.RetryInfo{Count: 2, After: time.Now().Add(time.Hour)}}); err != nil {
			t.Fatal(err)
		}
	}
	dst := newStore(t, dirBucket(t))
	m, err := migrate.New(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	res, err := m.Verify(ctx, func(d migrate.Difference) error {
		if d.Kind != migrate.Equal {
			t.Errorf("%s differs after the rollback: %s %v", d.WorksetID, d.Kind, d.Fields)
		}
		return nil
	})
	if err != nil || res.Discrepancies() != 0 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
}
