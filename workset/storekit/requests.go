package storekit

import (
	"strings"

	"github.com/daylily-informatics/worksetstate/internal/schema"
	"github.com/daylily-informatics/worksetstate/internal/valuemodel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// NormalizeRegister validates r and fills in defaults. Stores call it first
// in Register; so may callers that want a request refused before any call.
func NormalizeRegister(r *workset.RegisterRequest) error {
	if err := workset.ValidateID(r.ID); err != nil {
		return err
	}
	if r.Priority == "" {
		r.Priority = workset.PriorityNormal
	}
	if !r.Priority.Valid() {
		return invalid(r.ID, "unknown priority %q (valid: %s)", r.Priority, joinStrings(workset.Priorities()))
	}
	if r.Reason == "" {
		r.Reason = DefaultRegisterReason
	}
	r.Reason = Truncate(r.Reason, workset.MaxReason)
	for k := range r.Attributes {
		if schema.IsModeled(k) {
			return invalid(r.ID, "attribute %q is managed by the SDK and cannot be set as an extra attribute", k)
		}
	}
	return normalizeFields(r.ID, map[string]*map[string]any{"metadata": &r.Metadata, "attributes": &r.Attributes})
}

// NormalizeTransition validates r. Stores call it first in Transition.
func NormalizeTransition(r *workset.TransitionRequest) error {
	if err := workset.ValidateID(r.ID); err != nil {
		return err
	}
	if !r.To.Valid() {
		return invalid(r.ID, "unknown target state %q (valid: %s)", r.To, joinStrings(workset.States()))
	}
	if r.ExpectedState != "" && !r.ExpectedState.Valid() {
		return invalid(r.ID, "unknown expected state %q", r.ExpectedState)
	}
	if r.ExpectedVersion < 0 {
		return invalid(r.ID, "negative expected version %d", r.ExpectedVersion)
	}
	if !r.ErrorCategory.Valid() {
		return invalid(r.ID, "unknown error category %q", r.ErrorCategory)
	}
	if r.Retry != nil && r.Retry.Count < 0 {
		return invalid(r.ID, "negative retry count %d", r.Retry.Count)
	}
	if r.Lease != nil && (r.Lease.WorksetID != r.ID || r.Lease.Owner == "") {
		return invalid(r.ID, "lease is for workset %q owner %q", r.Lease.WorksetID, r.Lease.Owner)
	}
	r.Reason, r.FailedStep = Truncate(r.Reason, workset.MaxReason), Truncate(r.FailedStep, workset.MaxReason)
	r.ErrorDetails = Truncate(r.ErrorDetails, workset.MaxErrorDetails)
	return normalizeFields(r.ID, map[string]*map[string]any{"metrics": &r.Metrics})
}

// NormalizeList validates q and fills in the default page size. Stores call
// it first in List.
func NormalizeList(q *workset.ListQuery) error {
	if q.State != "" && !q.State.Valid() {
		return invalid("", "unknown state %q in list query (valid: %s)", q.State, joinStrings(workset.States()))
	}
	if q.Priority != "" && !q.Priority.Valid() {
		return invalid("", "unknown priority %q in list query (valid: %s)", q.Priority, joinStrings(workset.Priorities()))
	}
	if q.Customer != "" && strings.TrimSpace(q.Customer) != q.Customer {
		return invalid("", "customer %q in list query has surrounding whitespace", q.Customer)
	}
	switch {
	case q.Limit < 0:
		return invalid("", "negative list limit %d", q.Limit)
	case q.Limit == 0:
		q.Limit = workset.DefaultPageSize
	case q.Limit > workset.MaxPageSize:
		q.Limit = workset.MaxPageSize
	}
	return nil
}

// ReadState interprets a state read from storage: a known state, in any case,
// is normalised; anything else is kept exactly as written (Valid reports false).
// A later deployed version writes states this SDK does not model (canceled, for
// one): such a record stays readable and listable, is never dispatched (no lease,
// no unforced transition), and a forced transition moves it on and says so in
// its history.
func ReadState(s string) workset.State {
	if v, err := workset.ParseState(s); err == nil {
		return v
	}
	return workset.State(s)
}

// IsRestore reports whether req restores an archived workset (to ready, with
// ExpectedState archived). A store or wrapper that passes the request on keeps
// that ExpectedState, so the restore bookkeeping is written everywhere.
func IsRestore(req workset.TransitionRequest) bool {
	return req.To == workset.StateReady && req.ExpectedState == workset.StateArchived
}

// normalizeFields normalises the value-model fields of one request in place.
func normalizeFields(id string, fields map[string]*map[string]any) error {
	if err := valuemodel.NormalizeFields(fields); err != nil {
		return invalid(id, "%v", err)
	}
	return nil
}

func joinStrings[T ~string](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = string(v)
	}
	return strings.Join(parts, ", ")
}
