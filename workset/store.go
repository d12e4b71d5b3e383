package workset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// StateStore is the contract every backend implements. All methods are safe for
// concurrent use, take a context first, and return errors that match the
// sentinel errors of this package with errors.Is. Returned values are the
// caller's own copies.
type StateStore interface {
	// Register creates a workset in state ready with one history entry. It fails
	// with ErrAlreadyExists if the ID exists (nothing is changed) and with
	// ErrInvalidInput for a bad request. Not idempotent by design: a second call
	// reports ErrAlreadyExists.
	Register(ctx context.Context, req RegisterRequest) (*Workset, error)

	// Get returns the workset, or ErrNotFound.
	Get(ctx context.Context, id string) (*Workset, error)

	// Transition moves a workset to req.To and appends a history entry, in one
	// atomic step. It fails, changing nothing, with ErrNotFound;
	// ErrInvalidTransition (a *TransitionError) when the graph refuses and
	// req.Force is not set; ErrConflict when ExpectedState or ExpectedVersion does
	// not hold; ErrLeaseLost when req.Lease is not the current lease; ErrLeaseHeld
	// (a *LeaseHeldError) when req.Lease is nil and another owner's lease is live.
	// A store that retries internally after an ambiguous failure never applies
	// the transition twice and never reports failure for a write that applied.
	Transition(ctx context.Context, req TransitionRequest) (*Workset, error)

	// List returns one page of worksets matching q. With q.State set, results
	// come in dispatch order of priority (urgent, normal, low); within a priority
	// and without q.State the order is the store's. Following Cursor until it is
	// empty visits every matching workset that existed throughout, exactly once.
	List(ctx context.Context, q ListQuery) (*Page, error)

	// AcquireLease claims the workset for owner for ttl and returns the lease with
	// a new, larger fencing token. It succeeds when the workset holds no lease
	// and is in a leasable state (IsLeasable), or when its lease has expired
	// (whatever the state: the takeover of a dead monitor's work). When owner
	// already holds a live lease it is extended and returned with the same token
	// (so a retried call is harmless). It fails with ErrNotFound; ErrLeaseHeld (a
	// *LeaseHeldError naming the holder and expiry) when another owner's lease is
	// live; ErrNotLeasable when the state is not leasable; ErrInvalidInput
	// for an empty owner or a non-positive ttl.
	AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*Lease, error)

	// RenewLease extends a lease to now+ttl. It fails with ErrLeaseLost when the
	// lease is no longer current (released, or taken over after expiry); a lease
	// that expired but was not taken over is renewed. Idempotent.
	RenewLease(ctx context.Context, lease Lease, ttl time.Duration) (*Lease, error)

	// ReleaseLease gives a lease up. It fails with ErrLeaseLost when the lease is
	// not current (so a non-owner cannot release it). Releasing twice reports
	// ErrLeaseLost the second time. The fencing token is never reused.
	ReleaseLease(ctx context.Context, lease Lease) error

	// Capabilities says what this store can promise.
	Capabilities() Capabilities
}

// Capabilities says what a store keeps of a record and what it guarantees.
// Code that needs a feature checks here instead of guessing from the store's
// type. A store's Capabilities are fixed once it is constructed, with one
// exception: a dualwrite.Writer's follow its phase (see dualwrite). The matrix
// of every store in this module is in the module's root documentation.
type Capabilities struct {
	Kept       Kept
	Guarantees Guarantees
}

// Kept says which parts of a record a store keeps. A part that is not kept
// reads back as its zero value (priority as normal, location as derived).
type Kept struct {
	// History: the audit trail is stored in full (up to a bound) with reasons.
	History bool
	// Priority: priorities are stored (otherwise every workset reads as normal).
	Priority bool
	// Metadata: Metadata, Metrics, ErrorDetails, ClusterName and Attributes round trip.
	Metadata bool
	// Versions: versions are stored and ExpectedVersion is honoured.
	Versions bool
	// Timestamps: CreatedAt and UpdatedAt are stored exactly (to the microsecond).
	Timestamps bool
	// Location: Bucket and Prefix are stored as given (otherwise they are derived
	// from where the store keeps the workset).
	Location bool
	// Retries: retry counts and times are stored (see the retry package).
	Retries bool
}

// Guarantees says what holds under concurrency and failure.
type Guarantees struct {
	// AtomicLeases: two owners can never both hold a live lease, and every
	// write is checked and applied as one atomic step.
	AtomicLeases bool
	// Durable: data survives the process.
	Durable bool
}

// ImportRequest writes a complete record as it is (for migration and rollback).
type ImportRequest struct {
	Workset *Workset
	// IfAbsent creates the record only if the ID does not exist (else
	// ErrAlreadyExists). Otherwise the stored record (which must exist, else
	// ErrNotFound) is replaced, but only while it still is what the caller saw:
	// its version equals ExpectedVersion when that is non-zero, and its state is
	// ExpectedState when that is set (else ErrConflict).
	IfAbsent        bool
	ExpectedVersion int64
	ExpectedState   State
	// Reason, when set, is appended to the imported history as a forced entry.
	Reason string
}

// Importer is implemented by stores that can write a complete record as-is,
// keeping its timestamps, priority, history and attributes. The stored lease and
// fencing counter of the destination are kept, never imported. The result is the
// record as stored (with the destination's version).
type Importer interface {
	Import(ctx context.Context, req ImportRequest) (*Workset, error)
}

// Deleter is implemented by stores that can remove a record entirely (a hard
// delete, unlike the deleted state). With expectedVersion non-zero the delete
// applies only at that version (else ErrConflict). Missing IDs give ErrNotFound.
type Deleter interface {
	Delete(ctx context.Context, id string, expectedVersion int64) error
}

// Noter is implemented by stores that can add an entry to a workset's
// history without changing anything else it says (state, lease, the mark of
// another tool's work): an operator's note, such as a lease released by hand
// and why. The entry carries the current state; the write counts (Version,
// UpdatedAt). A blank reason is refused; missing IDs give ErrNotFound.
type Noter interface {
	Note(ctx context.Context, id, reason string) (*Workset, error)
}

// BatchGetter is implemented by stores that read many worksets in one request.
// Missing IDs are absent from the result. A record that cannot be read is
// never dropped without a word nor fails the others: the result holds the
// records that could be read, and the error matches ErrMalformed and joins
// one *MalformedError per unreadable record (Unreadable lists them).
type BatchGetter interface {
	GetMany(ctx context.Context, ids []string) (map[string]*Workset, error)
}

// Scanner is implemented by stores that can visit every workset matching q in
// one streaming pass, cheaper than following List pages (the sentinel store
// lists the whole bucket prefix once). q.Cursor and q.Limit are ignored.
type Scanner interface {
	Scan(ctx context.Context, q ListQuery) iter.Seq2[*Workset, error]
}

// Wrappers (observe.Instrumented, dualwrite.Writer, or one of your own) keep
// the optional abilities of the store they wrap in one way: they implement
// every optional interface by calling Scan, GetMany, Import and Delete below on
// the wrapped store. Those use the store's own ability when it has one and
// otherwise fall back (Scan to List pages, GetMany to Get) or report
// ErrUnsupported (Import, Delete), so a wrapped store can be handed to the
// Migrator, or wrapped again, without losing anything.

// Scan visits every workset matching q: in one pass when s is a Scanner,
// following List pages (of q.Limit, default the maximum) otherwise.
func Scan(ctx context.Context, s StateStore, q ListQuery) iter.Seq2[*Workset, error] {
	if sc, ok := s.(Scanner); ok && Has[Scanner](s) {
		return sc.Scan(ctx, q)
	}
	if q.Limit == 0 {
		q.Limit = MaxPageSize
	}
	return All(ctx, s, q)
}

// GetMany reads many worksets: in batches when s is a BatchGetter, one Get
// each otherwise. Missing IDs are absent from the result; unreadable ones are
// reported as BatchGetter says, beside the records that could be read.
func GetMany(ctx context.Context, s StateStore, ids []string) (map[string]*Workset, error) {
	if bg, ok := s.(BatchGetter); ok && Has[BatchGetter](s) {
		return bg.GetMany(ctx, ids)
	}
	out := make(map[string]*Workset, len(ids))
	var unreadable []error
	for _, id := range ids {
		w, err := s.Get(ctx, id)
		var mal *MalformedError
		switch {
		case err == nil:
			out[id] = w
		case errors.Is(err, ErrNotFound):
		case errors.As(err, &mal):
			unreadable = append(unreadable, mal)
		default:
			return nil, err
		}
	}
	return out, errors.Join(unreadable...)
}

// Import writes a complete record through s's Importer, or reports
// ErrUnsupported when s has none.
func Import(ctx context.Context, s StateStore, req ImportRequest) (*Workset, error) {
	if im, ok := s.(Importer); ok && Has[Importer](s) {
		return im.Import(ctx, req)
	}
	return nil, &Error{Kind: ErrUnsupported, Detail: fmt.Sprintf("%T cannot import records", s)}
}

// Note adds reason to the history of id through s's Noter, or reports
// ErrUnsupported when s has none (the sentinel store keeps no history).
func Note(ctx context.Context, s StateStore, id, reason string) (*Workset, error) {
	if n, ok := s.(Noter); ok && Has[Noter](s) {
		return n.Note(ctx, id, reason)
	}
	return nil, &Error{ID: id, Kind: ErrUnsupported, Detail: fmt.Sprintf("%T keeps no history to note in", s)}
}

// Delete removes a record through s's Deleter, or reports ErrUnsupported when
// s has none.
func Delete(ctx context.Context, s StateStore, id string, expectedVersion int64) error {
	if d, ok := s.(Deleter); ok && Has[Deleter](s) {
		return d.Delete(ctx, id, expectedVersion)
	}
	return &Error{ID: id, Kind: ErrUnsupported, Detail: fmt.Sprintf("%T cannot delete records", s)}
}

// All returns every workset matching q, following cursors to the end. A record
// that cannot be read is yielded as a nil workset with its *MalformedError, and
// iteration goes on if the caller does (every other error ends it).
func All(ctx context.Context, s StateStore, q ListQuery) iter.Seq2[*Workset, error] {
	return func(yield func(*Workset, error) bool) {
		for {
			page, err := s.List(ctx, q)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, m := range page.Malformed {
				if !yield(nil, m) {
					return
				}
			}
			for _, w := range page.Worksets {
				if !yield(w, nil) {
					return
				}
			}
			if page.Cursor == "" {
				return
			}
			q.Cursor = page.Cursor
		}
	}
}

// Clock tells the time. Stores take one so tests can move time forward instead
// of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
