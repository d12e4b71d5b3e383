package storekit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/daylily-informatics/worksetstate/internal/schema"
	"github.com/daylily-informatics/worksetstate/internal/valuemodel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// The functions in this file are the single statement of the contract's rules.
// Stores that read a record and then write it under a lock or a compare-and-swap
// (memstore, the sentinel store) call them directly; stores that check inside a
// conditional write (DynamoDB) call them to explain a refused condition.

// CheckTransition reports why req may not be applied to w at now, or nil. The
// order of checks decides which error a caller sees when several apply: lease
// fencing, then a live lease held by someone else, then expected version and
// state, then the transition graph.
func CheckTransition(w *workset.Workset, req workset.TransitionRequest, now time.Time, skew time.Duration) error {
	if req.Lease != nil {
		if err := CheckLeaseCurrent(w, *req.Lease); err != nil {
			return err
		}
	} else if !req.Force && w.Lease != nil && !w.Lease.Expired(now, skew) {
		return &workset.LeaseHeldError{ID: w.ID, Owner: w.Lease.Owner, ExpiresAt: w.Lease.ExpiresAt}
	}
	if req.ExpectedVersion != 0 && req.ExpectedVersion != w.Version {
		return &workset.Error{ID: w.ID, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected version %d, found %d", req.ExpectedVersion, w.Version)}
	}
	if req.ExpectedState != "" && req.ExpectedState != w.State {
		return &workset.Error{ID: w.ID, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected state %s, found %s", req.ExpectedState, w.State)}
	}
	if !req.Force && !workset.CanTransition(w.State, req.To) {
		return &workset.TransitionError{ID: w.ID, From: w.State, To: req.To}
	}
	return nil
}

// CheckLeaseCurrent reports ErrLeaseLost unless l is w's current lease (same owner
// and fencing token). Expiry alone does not make a lease lost: only a takeover or
// a release does.
func CheckLeaseCurrent(w *workset.Workset, l workset.Lease) error {
	if w.Lease == nil || w.Lease.Owner != l.Owner || w.Lease.Token != l.Token {
		holder := "no one"
		if w.Lease != nil {
			holder = fmt.Sprintf("%q (token %d)", w.Lease.Owner, w.Lease.Token)
		}
		return &workset.Error{ID: w.ID, Kind: workset.ErrLeaseLost,
			Detail: fmt.Sprintf("lease of %q (token %d) is not current; held by %s", l.Owner, l.Token, holder)}
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
// An expired lease is taken over, except on a workset another tool works on
// (w.ForeignWork): its worker gives no liveness signal, so an expired lock
// there proves nothing, and the takeover is refused with ErrNotLeasable.
func CheckAcquire(w *workset.Workset, owner string, now time.Time, skew time.Duration) (AcquireDecision, error) {
	if w.Lease != nil {
		switch {
		case w.Lease.Expired(now, skew) && w.ForeignWork():
			return 0, ForeignWork(w)
		case w.Lease.Expired(now, skew):
			return AcquireTakeover, nil
		case w.Lease.Owner == owner:
			return AcquireExtend, nil
		default:
			return 0, &workset.LeaseHeldError{ID: w.ID, Owner: w.Lease.Owner, ExpiresAt: w.Lease.ExpiresAt}
		}
	}
	if !workset.IsLeasable(w.State) {
		return 0, NotLeasable(w.ID, w.State)
	}
	return AcquireNew, nil
}

// ForeignWork is the ErrNotLeasable of a workset another tool works on
// (w.ForeignWork).
func ForeignWork(w *workset.Workset) error {
	who := "another tool"
	if w.Lease != nil && w.Lease.Foreign() {
		who = fmt.Sprintf("%q", w.Lease.Owner)
	}
	return &workset.Error{ID: w.ID, Kind: workset.ErrNotLeasable,
		Detail: fmt.Sprintf("it is %s by %s, which gives no liveness signal and may still be running it; hand it back explicitly (a transition) once you know it stopped", w.State, who)}
}

// NotLeasable is the ErrNotLeasable of a workset in state s.
func NotLeasable(id string, s workset.State) error {
	names := make([]string, 0, 2)
	for _, l := range workset.LeasableStates() {
		names = append(names, string(l))
	}
	return &workset.Error{ID: id, Kind: workset.ErrNotLeasable,
		Detail: fmt.Sprintf("it is %s; a lease can be acquired only in %s (or over an expired lease)", s, strings.Join(names, ", "))}
}

// ApplyTransition applies an accepted req to w at now: state, optional fields,
// lifecycle bookkeeping, version, updated time and a history entry. Call
// CheckTransition first.
func ApplyTransition(w *workset.Workset, req workset.TransitionRequest, now time.Time) {
	applyLifecycle(w, req, now)
	if req.To == workset.StateComplete { // see ClearedOnSuccess
		w.RetryCount, w.RetryAfter, w.FailedStep, w.ErrorCategory = 0, time.Time{}, "", ""
	}
	w.State = req.To
	w.Foreign = false
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
		w.Metrics = valuemodel.CloneMap(req.Metrics)
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
func HistoryEntryFor(req workset.TransitionRequest, now time.Time) workset.HistoryEntry {
	return workset.HistoryEntry{State: req.To, Timestamp: now, Reason: req.Reason, ErrorCategory: req.ErrorCategory, Forced: req.Force}
}

// NewWorkset builds the record Register stores for a normalized request.
func NewWorkset(req workset.RegisterRequest, now time.Time) *workset.Workset {
	return &workset.Workset{
		ID: req.ID, State: workset.StateReady, Priority: req.Priority, Bucket: req.Bucket, Prefix: req.Prefix,
		CreatedAt: now, UpdatedAt: now, Metadata: valuemodel.CloneMap(req.Metadata), Attributes: valuemodel.CloneMap(req.Attributes),
		History: []workset.HistoryEntry{{State: workset.StateReady, Timestamp: now, Reason: req.Reason}},
		Version: 1,
	}
}

// TruncateTime rounds t to the microsecond, the precision stores keep.
func TruncateTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// ValidateLeaseRequest checks the arguments of AcquireLease and RenewLease.
func ValidateLeaseRequest(id, owner string, ttl time.Duration) error {
	if err := workset.ValidateID(id); err != nil {
		return err
	}
	switch {
	case owner == "":
		return invalid(id, "lease owner is empty")
	case len(owner) > 1024:
		return invalid(id, "lease owner is %d bytes long (max 1024)", len(owner))
	case ttl <= 0:
		return invalid(id, "lease duration %v is not positive", ttl)
	}
	return nil
}

// ValidateImport checks an ImportRequest.
func ValidateImport(req workset.ImportRequest) error {
	w := req.Workset
	if w == nil {
		return invalid("", "import: nil workset")
	}
	if err := workset.ValidateID(w.ID); err != nil {
		return err
	}
	switch {
	case !w.State.Valid():
		return invalid(w.ID, "unknown state %q", w.State)
	case w.Priority != "" && !w.Priority.Valid():
		return invalid(w.ID, "unknown priority %q", w.Priority)
	case req.ExpectedVersion < 0:
		return invalid(w.ID, "negative expected version %d", req.ExpectedVersion)
	case req.ExpectedState != "" && !req.ExpectedState.Valid():
		return invalid(w.ID, "unknown expected state %q", req.ExpectedState)
	}
	for k := range w.Attributes {
		if schema.IsModeled(k) {
			return invalid(w.ID, "attribute %q is managed by the SDK and cannot be set as an extra attribute", k)
		}
	}
	// Checked on copies: the caller's record is not changed.
	md, mt, at := w.Metadata, w.Metrics, w.Attributes
	if err := valuemodel.NormalizeFields(map[string]*map[string]any{"metadata": &md, "metrics": &mt, "attributes": &at}); err != nil {
		return invalid(w.ID, "%v", err)
	}
	return nil
}

// CheckImportReplace reports ErrConflict unless cur is still what req expects.
func CheckImportReplace(cur *workset.Workset, req workset.ImportRequest) error {
	if req.ExpectedVersion != 0 && cur.Version != req.ExpectedVersion {
		return &workset.Error{ID: cur.ID, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected version %d, found %d", req.ExpectedVersion, cur.Version)}
	}
	if req.ExpectedState != "" && cur.State != req.ExpectedState {
		return &workset.Error{ID: cur.ID, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected state %s, found %s", req.ExpectedState, cur.State)}
	}
	return nil
}

// PrepareImport fills defaults into a record about to be imported at now and
// appends the forced history entry for reason, if any. Call ValidateImport first.
func PrepareImport(w *workset.Workset, reason string, now time.Time) {
	// ValidateImport accepted these: this only normalises them (numbers as float64).
	_ = valuemodel.NormalizeFields(map[string]*map[string]any{"metadata": &w.Metadata, "metrics": &w.Metrics, "attributes": &w.Attributes})
	if w.Priority == "" {
		w.Priority = workset.PriorityNormal
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
	w.ErrorDetails, w.FailedStep = Truncate(w.ErrorDetails, workset.MaxErrorDetails), Truncate(w.FailedStep, workset.MaxReason)
	for i := range w.History {
		w.History[i].Reason = Truncate(w.History[i].Reason, workset.MaxReason)
	}
	if reason != "" {
		w.History = append(w.History, workset.HistoryEntry{State: w.State, Timestamp: now, Reason: Truncate(reason, workset.MaxReason), Forced: true})
		w.UpdatedAt = now
	}
}

// AllowedFrom returns the states from which to may be reached. Stores use it to
// put the whole graph check inside a conditional write.
func AllowedFrom(to workset.State) []workset.State {
	var out []workset.State
	for _, from := range workset.States() {
		if workset.CanTransition(from, to) {
			out = append(out, from)
		}
	}
	return out
}

func invalid(id, format string, args ...any) error {
	return &workset.Error{ID: id, Kind: workset.ErrInvalidInput, Detail: fmt.Sprintf(format, args...)}
}

// WrapContextError rewrites *err, when it matches context.Canceled or
// context.DeadlineExceeded, as a *workset.Error of that kind about workset id
// ("" for a call about many): "workset <ID>: context canceled: <cause>". A
// store defers it in every method, so that a canceled call reads the same on
// every store and still matches the context error (and the cause's kind). An
// ErrUnavailable or ErrMisconfigured error that names no workset (a bucket's
// or a client's, which do not know it) is made to name id.
func WrapContextError(err *error, id string) {
	if *err == nil {
		return
	}
	if we, ok := (*err).(*workset.Error); ok && we.ID == "" && id != "" && (we.Kind == workset.ErrUnavailable || we.Kind == workset.ErrMisconfigured) {
		named := *we
		named.ID = id
		*err = &named
		return
	}
	var we *workset.Error
	if errors.As(*err, &we) && (we.Kind == context.Canceled || we.Kind == context.DeadlineExceeded) {
		return
	}
	for _, k := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(*err, k) {
			cause := *err
			if cause == k {
				cause = nil
			}
			*err = &workset.Error{ID: id, Kind: k, Err: cause}
			return
		}
	}
}

// ImportID is the ID of the record an import writes ("" when there is none),
// for WrapContextError.
func ImportID(req workset.ImportRequest) string {
	if req.Workset == nil {
		return ""
	}
	return req.Workset.ID
}

// DefaultClaimReason is the history reason of a claim without one.
func DefaultClaimReason(owner string) string { return "claimed by " + owner }

// NormalizeClaim validates req and fills in the default reason.
func NormalizeClaim(req *workset.ClaimRequest) error {
	if err := ValidateLeaseRequest(req.ID, req.Owner, req.TTL); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = DefaultClaimReason(req.Owner)
	}
	req.Reason = Truncate(req.Reason, workset.MaxReason)
	return nil
}

// Truncate bounds s to max bytes as every store does (see
// workset.MaxErrorDetails): cut at a UTF-8 boundary, ending in
// " …[truncated N bytes]".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	marker := func(n int) string { return fmt.Sprintf(" …[truncated %d bytes]", n) }
	cut := max - len(marker(len(s)))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker(len(s)-cut)
}

// CheckClaim reports why owner may not claim w at now, or nil: another
// owner's live lease (ErrLeaseHeld), or a state outside the queue
// (ErrNotLeasable). An expired lease, or owner's own, does not stand in the way.
func CheckClaim(w *workset.Workset, owner string, now time.Time, skew time.Duration) error {
	if w.Lease != nil && !w.Lease.Expired(now, skew) && w.Lease.Owner != owner {
		return &workset.LeaseHeldError{ID: w.ID, Owner: w.Lease.Owner, ExpiresAt: w.Lease.ExpiresAt}
	}
	if !workset.IsLeasable(w.State) {
		return NotLeasable(w.ID, w.State)
	}
	return nil
}

// ApplyClaim applies an accepted (normalized) claim to w at now: a new lease
// with the next fencing token, and the transition to in_progress. Call
// CheckClaim first.
func ApplyClaim(w *workset.Workset, req workset.ClaimRequest, now time.Time) {
	w.FencingToken++
	w.Lease = &workset.Lease{WorksetID: w.ID, Owner: req.Owner, Token: w.FencingToken, AcquiredAt: now, ExpiresAt: now.Add(req.TTL)}
	ApplyTransition(w, ClaimTransition(req), now)
}

// ClaimTransition is the transition a claim makes.
func ClaimTransition(req workset.ClaimRequest) workset.TransitionRequest {
	return workset.TransitionRequest{ID: req.ID, To: workset.StateInProgress, Reason: req.Reason, IdempotencyKey: req.IdempotencyKey}
}
