package storekit

import (
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// The deployed code keeps bookkeeping attributes on three lifecycle
// operations, and so does every store that keeps Attributes (they stay in
// Workset.Attributes under the deployed names, so records are the same whoever
// wrote them):
//
//	archive  (to archived)                   archived_at, archived_by, archive_reason, original_state
//	delete   (to deleted)                    deleted_at, deleted_by, delete_reason
//	restore  (archived to ready)             restored_at, restored_by; removes archived_at, archived_by, archive_reason
//
// A transition to ready counts as a restore when it names ExpectedState
// archived (Restore does): a store that checks the graph inside its write
// cannot otherwise know, before writing, that the record was archived.

// Names of the lifecycle bookkeeping attributes.
const (
	AttrArchivedAt    = "archived_at"
	AttrArchivedBy    = "archived_by"
	AttrArchiveReason = "archive_reason"
	AttrOriginalState = "original_state"
	AttrDeletedAt     = "deleted_at"
	AttrDeletedBy     = "deleted_by"
	AttrDeleteReason  = "delete_reason"
	AttrRestoredAt    = "restored_at"
	AttrRestoredBy    = "restored_by"
)

// LifecycleUpdate returns the bookkeeping attributes req sets at now and those
// it removes. Archiving also sets AttrOriginalState to the state left, which
// the store supplies (it is not known before the write).
func LifecycleUpdate(req workset.TransitionRequest, now time.Time) (set map[string]string, remove []string) {
	at := FormatTime(now)
	put := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] != "" {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	switch {
	case req.To == workset.StateArchived:
		return put(AttrArchivedAt, at, AttrArchivedBy, req.Actor, AttrArchiveReason, req.Reason), nil
	case req.To == workset.StateDeleted:
		return put(AttrDeletedAt, at, AttrDeletedBy, req.Actor, AttrDeleteReason, req.Reason), nil
	case IsRestore(req):
		return put(AttrRestoredAt, at, AttrRestoredBy, req.Actor), []string{AttrArchivedAt, AttrArchivedBy, AttrArchiveReason}
	}
	return nil, nil
}

// ClearedOnSuccess says which retry fields a transition to complete clears,
// on every store: the retry count and time, the failed step and the error
// category (the history keeps the failures; ErrorDetails, a metadata field,
// stays, as every optional field does). A field the request itself sets is
// kept. The names are the stored attributes.
func ClearedOnSuccess(req workset.TransitionRequest) []string {
	if req.To != workset.StateComplete {
		return nil
	}
	var out []string
	if req.Retry == nil {
		out = append(out, "retry_count", "retry_after")
	}
	for name, v := range map[string]string{"failed_step": req.FailedStep, "error_category": string(req.ErrorCategory)} {
		if v == "" {
			out = append(out, name)
		}
	}
	return out
}

// applyLifecycle applies LifecycleUpdate to w (whose State is still the one left).
func applyLifecycle(w *workset.Workset, req workset.TransitionRequest, now time.Time) {
	set, remove := LifecycleUpdate(req, now)
	if len(set) == 0 && len(remove) == 0 {
		return
	}
	if w.Attributes == nil {
		w.Attributes = map[string]any{}
	}
	for k, v := range set {
		w.Attributes[k] = v
	}
	if req.To == workset.StateArchived {
		w.Attributes[AttrOriginalState] = string(w.State)
	}
	for _, k := range remove {
		delete(w.Attributes, k)
	}
}
