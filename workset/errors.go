package workset

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Every error a store returns matches one of them with errors.Is,
// and keeps the underlying cause (an SDK error, say) reachable with errors.As.
var (
	// ErrNotFound: the workset does not exist.
	ErrNotFound = errors.New("workset: not found")
	// ErrAlreadyExists: Register was called for an ID that exists.
	ErrAlreadyExists = errors.New("workset: already exists")
	// ErrConflict: an expected state or version did not match what is stored.
	ErrConflict = errors.New("workset: conflict")
	// ErrInvalidTransition: the transition graph does not allow the move.
	ErrInvalidTransition = errors.New("workset: invalid transition")
	// ErrLockHeld: another owner holds a live lease on the workset.
	ErrLockHeld = errors.New("workset: lock held")
	// ErrLeaseLost: the lease used for a fenced call is no longer the current one
	// (it was released, or taken over after it expired).
	ErrLeaseLost = errors.New("workset: lease lost")
	// ErrInvalidInput: a request is malformed (bad ID, unknown state, bad duration...).
	ErrInvalidInput = errors.New("workset: invalid input")
	// ErrUnsupported: the store cannot do what was asked (see Capabilities).
	ErrUnsupported = errors.New("workset: unsupported")
	// ErrMalformed: a stored record cannot be read (another tool wrote an
	// attribute this SDK cannot interpret). It is the store's data, not the
	// caller's input: it never matches ErrInvalidInput. See MalformedError.
	ErrMalformed = errors.New("workset: malformed stored record")
)

// MalformedError names the stored record and attribute that cannot be read. It
// matches ErrMalformed (and only that: the detail is text, so a malformed
// stored timestamp is not mistaken for the caller's invalid input).
type MalformedError struct {
	ID        string
	Attribute string
	Detail    string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("workset %s: stored attribute %s cannot be read: %s", e.ID, e.Attribute, e.Detail)
}

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// TransitionError reports a transition the graph refused. It matches
// ErrInvalidTransition.
type TransitionError struct {
	ID   string
	From State
	To   State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("workset %s: invalid transition %s -> %s (allowed from %s: %s)",
		e.ID, e.From, e.To, e.From, joinStrings(transitions[e.From]))
}

// Unwrap returns ErrInvalidTransition.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// LockHeldError reports who holds the lease that refused a call, and until when.
// It matches ErrLockHeld.
type LockHeldError struct {
	ID        string
	Owner     string
	ExpiresAt time.Time // zero when the holder's expiry is unknown
}

func (e *LockHeldError) Error() string {
	if e.ExpiresAt.IsZero() {
		return fmt.Sprintf("workset %s: lock held by %q", e.ID, e.Owner)
	}
	return fmt.Sprintf("workset %s: lock held by %q until %s", e.ID, e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrLockHeld.
func (e *LockHeldError) Unwrap() error { return ErrLockHeld }

// ConflictError reports an expectation that did not hold. It matches ErrConflict,
// and its Err (if any) is the underlying cause.
type ConflictError struct {
	ID     string
	Reason string // e.g. "expected version 3, found 4"
	Err    error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("workset %s: conflict: %s", e.ID, e.Reason)
}

// Unwrap returns ErrConflict and the cause.
func (e *ConflictError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrConflict}
	}
	return []error{ErrConflict, e.Err}
}

// invalid builds an ErrInvalidInput with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}
