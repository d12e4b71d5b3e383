package workset

// The transition graph. Every store enforces it atomically (inside the write's
// condition, never as a read followed by a write); TransitionRequest.Force
// bypasses it and the bypass is recorded in the history entry.
//
//	```mermaid
//	stateDiagram-v2
//	    [*] --> ready : Register
//	    ready --> locked
//	    ready --> in_progress
//	    ready --> ignored
//	    locked --> in_progress
//	    locked --> ready
//	    locked --> error
//	    in_progress --> complete
//	    in_progress --> error
//	    in_progress --> retrying
//	    in_progress --> failed
//	    error --> ready
//	    error --> retrying
//	    error --> failed
//	    error --> ignored
//	    retrying --> in_progress
//	    retrying --> ready
//	    retrying --> failed
//	    complete --> archived
//	    failed --> archived
//	    ignored --> archived
//	    ignored --> ready
//	    archived --> ready : restore
//	    archived --> deleted
//	    deleted --> [*]
//	```
//
// Departures from the deployed documentation (READY → LOCKED → IN_PROGRESS →
// COMPLETE | ERROR; ERROR → READY | IGNORED), and why:
//   - locked → ready and locked → error: a monitor that claimed a workset must be
//     able to hand it back, or report that it could not start it.
//   - in_progress → retrying and in_progress → failed: recording a failure with its
//     category is one atomic write, not two (error, then retrying).
//   - ready → ignored and ignored → ready: the legacy monitor's daylily.ignore
//     sentinel can be dropped on any waiting workset and removed again.
//   - A state never transitions to itself: a repeated request is refused with
//     ErrInvalidTransition, which makes a blind retry visible.
var transitions = map[State][]State{
	StateReady:      {StateLocked, StateInProgress, StateIgnored},
	StateLocked:     {StateInProgress, StateReady, StateError},
	StateInProgress: {StateComplete, StateError, StateRetrying, StateFailed},
	StateError:      {StateReady, StateRetrying, StateFailed, StateIgnored},
	StateRetrying:   {StateInProgress, StateReady, StateFailed},
	StateComplete:   {StateArchived},
	StateFailed:     {StateArchived},
	StateIgnored:    {StateArchived, StateReady},
	StateArchived:   {StateReady, StateDeleted},
	StateDeleted:    nil,
}

// CanTransition reports whether the graph allows moving from one state to another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// NextStates returns the states that may follow from (a copy; nil for a terminal state).
func NextStates(from State) []State { return append([]State(nil), transitions[from]...) }

// LeasableStates are the states in which a lease may be acquired on a workset that
// holds none (the deployed system's lockable states). A workset in any state whose
// lease has expired may still be taken over, so that the work of a dead monitor is
// recovered.
func LeasableStates() []State { return []State{StateReady, StateRetrying} }

// IsLeasable reports whether a lease may be acquired in state s when no lease is held.
func IsLeasable(s State) bool { return s == StateReady || s == StateRetrying }
