package observe_test

import (
	"context"
	"testing"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// bare is a store with the contract only: none of the optional abilities.
type bare struct{ workset.StateStore }

// The instrumented wrapper passes the conformance suite over a store with
// every ability and over one with none (issue 27): what it reports of the
// abilities is what the wrapped store has (workset.Has), so the suite skips
// what the store lacks instead of failing on a wrapper that only claims it.
func TestConformanceThroughTheWrapper(t *testing.T) {
	t.Parallel()
	for name, wrap := range map[string]func(*memstore.Store) workset.StateStore{
		"every-ability": func(m *memstore.Store) workset.StateStore {
			return observe.Wrap(m, observe.Func(func(context.Context, observe.Event) {}))
		},
		"no-ability": func(m *memstore.Store) workset.StateStore {
			return observe.Wrap(bare{m}, observe.Func(func(context.Context, observe.Event) {}))
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, storetest.Harness{NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
				m, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
				if err != nil {
					t.Fatal(err)
				}
				return wrap(m)
			}})
		})
	}
	if workset.Has[workset.Importer](observe.Wrap(bare{}, observe.Func(func(context.Context, observe.Event) {}))) {
		t.Error("Has[Importer] is true through a wrapper over a store without Import")
	}
}

// A hand-back without a failure (the monitor's shutdown, the orphan sweep) is
// not counted as a failure (issue 27); a recorded failure is.
func TestHandBacksAreNotFailures(t *testing.T) {
	t.Parallel()
	m, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	var failed int
	s := observe.Wrap(m, observe.Func(func(_ context.Context, e observe.Event) {
		if e.Kind == observe.Failed {
			failed++
		}
	}))
	ctx := t.Context()
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "ws"}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []workset.TransitionRequest{
		{ID: "ws", To: workset.StateInProgress},
		{ID: "ws", To: workset.StateRetrying, Reason: "monitor m1 shut down", Retry: &workset.RetryInfo{}},
		{ID: "ws", To: workset.StateInProgress},
		{ID: "ws", To: workset.StateRetrying, ErrorCategory: workset.CategoryTransient, Retry: &workset.RetryInfo{Count: 1}},
	} {
		if _, err := s.Transition(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if failed != 1 {
		t.Errorf("%d failure events, want 1 (the hand-back is not a failure)", failed)
	}
}
