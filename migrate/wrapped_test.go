package migrate_test

import (
	"context"
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
)

// abilities counts the optional abilities a wrapper passes through to it.
type abilities struct {
	workset.StateStore
	scans, batches atomic.Int64
}

func (a *abilities) Scan(ctx context.Context, q workset.ListQuery) iter.Seq2[*workset.Workset, error] {
	a.scans.Add(1)
	return workset.Scan(ctx, a.StateStore, q)
}

func (a *abilities) GetMany(ctx context.Context, ids []string) (map[string]*workset.Workset, error) {
	a.batches.Add(1)
	return workset.GetMany(ctx, a.StateStore, ids)
}

func (a *abilities) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	return workset.Import(ctx, a.StateStore, req)
}

func (a *abilities) Delete(ctx context.Context, id string, v int64) error {
	return workset.Delete(ctx, a.StateStore, id, v)
}

// The wrappers keep the optional abilities of what they wrap: a Migrator
// given an observed source and a dual-writing destination plans, applies,
// verifies and cleans up with the wrapped stores' Scan and GetMany, and the
// imports reach both stores behind the dual writer.
func TestMigratorOverWrappedStores(t *testing.T) {
	ctx := t.Context()
	rawSrc := &abilities{StateStore: mem(t)}
	seed(t, rawSrc, 40, func(i int) workset.State { return []workset.State{workset.StateReady, workset.StateComplete}[i%2] })
	var mu sync.Mutex
	events := map[observe.EventKind]int{}
	src := observe.Wrap(rawSrc, observe.Func(func(_ context.Context, e observe.Event) {
		mu.Lock()
		events[e.Kind]++
		mu.Unlock()
	}))
	authoritative, mirror := &abilities{StateStore: mem(t)}, mem(t)
	for _, s := range []workset.StateStore{authoritative, mirror} { // not empty: the Migrator reads it
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: "dest-only"}); err != nil {
			t.Fatal(err)
		}
	}
	dst, err := dualwrite.New(mirror, authoritative, func(o *dualwrite.Options) { o.Phase = dualwrite.NewPrimary })
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.New(src, dst, func(o *migrate.Options) { o.BatchSize = 10 })
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Apply(ctx, nil)
	if err != nil || res.Outcomes[migrate.OutcomeCreated] != 40 {
		t.Fatalf("apply through wrappers: %+v, %v", res, err)
	}
	if rawSrc.scans.Load() == 0 || authoritative.batches.Load() == 0 {
		t.Errorf("the wrappers hid the stores' abilities: %d scans of the source, %d batch reads of the destination",
			rawSrc.scans.Load(), authoritative.batches.Load())
	}
	for name, s := range map[string]workset.StateStore{"authoritative": authoritative, "mirror": mirror} {
		if w, err := s.Get(ctx, "ws-0001"); err != nil || w.State != workset.StateComplete {
			t.Errorf("%s store after the import: %v, %v", name, w, err)
		}
	}
	if res, err := m.Verify(ctx, nil); err != nil || res.Discrepancies() != 1 || res.Kinds[migrate.MissingInSource] != 1 {
		t.Fatalf("verify through wrappers: %+v, %v; want only dest-only missing in the source", res, err)
	}
	if _, err := m.Cleanup(ctx, false, nil); err != nil {
		t.Fatalf("cleanup through the observed source: %v", err)
	}
	if _, err := rawSrc.Get(ctx, "ws-0001"); !errors.Is(err, workset.ErrNotFound) {
		t.Errorf("cleanup did not delete through the wrapper: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if events[observe.Deleted] != 40 {
		t.Errorf("the observer saw %d deletes, want 40", events[observe.Deleted])
	}
}

// A wrapper over a store that cannot import says so with ErrUnsupported,
// naming the store, and writes nothing.
func TestWrapperOverAStoreWithoutImport(t *testing.T) {
	plain := struct{ workset.StateStore }{mem(t)} // hides memstore's Importer and Deleter
	s := observe.Wrap(plain, observe.Func(func(context.Context, observe.Event) {}))
	_, err := s.Import(t.Context(), workset.ImportRequest{Workset: &workset.Workset{ID: "w", State: workset.StateReady}, IfAbsent: true})
	if !errors.Is(err, workset.ErrUnsupported) {
		t.Fatalf("import through a wrapper of a store without Importer: %v", err)
	}
	if _, err := plain.Get(t.Context(), "w"); !errors.Is(err, workset.ErrNotFound) {
		t.Fatalf("a refused import wrote: %v", err)
	}
	if err := s.Delete(t.Context(), "w", 0); !errors.Is(err, workset.ErrUnsupported) {
		t.Fatalf("delete through a wrapper of a store without Deleter: %v", err)
	}
}
