package workset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Every error a store returns matches one of them with errors.Is,
// and keeps the underlying cause (an SDK error, a context error) reachable with
// errors.Is and errors.As.
//
// Every error about one workset reads "workset <ID>: <kind>: <detail>", where
// kind is the sentinel's text without its package ("not found", "lease
// held", ...); an error about
// no one workset (a bad option, a malformed cursor) reads "workset: <kind>:
// <detail>". Error, TransitionError, LeaseHeldError and MalformedError all
// follow that format.
var (
	// ErrNotFound: the workset does not exist.
	ErrNotFound = errors.New("workset: not found")
	// ErrAlreadyExists: Register was called for an ID that exists.
	ErrAlreadyExists = errors.New("workset: already exists")
	// ErrConflict: an expected state or version did not match what is stored.
	ErrConflict = errors.New("workset: conflict")
	// ErrInvalidTransition: the transition graph does not allow the move.
	ErrInvalidTransition = errors.New("workset: invalid transition")
	// ErrNotLeasable: a lease was asked for on a workset in a state that cannot
	// be leased (see IsLeasable) and that holds no expired lease to take over.
	ErrNotLeasable = errors.New("workset: not leasable")
	// ErrLeaseHeld: another owner holds a live lease on the workset.
	ErrLeaseHeld = errors.New("workset: lease held")
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
	// ErrUnavailable: the store could not be reached, or could not answer now
	// (connection refused or reset, a timeout, a server error, throttling
	// past the SDK's own retries). Retry later: see Retryable.
	ErrUnavailable = errors.New("workset: store unavailable")
	// ErrMisconfigured: the store refused where or who the caller is (a
	// missing table or bucket, refused or missing credentials, a wrong region,
	// HTTPS against an HTTP endpoint). No retry will help until the
	// configuration is fixed.
	ErrMisconfigured = errors.New("workset: store misconfigured")
)

// Retryable reports whether err is a failure that the same request may not
// meet later: ErrUnavailable, or a deadline that ran out. Refusals (conflicts,
// held leases, invalid transitions), bad input, ErrMisconfigured and a
// canceled context are not: retrying them as they are changes nothing.
func Retryable(err error) bool {
	return errors.Is(err, ErrUnavailable) || (errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrMisconfigured))
}

// Error is an error about a workset (or, with ID empty, about no one workset)
// that carries no more structure than its kind: "workset <ID>: <kind>:
// <detail>: <cause>". It matches Kind and Err. An expectation that did not
// hold (ErrConflict) is one, with the expectation in Detail ("expected version
// 3, found 4").
type Error struct {
	ID     string // the workset; empty when the error is about none
	Kind   error  // one of the sentinel errors
	Detail string // what happened, for people; may be empty
	Err    error  // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(prefix(e.ID, e.Kind))
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns Kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// prefix is "workset <id>: <kind>" (or "workset: <kind>" without an ID).
func prefix(id string, kind error) string {
	k := "error"
	if kind != nil {
		k = kind.Error()
		if _, rest, ok := strings.Cut(k, ": "); ok { // "workset: not found", "dualwrite: mirror write failed"
			k = rest
		}
	}
	if id == "" {
		return "workset: " + k
	}
	return "workset " + id + ": " + k
}

// MalformedError names the stored record and attribute that cannot be read. It
// matches ErrMalformed (and only that: the detail is text, so a malformed
// stored timestamp is not mistaken for the caller's invalid input).
type MalformedError struct {
	ID        string
	Attribute string
	Detail    string
}

func (e *MalformedError) Error() string {
	return fmt.Sprintf("%s: attribute %s: %s", prefix(e.ID, ErrMalformed), e.Attribute, e.Detail)
}

// Unwrap returns ErrMalformed.
func (e *MalformedError) Unwrap() error { return ErrMalformed }

// Unreadable returns every *MalformedError in err's tree (GetMany joins one
// per record it could not read), in order; none when err has none.
func Unreadable(err error) []*MalformedError {
	var out []*MalformedError
	var walk func(error)
	walk = func(e error) {
		switch x := e.(type) {
		case nil:
		case *MalformedError:
			out = append(out, x)
		case interface{ Unwrap() []error }:
			for _, c := range x.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(x.Unwrap())
		}
	}
	walk(err)
	return out
}

// TransitionError reports a transition the graph refused. It matches
// ErrInvalidTransition.
type TransitionError struct {
	ID   string
	From State
	To   State
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s: %s -> %s (allowed from %s: %s)",
		prefix(e.ID, ErrInvalidTransition), e.From, e.To, e.From, joinStrings(transitions[e.From]))
}

// Unwrap returns ErrInvalidTransition.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// LeaseHeldError reports who holds the lease that refused a call, and until when.
// It matches ErrLeaseHeld.
type LeaseHeldError struct {
	ID        string
	Owner     string
	ExpiresAt time.Time // zero when the holder's expiry is unknown
}

func (e *LeaseHeldError) Error() string {
	if e.ExpiresAt.IsZero() {
		return fmt.Sprintf("%s: by %q", prefix(e.ID, ErrLeaseHeld), e.Owner)
	}
	return fmt.Sprintf("%s: by %q until %s", prefix(e.ID, ErrLeaseHeld), e.Owner, e.ExpiresAt.UTC().Format(time.RFC3339))
}

// Unwrap returns ErrLeaseHeld.
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// invalid builds an ErrInvalidInput about workset id ("" for none).
func invalid(id, format string, args ...any) error {
	return &Error{ID: id, Kind: ErrInvalidInput, Detail: fmt.Sprintf(format, args...)}
}
