package observe

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Overview is a queue at a glance: the worksets per state, the ready one
// that has waited longest, what is in flight, and the recent failures.
type Overview struct {
	Counts map[workset.State]int64
	Total  int64
	// OldestReady is the ready workset with the earliest UpdatedAt (when it
	// last became ready), nil when none is.
	OldestReady *workset.Workset
	// InFlight are the locked and in_progress worksets.
	InFlight []*workset.Workset
	// Failures are the error, failed and retrying worksets written since
	// Look's since.
	Failures []*workset.Workset
	// Unreadable counts the records that could not be read: counted here,
	// never in the other figures.
	Unreadable int
}

// inFlight and failing are the states an Overview lists.
var (
	inFlight = []workset.State{workset.StateLocked, workset.StateInProgress}
	failing  = []workset.State{workset.StateError, workset.StateFailed, workset.StateRetrying}
)

// Look gathers the Overview of a store, or of one customer's worksets
// (customer non-empty). A store that counts without reading (a Counter, as
// DynamoDB is, through every wrapper: workset.Has) is counted so and read
// only for the states listed, by state; any other store, and a customer's
// view, is read in one pass: a sentinel bucket is listed once, not once a
// state.
func Look(ctx context.Context, s workset.StateStore, customer string, since time.Time) (*Overview, error) {
	o := &Overview{Counts: map[workset.State]int64{}}
	note := func(w *workset.Workset) {
		switch {
		case w.State == workset.StateReady:
			if o.OldestReady == nil || w.UpdatedAt.Before(o.OldestReady.UpdatedAt) {
				o.OldestReady = w
			}
		case slices.Contains(inFlight, w.State):
			o.InFlight = append(o.InFlight, w)
		case slices.Contains(failing, w.State) && !w.UpdatedAt.Before(since):
			o.Failures = append(o.Failures, w)
		}
	}
	read := func(seq func(yield func(*workset.Workset, error) bool), count bool) error {
		for w, err := range seq {
			if errors.Is(err, workset.ErrMalformed) {
				o.Unreadable++
				continue
			}
			if err != nil {
				return err
			}
			if count {
				o.Counts[w.State]++
				o.Total++
			}
			note(w)
		}
		return nil
	}
	c, counts := s.(Counter)
	if !counts || !workset.Has[Counter](s) || customer != "" {
		return o, read(workset.Scan(ctx, s, workset.ListQuery{Customer: customer}), true)
	}
	n, err := c.CountByState(ctx)
	if err != nil {
		return nil, err
	}
	for st, k := range n {
		o.Counts[st] = k
		o.Total += k
	}
	for _, st := range append(append([]workset.State{workset.StateReady}, inFlight...), failing...) {
		if err := read(workset.All(ctx, s, workset.ListQuery{State: st}), false); err != nil {
			return nil, err
		}
	}
	return o, nil
}
