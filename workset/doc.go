// Package workset is the contract of the SDK: the Workset record, its States and
// Priorities, the transition graph, leases with fencing tokens, the errors, and
// the StateStore interface that every backend implements.
//
// # States
//
// The states are exactly the deployed system's strings (see State). Every store
// enforces one transition graph (see CanTransition; the diagram is on the
// transitions table in transition.go) atomically, inside the write. A
// TransitionRequest with Force bypasses the graph and the history records it.
//
// # Leases
//
// A monitor claims a workset with StateStore.AcquireLease. Each acquisition gets
// a fencing token larger than any before it for that workset. A transition made
// with TransitionRequest.Lease applies only while that lease is current, so a
// monitor whose expired lease was taken over cannot write again (ErrLeaseLost).
// An expired lease can be taken over at once; "expired" is judged by the store's
// Clock plus a skew margin for clocks that disagree.
//
// # Errors
//
// Every error matches one of ErrNotFound, ErrAlreadyExists, ErrConflict,
// ErrInvalidTransition, ErrLeaseHeld, ErrLeaseLost, ErrInvalidInput or
// ErrUnsupported with errors.Is. TransitionError, LeaseHeldError and ConflictError
// carry the details.
//
// # Optional abilities
//
// Stores may also implement Importer (write a full record, for migration),
// Deleter and BatchGetter; discover them with a type assertion. Capabilities says
// what a store can promise.
package workset
