package workset

import (
	"fmt"
	"time"
)

// The functions in this file are the single statement of the contract's rules.
// Stores that read a record and then write it under a lock or a compare-and-swap
// (memstore, the sentinel store) call them directly; stores that check inside a
// conditional write (DynamoDB) call them to explain a refused condition.

// CheckTransition reports why req may not be applied to w at now, or nil. The
// order of checks decides which error a caller sees when several apply: lease
// fencing, then a live lease held by someone else, then expected version and
// state, then the transition graph.
func CheckTransition(w *Workset, req TransitionRequest, now time.Time, skew time.Duration) error {
	if req.Lease != nil {
		if err := CheckLeaseCurrent(w, *req.Lease); err != nil {
			return err
		}
	} else if !req.Force && w.Lease != nil && !w.Lease.Expired(now, skew) {
		return &LockHeldError{ID: w.ID, Owner: w.Lease.Owner, ExpiresAt: w.Lease.ExpiresAt}
	}
	if req.ExpectedVersion != 0 && req.ExpectedVersion != w.Version {
		return &ConflictError{ID: w.ID, Reason: fmt.Sprintf("expected version %d, found %d", req.ExpectedVersion, w.Version)}
	}
	if req.ExpectedState != "" && req.ExpectedState != w.State {
		return &ConflictError{ID: w.ID, Reason: fmt.Sprintf("expected state %s, found %s", req.ExpectedState, w.State)}
	}
	if !req.Force && !CanTransition(w.State, req.To) {
		return &TransitionError{ID: w.ID, From: w.State, To: req.To}
	}
	return nil
}

// CheckLeaseCurrent reports ErrLeaseLost unless l is w's current lease (same owner
// and fencing token). Expiry alone does not make a lease lost: only a takeover or
// a release does.
func CheckLeaseCurrent(w *Workset, l Lease) error {
	if w.Lease == nil || w.Lease.Owner != l.Owner || w.Lease.Token != l.Token {
		holder := "no one"
		if w.Lease != nil {
			holder = fmt.Sprintf("%q (token %d)", w.Lease.Owner, w.Lease.Token)
		}
		return fmt.Errorf("%w: workset %s: lease of %q (token %d) is not current; held by %s", ErrLeaseLost, w.ID, l.Owner, l.Token, holder)
	}
	return nil
}

// AcquireDecision says how an acquisition proceeds.
type AcquireDecision int

const (
	// AcquireNew: no lease is held; a new one is issued with the next token.
	AcquireNew AcquireDecision = iota
	// AcquireExtend: owner already holds a live lease; it is extended, same token.
	AcquireExtend
	// AcquireTakeover: another owner's lease expired; a new lease replaces it.
	AcquireTakeover
)

// CheckAcquire decides whether owner may acquire a lease on w at now, and how.
func CheckAcquire(w *Workset, owner string, now time.Time, skew time.Duration) (AcquireDecision, error) {
	if w.Lease != nil {
		switch {
		case w.Lease.Expired(now, skew):
			return AcquireTakeover, nil
		case w.Lease.Owner == owner:
			return AcquireExtend, nil
		default:
			return 0, &LockHeldError{ID: w.ID, Owner: w.Lease.Owner, ExpiresAt: w.Lease.ExpiresAt}
		}
	}
	if !IsLeasable(w.State) {
		return 0, fmt.Errorf("%w: workset %s is %s; a lease can be acquired only in %s (or over an expired lease)",
			ErrInvalidTransition, w.ID, w.State, joinStrings(LeasableStates()))
	}
	return AcquireNew, nil
}

// ApplyTransition applies an accepted req to w at now: state, optional fields,
// version, updated time and a history entry. Call CheckTransition first.
func ApplyTransition(w *Workset, req TransitionRequest, now time.Time) {
	applyLifecycle(w, req, now)
	w.State = req.To
	w.UpdatedAt = now
	w.Version++
	if req.ErrorDetails != "" {
		w.ErrorDetails = req.ErrorDetails
	}
	if req.ErrorCategory != "" {
		w.ErrorCategory = req.ErrorCategory
	}
	if req.ClusterName != "" {
		w.ClusterName = req.ClusterName
	}
	if req.Metrics != nil {
		w.Metrics = CloneMap(req.Metrics)
	}
	if req.FailedStep != "" {
		w.FailedStep = req.FailedStep
	}
	if req.Retry != nil {
		w.RetryCount, w.RetryAfter = req.Retry.Count, TruncateTime(req.Retry.After)
	}
	w.History = append(w.History, HistoryEntryFor(req, now))
}

// HistoryEntryFor is the history entry a transition appends.
func HistoryEntryFor(req TransitionRequest, now time.Time) HistoryEntry {
	return HistoryEntry{State: req.To, Timestamp: now, Reason: req.Reason, ErrorCategory: req.ErrorCategory, Forced: req.Force}
}

// NewWorkset builds the record Register stores for a normalized request.
func NewWorkset(req RegisterRequest, now time.Time) *Workset {
	return &Workset{
		ID: req.ID, State: StateReady, Priority: req.Priority, Bucket: req.Bucket, Prefix: req.Prefix,
		CreatedAt: now, UpdatedAt: now, Metadata: CloneMap(req.Metadata), Attributes: CloneMap(req.Attributes),
		History: []HistoryEntry{{State: StateReady, Timestamp: now, Reason: req.Reason}},
		Version: 1,
	}
}

// TruncateTime rounds t to the microsecond, the precision stores keep.
func TruncateTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ValidateImport checks an ImportRequest.
func ValidateImport(req ImportRequest) error {
	w := req.Workset
	if w == nil {
		return invalid("import: nil workset")
	}
	if err := ValidateID(w.ID); err != nil {
		return err
	}
	if !w.State.Valid() {
		return invalid("workset %s: unknown state %q", w.ID, w.State)
	}
	if w.Priority != "" && !w.Priority.Valid() {
		return invalid("workset %s: unknown priority %q", w.ID, w.Priority)
	}
	if req.ExpectedVersion < 0 {
		return invalid("workset %s: negative expected version %d", w.ID, req.ExpectedVersion)
	}
	if req.ExpectedState != "" && !req.ExpectedState.Valid() {
		return invalid("workset %s: unknown expected state %q", w.ID, req.ExpectedState)
	}
	for k := range w.Attributes {
		if IsModeledAttribute(k) {
			return invalid("workset %s: attribute %q is managed by the SDK and cannot be set as an extra attribute", w.ID, k)
		}
	}
	// Checked on copies: the caller's record is not changed.
	md, mt, at := w.Metadata, w.Metrics, w.Attributes
	return normalizeFields(w.ID, map[string]*map[string]any{"metadata": &md, "metrics": &mt, "attributes": &at})
}

// CheckImportReplace reports ErrConflict unless cur is still what req expects.
func CheckImportReplace(cur *Workset, req ImportRequest) error {
	if req.ExpectedVersion != 0 && cur.Version != req.ExpectedVersion {
		return &ConflictError{ID: cur.ID, Reason: fmt.Sprintf("expected version %d, found %d", req.ExpectedVersion, cur.Version)}
	}
	if req.ExpectedState != "" && cur.State != req.ExpectedState {
		return &ConflictError{ID: cur.ID, Reason: fmt.Sprintf("expected state %s, found %s", req.ExpectedState, cur.State)}
	}
	return nil
}

// PrepareImport fills defaults into a record about to be imported at now and
// appends the forced history entry for reason, if any.
func PrepareImport(w *Workset, reason string, now time.Time) {
	// ValidateImport accepted these: this only normalises them (numbers as float64).
	_ = normalizeFields(w.ID, map[string]*map[string]any{"metadata": &w.Metadata, "metrics": &w.Metrics, "attributes": &w.Attributes})
	if w.Priority == "" {
		w.Priority = PriorityNormal
	}
	if w.CreatedAt.IsZero() {
		w.CreatedAt = now
	}
	if w.UpdatedAt.IsZero() {
		w.UpdatedAt = now
	}
	w.CreatedAt, w.UpdatedAt = TruncateTime(w.CreatedAt), TruncateTime(w.UpdatedAt)
	for i := range w.History {
		w.History[i].Timestamp = TruncateTime(w.History[i].Timestamp)
	}
	if reason != "" {
		w.History = append(w.History, HistoryEntry{State: w.State, Timestamp: now, Reason: reason, Forced: true})
		w.UpdatedAt = now
	}
}
