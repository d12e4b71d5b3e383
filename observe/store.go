package observe

import (
	"context"
	"errors"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Store wraps a StateStore and reports every successful change to an
// Observer. Reads pass through. Optional interfaces of the wrapped store are
// not passed through: wrap the store you monitor, not the one you migrate.
type Store struct {
	workset.StateStore
	Observer Observer
	// Clock stamps events (default workset.SystemClock).
	Clock workset.Clock
}

// Wrap returns s reporting to o.
func Wrap(s workset.StateStore, o Observer) *Store { return &Store{StateStore: s, Observer: o} }

func (s *Store) emit(ctx context.Context, e Event) {
	c := s.Clock
	if c == nil {
		c = workset.SystemClock
	}
	e.At = c.Now()
	s.Observer.Observe(ctx, e)
}

// Register implements workset.StateStore.
func (s *Store) Register(ctx context.Context, req workset.RegisterRequest) (*workset.Workset, error) {
	w, err := s.StateStore.Register(ctx, req)
	if err == nil {
		s.emit(ctx, Event{Kind: Registered, WorksetID: w.ID, To: w.State, Reason: req.Reason})
	}
	return w, err
}

// Transition implements workset.StateStore. The From state is the one before
// the write, as its history shows.
func (s *Store) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	w, err := s.StateStore.Transition(ctx, req)
	if err == nil {
		e := Event{Kind: Transitioned, WorksetID: w.ID, To: w.State, Reason: req.Reason, Category: req.ErrorCategory}
		if n := len(w.History); n >= 2 {
			e.From = w.History[n-2].State
		}
		if req.Lease != nil {
			e.Owner = req.Lease.Owner
		}
		s.emit(ctx, e)
		if req.To == workset.StateRetrying || req.To == workset.StateFailed || req.To == workset.StateError {
			s.emit(ctx, Event{Kind: Failed, WorksetID: w.ID, To: w.State, Category: req.ErrorCategory, Reason: req.Reason})
		}
	}
	return w, err
}

// AcquireLease implements workset.StateStore.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	l, err := s.StateStore.AcquireLease(ctx, id, owner, ttl)
	if err == nil {
		s.emit(ctx, Event{Kind: LeaseAcquired, WorksetID: id, Owner: owner})
	}
	return l, err
}

// RenewLease implements workset.StateStore; a lost lease is reported too.
func (s *Store) RenewLease(ctx context.Context, l workset.Lease, ttl time.Duration) (*workset.Lease, error) {
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
func (s *Store) ReleaseLease(ctx context.Context, l workset.Lease) error {
	err := s.StateStore.ReleaseLease(ctx, l)
	if err == nil {
		s.emit(ctx, Event{Kind: LeaseReleased, WorksetID: l.WorksetID, Owner: l.Owner})
	}
	return err
}

// CountByState passes the wrapped store's counting through (see Counter), so
// a wrapped DynamoDB store still counts with COUNT queries.
func (s *Store) CountByState(ctx context.Context) (map[workset.State]int64, error) {
	return CountByState(ctx, s.StateStore)
}
