package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/daylily-informatics/worksetstate/workset"
)

// applyOne makes the destination match one difference.
func (m *Migrator) applyOne(ctx context.Context, d Difference) (Outcome, error) {
	imp, ok := m.dst.(workset.Importer)
	if !ok || !workset.Has[workset.Importer](m.dst) {
		return OutcomeFailed, fmt.Errorf("%w: destination cannot import records (workset.Importer)", workset.ErrUnsupported)
	}
	switch d.Kind {
	case Equal:
		return OutcomeUnchanged, nil
	case MissingInSource:
		return OutcomeSkipped, nil
	case UnreadableInDestination:
		return OutcomeFailed, fmt.Errorf("workset %s: the destination's record cannot be read, so nothing is written over it: %w", d.WorksetID, d.err)
	case MissingInDestination:
		rec := m.record(d.source, true)
		attempts := 0
		err := m.retry(ctx, func() error {
			attempts++
			_, err := imp.Import(ctx, workset.ImportRequest{Workset: rec, IfAbsent: true, Reason: m.opts.Reason})
			return err
		})
		switch {
		case err == nil:
			return OutcomeCreated, nil
		case attempts > 1 && m.landed(ctx, d.source):
			// An earlier attempt whose reply was lost created it.
			return OutcomeCreated, nil
		case errors.Is(err, workset.ErrAlreadyExists):
			return m.conflict(ctx, imp, d, err)
		case m.landed(ctx, d.source):
			return OutcomeCreated, nil // the write failed to answer, but applied
		default:
			return OutcomeFailed, fmt.Errorf("workset %s: creating in the destination: %w", d.WorksetID, err)
		}
	}
	// The records differ: re-read the source (a live monitor may have moved it
	// since the scan), then replace only if the destination is as planned.
	src := d.source
	if err := m.retry(ctx, func() (err error) { src, err = m.src.Get(ctx, d.WorksetID); return err }); err != nil {
		if errors.Is(err, workset.ErrNotFound) {
			return OutcomeSkipped, nil
		}
		return OutcomeFailed, fmt.Errorf("workset %s: re-reading the source: %w", d.WorksetID, err)
	}
	if again := m.compare(src, d.dest); again.Kind == Equal {
		return OutcomeUnchanged, nil
	}
	req := workset.ImportRequest{Workset: m.record(src, false), ExpectedState: d.dest.State, Reason: m.opts.Reason}
	if m.dst.Capabilities().Kept.Versions {
		req.ExpectedVersion = d.dest.Version
	}
	attempts := 0
	err := m.retry(ctx, func() error { attempts++; _, err := imp.Import(ctx, req); return err })
	switch {
	case err == nil:
		return OutcomeUpdated, nil
	case attempts > 1 && m.landed(ctx, src):
		return OutcomeUpdated, nil // an earlier attempt whose reply was lost applied
	case errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrNotFound):
		return m.conflict(ctx, imp, d, err)
	case m.landed(ctx, src):
		return OutcomeUpdated, nil
	default:
		return OutcomeFailed, fmt.Errorf("workset %s: updating the destination: %w", d.WorksetID, err)
	}
}

// landed reports whether the destination now holds what this run writes for
// src: the confirming read before a write is reported failed, or an earlier
// attempt's refusal is read as someone else's doing. A read that fails
// confirms nothing.
func (m *Migrator) landed(ctx context.Context, src *workset.Workset) bool {
	var cur *workset.Workset
	if err := m.retry(ctx, func() (err error) { cur, err = m.dst.Get(ctx, src.ID); return err }); err != nil {
		return false
	}
	return m.compare(src, cur).Kind == Equal
}

// conflict applies the conflict policy to a destination that changed. A
// destination that changed into exactly what this run would write (another
// run, or a rerun, got there first) is no conflict: it is unchanged.
func (m *Migrator) conflict(ctx context.Context, imp workset.Importer, d Difference, cause error) (Outcome, error) {
	if cur, err := m.dst.Get(ctx, d.WorksetID); err == nil && m.compare(d.source, cur).Kind == Equal {
		return OutcomeUnchanged, nil
	}
	switch m.opts.OnConflict {
	case DestinationWins:
		return OutcomeKept, nil
	case SourceWins:
		cur, err := m.dst.Get(ctx, d.WorksetID)
		if err != nil {
			return OutcomeFailed, fmt.Errorf("workset %s: re-reading the destination after a conflict: %w", d.WorksetID, err)
		}
		req := workset.ImportRequest{Workset: m.record(d.source, false), ExpectedState: cur.State, Reason: m.opts.Reason}
		if m.dst.Capabilities().Kept.Versions {
			req.ExpectedVersion = cur.Version
		}
		if _, err := imp.Import(ctx, req); err != nil {
			return OutcomeFailed, fmt.Errorf("workset %s: overwriting after a conflict: %w", d.WorksetID, err)
		}
		return OutcomeUpdated, nil
	default:
		m.opts.Logger.InfoContext(ctx, "conflict: destination changed since the plan", "workset", d.WorksetID, "err", cause)
		return OutcomeConflict, nil
	}
}

// record is the source record as written to the destination: the marker is
// added to new records' metadata, and the lease is never carried.
func (m *Migrator) record(src *workset.Workset, create bool) *workset.Workset {
	w := src.Clone()
	w.Lease, w.Version, w.FencingToken = nil, 0, 0
	if create && len(m.opts.Marker) > 0 {
		if w.Metadata == nil {
			w.Metadata = make(map[string]any, len(m.opts.Marker))
		}
		maps.Copy(w.Metadata, m.opts.Marker)
	}
	return w
}

// Cleanup deletes the source records (for the sentinel store: its sentinel
// objects only, with conditional deletes; never data files) of worksets whose
// destination record is verified equal, with the same bounded concurrency as
// Apply. With dryRun it deletes nothing and reports what it would delete. emit
// (may be nil) sees each difference and its outcome: OutcomeDeleted (or would
// be), OutcomeSkipped for a workset not verified equal or holding a live lease,
// or OutcomeFailed.
func (m *Migrator) Cleanup(ctx context.Context, dryRun bool, emit func(Difference, Outcome) error) (*Result, error) {
	del, ok := m.src.(workset.Deleter)
	if !ok || !workset.Has[workset.Deleter](m.src) {
		return nil, fmt.Errorf("%w: the source cannot delete records (workset.Deleter)", workset.ErrUnsupported)
	}
	c := *m
	c.opts.DetectMissingInSource, c.cleanup = false, true
	return c.run(ctx, func(ctx context.Context, d Difference) (Outcome, error) {
		switch {
		case d.Kind != Equal:
			return OutcomeSkipped, nil
		case d.source.Lease != nil && !d.source.Lease.Expired(m.opts.Clock.Now(), 0):
			return OutcomeSkipped, nil // a monitor is working on it: its lock stays
		case dryRun:
			return OutcomeDeleted, nil
		}
		err := m.retry(ctx, func() error { return del.Delete(ctx, d.WorksetID, 0) })
		switch {
		case err == nil, errors.Is(err, workset.ErrNotFound):
			return OutcomeDeleted, nil
		case errors.Is(err, workset.ErrLeaseHeld), errors.Is(err, workset.ErrConflict):
			// Leased or changed since the plan: left alone, and said so.
			m.opts.Logger.InfoContext(ctx, "cleanup: workset changed since it was verified; left alone", "workset", d.WorksetID, "err", err)
			return OutcomeSkipped, nil
		default:
			return OutcomeFailed, fmt.Errorf("workset %s: deleting from the source: %w", d.WorksetID, err)
		}
	}, withOutcome(emit))
}
