package sentinel

import (
	"fmt"
	"slices"
	"strings"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Naming says which object name stands for each state and which wins when
// several are present.
type Naming struct {
	// Names maps every state to the object name of its sentinel, directly under
	// the workset prefix. The name for StateLocked is also the lock (lease) object.
	Names map[workset.State]string
	// Precedence lists every state, highest first: when several sentinels are
	// present, the highest decides the state.
	Precedence []workset.State
	// LegacyMarkers maps a state legacy readers do not know to the state whose
	// sentinel makes them do the right thing; a transition to the state also
	// makes sure the marker's sentinel exists (it ranks lower, so this store
	// still reads the state itself). The presets:
	//
	//	daylily  retrying -> in_progress (the legacy monitor skips it: never
	//	         dispatched before its retry time)
	//	         failed   -> error (shown as an error, restarted only on request)
	//	guide    failed   -> error
	//
	// The guide's reader has no in_progress state at all, so nothing written
	// keeps it from reading a retrying workset as ready; run guide-convention
	// legacy monitors only until the DualWriter's phase 1 begins.
	LegacyMarkers map[workset.State]workset.State
	// NoSentinel is what the convention's own reader makes of a folder with
	// no sentinel, the store's default (Options.NoSentinel): the guide's reader
	// takes it as ready, the daylily monitor skips it.
	NoSentinel NoSentinel
}

// GuideNaming is the migration guide's convention: _READY, _LOCKED,
// _IN_PROGRESS, _COMPLETE, _ERROR, and "_" + the upper-cased value for the other
// states. Precedence keeps the guide's COMPLETE > ERROR > LOCKED > READY and
// places the states it does not know around them.
func GuideNaming() Naming {
	names := make(map[workset.State]string)
	for _, s := range workset.States() {
		names[s] = "_" + strings.ToUpper(string(s))
	}
	return Naming{Names: names, Precedence: []workset.State{
		workset.StateDeleted, workset.StateArchived, workset.StateComplete, workset.StateFailed,
		workset.StateIgnored, workset.StateError, workset.StateRetrying, workset.StateInProgress,
		workset.StateLocked, workset.StateReady,
	}, LegacyMarkers: map[workset.State]workset.State{workset.StateFailed: workset.StateError}, NoSentinel: NoSentinelReady}
}

// DaylilyNaming is the legacy monitor's convention: daylily.ready, daylily.lock,
// daylily.in_progress, daylily.error, daylily.complete, daylily.ignore, and
// "daylily." + the value for the states the monitor did not know. Precedence
// keeps the monitor's ignore > error > complete > in_progress > lock > ready.
func DaylilyNaming() Naming {
	names := make(map[workset.State]string)
	for _, s := range workset.States() {
		names[s] = "daylily." + string(s)
	}
	names[workset.StateLocked] = "daylily.lock"
	names[workset.StateIgnored] = "daylily.ignore"
	return Naming{Names: names, Precedence: []workset.State{
		workset.StateDeleted, workset.StateArchived, workset.StateIgnored, workset.StateFailed,
		workset.StateError, workset.StateComplete, workset.StateRetrying, workset.StateInProgress,
		workset.StateLocked, workset.StateReady,
	}, LegacyMarkers: map[workset.State]workset.State{workset.StateRetrying: workset.StateInProgress, workset.StateFailed: workset.StateError}, NoSentinel: NoSentinelSkip}
}

// NamingByName returns a preset: "guide" or "daylily".
func NamingByName(name string) (Naming, error) {
	switch strings.ToLower(name) {
	case "guide":
		return GuideNaming(), nil
	case "daylily", "monitor":
		return DaylilyNaming(), nil
	}
	return Naming{}, fmt.Errorf("%w: unknown sentinel naming %q (valid: guide, daylily)", workset.ErrInvalidInput, name)
}

// Validate checks that every state has a distinct, plain name and that the
// precedence ranks every state once.
func (n Naming) Validate() error {
	seen := map[string]workset.State{}
	for _, s := range workset.States() {
		name := n.Names[s]
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return fmt.Errorf("%w: sentinel name %q for state %s", workset.ErrInvalidInput, name, s)
		}
		if other, dup := seen[name]; dup {
			return fmt.Errorf("%w: sentinel name %q used for both %s and %s", workset.ErrInvalidInput, name, other, s)
		}
		seen[name] = s
	}
	if len(n.Precedence) != len(workset.States()) {
		return fmt.Errorf("%w: precedence must rank all %d states once", workset.ErrInvalidInput, len(workset.States()))
	}
	for _, s := range workset.States() {
		if !slices.Contains(n.Precedence, s) {
			return fmt.Errorf("%w: precedence does not rank state %s", workset.ErrInvalidInput, s)
		}
	}
	for st, m := range n.LegacyMarkers {
		if !st.Valid() || !m.Valid() || m == workset.StateLocked || n.rank(m) <= n.rank(st) {
			return fmt.Errorf("%w: legacy marker %s for %s must be a state ranked below it (and not the lock)", workset.ErrInvalidInput, m, st)
		}
	}
	return nil
}

// rank is a state's position in the precedence (0 is highest).
func (n Naming) rank(s workset.State) int { return slices.Index(n.Precedence, s) }

// stateOf returns the state a sentinel name stands for.
func (n Naming) stateOf(name string) (workset.State, bool) {
	for s, v := range n.Names {
		if v == name {
			return s, true
		}
	}
	return "", false
}

// NoSentinel says what a workset prefix with no sentinel is.
type NoSentinel int

const (
	// NoSentinelDefault: what the naming's own reader does (Naming.NoSentinel:
	// ready for GuideNaming, skip for DaylilyNaming and namings of your own).
	NoSentinelDefault NoSentinel = iota
	// NoSentinelSkip: not a workset (the legacy monitor's rule).
	NoSentinelSkip
	// NoSentinelReady: a ready workset (the guide's rule).
	NoSentinelReady
)

// ParseNoSentinel parses "skip", "ready", or "" (NoSentinelDefault).
func ParseNoSentinel(s string) (NoSentinel, error) {
	switch strings.ToLower(s) {
	case "", "default":
		return NoSentinelDefault, nil
	case "skip":
		return NoSentinelSkip, nil
	case "ready":
		return NoSentinelReady, nil
	}
	return 0, fmt.Errorf("%w: unknown no-sentinel policy %q (valid: ready, skip)", workset.ErrInvalidInput, s)
}
