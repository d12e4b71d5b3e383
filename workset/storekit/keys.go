package storekit

import (
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// The idempotency-key bookkeeping a read-decide-write store does (memstore
// does exactly this). The store keeps, beside each record, the key of the
// write that made its state what it is (*lastKey; "" for a write without
// one); lease writes leave it as it is. A request carrying that key again is
// a retry of the write that applied: the helpers report it (retry true) and
// change nothing, so the store answers with the record as it is. A different
// key, or none, is a new request. The key is checked before the graph, so a
// retried forced move does not apply twice.

// KeyedTransition applies req to w unless it retries the write that made w
// what it is: CheckTransition, ApplyTransition, and *lastKey set to the
// request's key.
func KeyedTransition(w *workset.Workset, lastKey *string, req workset.TransitionRequest, now time.Time, skew time.Duration) (retry bool, err error) {
	if req.IdempotencyKey != "" && *lastKey == req.IdempotencyKey {
		return true, nil
	}
	if err := CheckTransition(w, req, now, skew); err != nil {
		return false, err
	}
	ApplyTransition(w, req, now)
	*lastKey = req.IdempotencyKey
	return false, nil
}

// KeyedClaim applies a claim to w unless it retries the claim that made w
// what it is (same key, and the claimant still holds the lease): CheckClaim,
// ApplyClaim, and *lastKey set to the request's key.
func KeyedClaim(w *workset.Workset, lastKey *string, req workset.ClaimRequest, now time.Time, skew time.Duration) (retry bool, err error) {
	if req.IdempotencyKey != "" && *lastKey == req.IdempotencyKey && w.Lease != nil && w.Lease.Owner == req.Owner {
		return true, nil
	}
	if err := CheckClaim(w, req.Owner, now, skew); err != nil {
		return false, err
	}
	ApplyClaim(w, req, now)
	*lastKey = req.IdempotencyKey
	return false, nil
}

// NormalizeNote checks a note's arguments and bounds its reason
// (workset.MaxReason); a blank reason is refused.
func NormalizeNote(id string, reason *string) error {
	if err := workset.ValidateID(id); err != nil {
		return err
	}
	r := strings.TrimSpace(*reason)
	if r == "" {
		return invalid(id, "a note needs a reason")
	}
	*reason = Truncate(r, workset.MaxReason)
	return nil
}

// NoteEntry is the history entry a note appends: the current state, now,
// the reason.
func NoteEntry(w *workset.Workset, reason string, now time.Time) workset.HistoryEntry {
	return workset.HistoryEntry{State: w.State, Timestamp: now, Reason: reason}
}

// ApplyNote appends a note to w's history and counts the write; nothing else
// changes (workset.Noter).
func ApplyNote(w *workset.Workset, reason string, now time.Time) {
	w.History = append(w.History, NoteEntry(w, reason, now))
	countWrite(w, now)
}
