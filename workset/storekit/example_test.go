package storekit_test

import (
	"fmt"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// The core of a store's Transition: validate the request, check it against
// the record read, apply it, then write the record only if it is still the
// one read (a compare-and-swap or a lock). memstore is the complete example.
func ExampleCheckTransition() {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	reg := workset.RegisterRequest{ID: "ws-1"}
	if err := storekit.NormalizeRegister(&reg); err != nil {
		panic(err)
	}
	w := storekit.NewWorkset(reg, now)
	for _, to := range []workset.State{workset.StateInProgress, workset.StateArchived} {
		req := workset.TransitionRequest{ID: "ws-1", To: to, Reason: "example"}
		if err := storekit.NormalizeTransition(&req); err != nil {
			panic(err)
		}
		if err := storekit.CheckTransition(w, req, now, time.Second); err != nil {
			fmt.Println("refused:", err)
			continue
		}
		storekit.ApplyTransition(w, req, now)
		fmt.Println(w.State, "version", w.Version, "history", len(w.History))
	}
	// Output:
	// in_progress version 2 history 2
	// refused: workset ws-1: invalid transition: in_progress -> archived (allowed from in_progress: complete, error, retrying, failed)
}
