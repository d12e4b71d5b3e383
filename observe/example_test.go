package observe_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Wiring observers: every change made through the wrapped store reaches each
// observer (here a structured log and a function); the wrapped store is used
// exactly as the store itself.
func ExampleWrap() {
	ctx := context.Background()
	mem, err := memstore.New()
	if err != nil {
		panic(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // stable output
			}
			return a
		}}))
	transitions := 0
	store := observe.Wrap(mem, observe.Multi(
		observe.Slog(logger),
		observe.Func(func(_ context.Context, e observe.Event) {
			if e.Kind == observe.Transitioned {
				transitions++
			}
		}),
	))
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		panic(err)
	}
	l, err := store.AcquireLease(ctx, "ws-1", "monitor-a", time.Minute)
	if err != nil {
		panic(err)
	}
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: workset.StateInProgress, Lease: l, Reason: "started"}); err != nil {
		panic(err)
	}
	fmt.Println("transitions:", transitions)
	// Output:
	// level=INFO msg="workset registered" workset=ws-1 from="" to=ready
	// level=INFO msg="workset lease_acquired" workset=ws-1 owner=monitor-a
	// level=INFO msg="workset transitioned" workset=ws-1 from=ready to=in_progress owner=monitor-a reason=started
	// transitions: 1
}
