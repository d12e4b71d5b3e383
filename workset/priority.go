package workset

import (
	"strings"
)

// Priority orders worksets in the ready queue. Values are the deployed strings.
type Priority string

// The priorities, in dispatch order.
const (
	PriorityUrgent Priority = "urgent" // dispatched first
	PriorityNormal Priority = "normal" // the default
	PriorityLow    Priority = "low"    // dispatched last
)

var allPriorities = []Priority{PriorityUrgent, PriorityNormal, PriorityLow}

// Priorities returns the priorities in dispatch order: urgent, normal, low.
func Priorities() []Priority { return append([]Priority(nil), allPriorities...) }

// Valid reports whether p is one of the deployed priorities.
func (p Priority) Valid() bool { return p.Rank() >= 0 }

// Rank is p's position in dispatch order (0 is dispatched first), or -1 if p is
// not a valid priority.
func (p Priority) Rank() int {
	for i, v := range allPriorities {
		if p == v {
			return i
		}
	}
	return -1
}

// String returns the stored spelling of the priority.
func (p Priority) String() string { return string(p) }

// ParsePriority parses a priority case-insensitively. Unknown input is an
// ErrInvalidInput naming the value and the valid set.
func ParsePriority(s string) (Priority, error) {
	v := Priority(strings.ToLower(strings.TrimSpace(s)))
	if v.Valid() {
		return v, nil
	}
	return "", invalid("", "unknown priority %q (valid: %s)", s, joinStrings(allPriorities))
}
