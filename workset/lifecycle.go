package workset

import "context"

// Archive, Restore and MarkDeleted record who, why and when in the deployed
// bookkeeping attributes (archived_at, archived_by, archive_reason and
// original_state; restored_at and restored_by; deleted_at, deleted_by and
// delete_reason), on every store that keeps Attributes.

// Archive moves a complete, failed or ignored workset to archived, recording
// who, why and when (the deployed archive_workset).
func Archive(ctx context.Context, s StateStore, id, by, reason string) (*Workset, error) {
	return s.Transition(ctx, TransitionRequest{ID: id, To: StateArchived, Actor: by, Reason: reason})
}

// Restore moves an archived workset back to ready, recording who and when and
// dropping the archive bookkeeping (the deployed restore_workset).
func Restore(ctx context.Context, s StateStore, id, by, reason string) (*Workset, error) {
	return s.Transition(ctx, TransitionRequest{ID: id, To: StateReady, ExpectedState: StateArchived, Actor: by, Reason: reason})
}

// MarkDeleted moves an archived workset to deleted (a soft delete that keeps the
// record), recording who, why and when.
func MarkDeleted(ctx context.Context, s StateStore, id, by, reason string) (*Workset, error) {
	return s.Transition(ctx, TransitionRequest{ID: id, To: StateDeleted, Actor: by, Reason: reason})
}
