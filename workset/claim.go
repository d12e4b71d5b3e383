package workset

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClaimRequest asks to lease a workset from the queue and start it.
type ClaimRequest struct {
	ID    string
	Owner string
	TTL   time.Duration
	// Reason is the history entry's reason (default "claimed by <Owner>").
	Reason string
	// IdempotencyKey, when set, makes a retry of this claim safe, as for
	// TransitionRequest.IdempotencyKey: after an ambiguous failure (a lost
	// reply, a timeout) the caller claims again with the same key, and if the
	// first attempt applied the retry returns the record with the caller's
	// lease instead of ErrNotLeasable. Use a fresh key (a UUID) per attempt to
	// claim; it is remembered until the workset's next write, so retry at once.
	// Through Claim's two-write fallback the retry extends the lease first, so
	// the store must keep the key across lease writes (memstore and the
	// sentinel store do; the conformance suite checks it).
	IdempotencyKey string
}

// Claimer is implemented by stores that claim a workset in one atomic write:
// the lease is taken and the workset moved to in_progress together, or
// neither happens. memstore and dynamostore implement it (DynamoDB in one
// conditional UpdateItem). The sentinel store does not (a lock object cannot
// be written together with a state sentinel): Claim does it for it in two
// writes. dualwrite.Writer claims in each of its stores in turn.
type Claimer interface {
	Claim(ctx context.Context, req ClaimRequest) (*Workset, error)
}

// Claim leases the workset for req.Owner and moves it to in_progress, and
// returns the record with its new lease (Workset.Lease). It succeeds when the
// workset is ready or retrying and holds no live lease of another owner; it
// fails, changing nothing, with ErrNotFound, ErrLeaseHeld (a *LeaseHeldError),
// ErrNotLeasable (any other state), or ErrInvalidInput. A Claimer does it in
// one write; for another store Claim acquires the lease, then makes a fenced
// transition, and releases the lease if the transition is refused.
func Claim(ctx context.Context, s StateStore, req ClaimRequest) (*Workset, error) {
	if c, ok := s.(Claimer); ok && Has[Claimer](s) {
		return c.Claim(ctx, req)
	}
	l, err := s.AcquireLease(ctx, req.ID, req.Owner, req.TTL)
	if err != nil {
		return nil, err
	}
	reason := req.Reason
	if reason == "" {
		reason = "claimed by " + req.Owner // storekit.DefaultClaimReason
	}
	// A retry of an applied claim finds its own live lease (extended, same
	// token) and its own keyed transition (reported applied).
	w, err := s.Transition(ctx, TransitionRequest{ID: req.ID, To: StateInProgress, Lease: l, Reason: reason, IdempotencyKey: req.IdempotencyKey})
	if err != nil {
		_ = s.ReleaseLease(context.WithoutCancel(ctx), *l)
		var te *TransitionError
		if errors.As(err, &te) && !IsLeasable(te.From) { // an expired lease taken over outside the queue
			return nil, &Error{ID: req.ID, Kind: ErrNotLeasable, Detail: fmt.Sprintf("it is %s", te.From)}
		}
		return nil, err
	}
	held := *l
	w.Lease = &held // the lease the caller now holds (a store may not read it back with the record)
	return w, nil
}
