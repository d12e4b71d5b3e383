package observe

import (
	"context"
	"errors"
	"iter"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Instrumented wraps a StateStore and reports every successful change to an
// Observer. Reads pass through. It keeps the optional abilities of the wrapped
// store (Scanner, BatchGetter, Importer, Deleter) as workset documents for
// wrappers, and reports imports and deletes too.
type Instrumented struct {
	workset.StateStore
	Observer Observer
	// Clock stamps events (default workset.SystemClock).
	Clock workset.Clock
}

// Wrap returns s reporting to o.
func Wrap(s workset.StateStore, o Observer) *Instrumented {
	return &Instrumented{StateStore: s, Observer: o}
}

func (s *Instrumented) emit(ctx context.Context, e Event) {
	c := s.Clock
	if c == nil {
		c = workset.SystemClock
	}
	e.At = c.Now()
	s.Observer.Observe(ctx, e)
}

// Register implements workset.StateStore.
func (s *Instrumented) Register(ctx context.Context, req workset.RegisterRequest) (*workset.Workset, error) {
	w, err := s.StateStore.Register(ctx, req)
	if err == nil {
		s.emit(ctx, Event{Kind: Registered, WorksetID: w.ID, To: w.State, Reason: req.Reason})
	}
	return w, err
}

// Transition implements workset.StateStore. The From state is the one before
// the write: the request's ExpectedState when it names one (the store checked
// it), else the entry before the last in a history the store keeps in full;
// "" when neither tells (a derived history, as the sentinel store's, or one
// trimmed to a single entry), never a guess.
func (s *Instrumented) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	w, err := s.StateStore.Transition(ctx, req)
	if err == nil {
		e := Event{Kind: Transitioned, WorksetID: w.ID, To: w.State, Reason: req.Reason, Category: req.ErrorCategory, From: s.from(w, req.ExpectedState)}
		if req.Lease != nil {
			e.Owner = req.Lease.Owner
		}
		s.emit(ctx, e)
		// A failure is a move that records one: an error, or a retry or a
		// failure with its category. The monitor's hand-back on shutdown and
		// the orphan sweep move to retrying without one: not failures.
		if req.To == workset.StateError || ((req.To == workset.StateRetrying || req.To == workset.StateFailed) && req.ErrorCategory != "") {
			s.emit(ctx, Event{Kind: Failed, WorksetID: w.ID, To: w.State, Category: req.ErrorCategory, Reason: req.Reason})
		}
	}
	return w, err
}

// AcquireLease implements workset.StateStore.
func (s *Instrumented) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	l, err := s.StateStore.AcquireLease(ctx, id, owner, ttl)
	if err == nil {
		s.emit(ctx, Event{Kind: LeaseAcquired, WorksetID: id, Owner: owner})
	}
	return l, err
}

// RenewLease implements workset.StateStore; a lost lease is reported too.
func (s *Instrumented) RenewLease(ctx context.Context, l workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	out, err := s.StateStore.RenewLease(ctx, l, ttl)
	switch {
	case err == nil:
		s.emit(ctx, Event{Kind: LeaseRenewed, WorksetID: l.WorksetID, Owner: l.Owner})
	case errors.Is(err, workset.ErrLeaseLost):
		s.emit(ctx, Event{Kind: LeaseLost, WorksetID: l.WorksetID, Owner: l.Owner, Err: err})
	}
	return out, err
}

// ReleaseLease implements workset.StateStore.
func (s *Instrumented) ReleaseLease(ctx context.Context, l workset.Lease) error {
	err := s.StateStore.ReleaseLease(ctx, l)
	if err == nil {
		s.emit(ctx, Event{Kind: LeaseReleased, WorksetID: l.WorksetID, Owner: l.Owner})
	}
	return err
}

// CountByState passes the wrapped store's counting through (see Counter), so
// a wrapped DynamoDB store still counts with COUNT queries.
func (s *Instrumented) CountByState(ctx context.Context) (map[workset.State]int64, error) {
	return CountByState(ctx, s.StateStore)
}

// Claim implements workset.Claimer with the wrapped store's Claim (or its
// two-step fallback) and reports the lease and the transition.
func (s *Instrumented) Claim(ctx context.Context, req workset.ClaimRequest) (*workset.Workset, error) {
	w, err := workset.Claim(ctx, s.StateStore, req)
	if err == nil {
		s.emit(ctx, Event{Kind: LeaseAcquired, WorksetID: w.ID, Owner: req.Owner})
		e := Event{Kind: Transitioned, WorksetID: w.ID, To: w.State, Owner: req.Owner}
		if n := len(w.History); n >= 1 {
			e.Reason = w.History[n-1].Reason
		}
		e.From = s.from(w, "")
		s.emit(ctx, e)
	}
	return w, err
}

// from is the state a write moved w from, when that is known: expected (the
// request's ExpectedState), or the entry before the last of a history kept in
// full whose last entry is the write's.
func (s *Instrumented) from(w *workset.Workset, expected workset.State) workset.State {
	if expected != "" {
		return expected
	}
	n := len(w.History)
	if !s.StateStore.Capabilities().Kept.History || n < 2 || w.History[n-1].State != w.State {
		return ""
	}
	return w.History[n-2].State
}

// Note implements workset.Noter with the wrapped store's (workset.Has tells
// whether it has one).
func (s *Instrumented) Note(ctx context.Context, id, reason string) (*workset.Workset, error) {
	return workset.Note(ctx, s.StateStore, id, reason)
}

// Unwrap implements workset.Wrapper: workset.Has tells which of the optional
// interfaces Instrumented implements the wrapped store really has.
func (s *Instrumented) Unwrap() workset.StateStore { return s.StateStore }

// Scan implements workset.Scanner with the wrapped store's Scan, or its pages.
func (s *Instrumented) Scan(ctx context.Context, q workset.ListQuery) iter.Seq2[*workset.Workset, error] {
	return workset.Scan(ctx, s.StateStore, q)
}

// GetMany implements workset.BatchGetter with the wrapped store's GetMany, or Get.
func (s *Instrumented) GetMany(ctx context.Context, ids []string) (map[string]*workset.Workset, error) {
	return workset.GetMany(ctx, s.StateStore, ids)
}

// Import implements workset.Importer with the wrapped store's (ErrUnsupported
// without one) and reports the imported record.
func (s *Instrumented) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	w, err := workset.Import(ctx, s.StateStore, req)
	if err == nil {
		s.emit(ctx, Event{Kind: Imported, WorksetID: w.ID, To: w.State, Reason: req.Reason})
	}
	return w, err
}

// Delete implements workset.Deleter with the wrapped store's (ErrUnsupported
// without one) and reports the removal.
func (s *Instrumented) Delete(ctx context.Context, id string, expectedVersion int64) error {
	err := workset.Delete(ctx, s.StateStore, id, expectedVersion)
	if err == nil {
		s.emit(ctx, Event{Kind: Deleted, WorksetID: id})
	}
	return err
}

var (
	_ workset.Scanner     = (*Instrumented)(nil)
	_ workset.BatchGetter = (*Instrumented)(nil)
	_ workset.Importer    = (*Instrumented)(nil)
	_ workset.Deleter     = (*Instrumented)(nil)
	_ workset.Claimer     = (*Instrumented)(nil)
	_ workset.Wrapper     = (*Instrumented)(nil)
)
