// Package workset is the contract of the SDK: the Workset record, its States and
// Priorities, the transition graph, leases with fencing tokens, the errors, and
// the StateStore interface that every backend implements.
//
// # States
//
// The states are exactly the deployed system's strings (see State). Every store
// enforces one transition graph atomically, inside the write. A
// TransitionRequest with Force bypasses the graph and the history records it.
// The graph (NextStates lists it; a state never moves to itself):
//
//	ready        -> locked, in_progress, ignored
//	locked       -> in_progress, ready, error
//	in_progress  -> complete, error, retrying, failed
//	error        -> ready, retrying, failed, ignored
//	retrying     -> in_progress, ready, failed
//	complete     -> archived
//	failed       -> archived
//	ignored      -> archived, ready
//	archived     -> ready (restore), deleted
//	deleted      (terminal)
//
// A lease can be acquired in ready and retrying (LeasableStates), or in any
// state over an expired lease (the takeover of a dead monitor's work);
// elsewhere AcquireLease fails with ErrNotLeasable.
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
// ErrInvalidTransition, ErrNotLeasable, ErrLeaseHeld, ErrLeaseLost,
// ErrInvalidInput, ErrUnsupported or ErrMalformed with errors.Is, or the
// context's error. An error about one workset reads "workset <ID>: <kind>:
// <detail>" on every store. TransitionError, LeaseHeldError and
// MalformedError carry the details; Error carries the rest.
//
// # Optional abilities
//
// Stores may also implement Importer (write a full record, for migration),
// Deleter, BatchGetter and Scanner; Import, Delete, GetMany and Scan use them
// or fall back, and are how wrappers keep them. Capabilities says what a store
// keeps and guarantees.
//
// # Writing a store
//
// The rules as functions, the value model and the deployed names are in
// workset/storekit; the conformance suite is workset/storetest.
package workset
