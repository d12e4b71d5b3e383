package workset

import (
	"strings"
)

// State is the lifecycle state of a workset. Its values are exactly the strings
// the deployed daylily system stores in the `state` attribute.
type State string

// The states of a workset, spelled as the deployed system spells them.
const (
	// StateReady: registered and waiting to be claimed by a monitor.
	StateReady State = "ready"
	// StateLocked: claimed by a monitor but not started (legacy; newer code keeps
	// the state and records the claim as a lease).
	StateLocked State = "locked"
	// StateInProgress: a monitor is processing the workset.
	StateInProgress State = "in_progress"
	// StateComplete: processing finished successfully.
	StateComplete State = "complete"
	// StateError: processing failed; an operator or the retry policy decides what next.
	StateError State = "error"
	// StateIgnored: deliberately skipped by an operator.
	StateIgnored State = "ignored"
	// StateRetrying: failed with a retryable error and waiting for its retry time.
	StateRetrying State = "retrying"
	// StateFailed: failed for good (permanent error or retries exhausted).
	StateFailed State = "failed"
	// StateArchived: finished and archived; may be restored to ready.
	StateArchived State = "archived"
	// StateDeleted: deleted (soft delete; the record is kept for audit).
	StateDeleted State = "deleted"
)

var allStates = []State{
	StateReady, StateLocked, StateInProgress, StateComplete, StateError,
	StateIgnored, StateRetrying, StateFailed, StateArchived, StateDeleted,
}

// States returns every valid state, in lifecycle order. The slice is a copy.
func States() []State { return append([]State(nil), allStates...) }

// Valid reports whether s is one of the deployed states (exact, lower-case spelling).
func (s State) Valid() bool {
	for _, v := range allStates {
		if s == v {
			return true
		}
	}
	return false
}

// String returns the stored spelling of the state.
func (s State) String() string { return string(s) }

// ParseState parses a state case-insensitively ("IN_PROGRESS", "in_progress"),
// ignoring surrounding spaces. Unknown input is an ErrInvalidInput naming the value
// and the valid set.
func ParseState(s string) (State, error) {
	v := State(strings.ToLower(strings.TrimSpace(s)))
	if v.Valid() {
		return v, nil
	}
	return "", invalid("", "unknown state %q (valid: %s)", s, joinStrings(allStates))
}

func joinStrings[T ~string](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}
