package sentinel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Transition implements workset.StateStore; see the package doc for the order
// of writes. ExpectedVersion is not supported (ErrUnsupported).
func (s *Store) Transition(ctx context.Context, req workset.TransitionRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := storekit.NormalizeTransition(&req); err != nil {
		return nil, err
	}
	if req.ExpectedVersion != 0 {
		return nil, &workset.Error{ID: req.ID, Kind: workset.ErrUnsupported, Detail: fmt.Sprintf("the sentinel store keeps no versions (ExpectedVersion %d)", req.ExpectedVersion)}
	}
	if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		w, err := s.transitionOnce(ctx, req)
		// A lock object that changed between the read and the fenced write
		// may still hold this very lease (a renewal of the holder's that
		// landed late): the lease is not lost, so look again, a few times.
		if errors.Is(err, workset.ErrLeaseLost) && req.Lease != nil && attempt < 3 && ctx.Err() == nil {
			if cur, gerr := s.Get(ctx, req.ID); gerr == nil && storekit.CheckLeaseCurrent(cur, *req.Lease) == nil {
				continue
			}
		}
		// A keyed request refused because the workset changed may have been
		// refused by an earlier attempt of its own that landed late (an
		// abandoned request still reaches S3): look again, a few times.
		if errors.Is(err, workset.ErrConflict) && req.IdempotencyKey != "" {
			if cerr := ctx.Err(); cerr != nil {
				// Out of time to tell: say so, and the caller's retry will.
				return nil, fmt.Errorf("sentinel: transition %s -> %s: %w (a refusal that an earlier attempt of this request may have caused)", req.ID, req.To, cerr)
			}
			if attempt < 3 {
				continue
			}
		}
		return w, err
	}
}

func (s *Store) transitionOnce(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	snap, v, err := s.load(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if !v.exists {
		return nil, notFound(req.ID)
	}
	// A retry of the transition that made the workset what it is reports
	// success. A forced one is checked first (it would apply again); others
	// only when refused, so they cost no extra read.
	err = storekit.CheckTransition(v.w, req, s.now(), s.opts.SkewMargin)
	if (err != nil || req.Force) && req.IdempotencyKey != "" && v.top != "" && s.wroteOp(ctx, snap.sentinels[v.top], req.IdempotencyKey) {
		return s.confirm(ctx, req.ID)
	}
	if err != nil {
		return nil, err
	}
	if err := s.move(ctx, snap, v, req); err != nil {
		return nil, err
	}
	return s.confirm(ctx, req.ID)
}

// confirm reads the record a write just made. The write applied, so the read
// is not cut short by the caller's deadline (it gets its own bounded time).
func (s *Store) confirm(ctx context.Context, id string) (*workset.Workset, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return s.Get(rctx, id)
}

// wroteOp reports whether the sentinel's body carries the idempotency key. It
// confirms an applied write, so the caller's deadline does not cut it short.
func (s *Store) wroteOp(ctx context.Context, obj Object, key string) bool {
	if obj.Size >= 0 && obj.Size < minOwnBody {
		return false
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	data, _, err := s.bucket.Get(rctx, obj.Key)
	return err == nil && ParseContent(data).Op == opKey(key)
}

// move performs an accepted transition in its steps: claim, write the target,
// write the legacy marker, remove the sentinels that mask the target.
func (s *Store) move(ctx context.Context, snap *snapshot, v view, req workset.TransitionRequest) error {
	return s.moveImported(ctx, snap, v, req, false)
}

// moveImported is move whose target is marked foreign when foreign is set
// (an import of another tool's record).
func (s *Store) moveImported(ctx context.Context, snap *snapshot, v view, req workset.TransitionRequest, foreign bool) error {
	if err := s.mark(ctx, snap); err != nil {
		return err
	}
	mv := &mover{s: s, snap: snap, v: v, req: req, now: s.now(), etags: make(map[workset.State]string, len(snap.sentinels)), foreign: foreign}
	for st, o := range snap.sentinels {
		mv.etags[st] = o.ETag
	}
	for _, step := range []func(context.Context) error{mv.claim, mv.writeTarget, mv.writeLegacyMarker, mv.removeMasking} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	s.opts.Logger.DebugContext(ctx, "transition", "workset", req.ID, "from", v.w.State, "to", req.To, "forced", req.Force)
	return nil
}

// mover is one transition in progress: what was read, and the ETags of the
// sentinels as this transition last wrote or read them.
type mover struct {
	s     *Store
	snap  *snapshot
	v     view
	req   workset.TransitionRequest
	now   time.Time
	etags map[workset.State]string
	// foreign marks the target as imported from another tool's record.
	foreign bool
}

// lockBody is the current lease's body (empty when the lock object is a
// legacy monitor's or absent).
func (mv *mover) lockBody() Body {
	if mv.snap.lock != nil && !mv.snap.lock.Legacy {
		return *mv.snap.lock
	}
	return Body{}
}

// claim compare-and-swaps the object every concurrent writer must change: the
// lock object under a lease, else the deciding sentinel.
func (mv *mover) claim(ctx context.Context) error {
	s, req, v, now := mv.s, mv.req, &mv.v, mv.now
	switch {
	case req.Lease != nil:
		b := mv.lockBody()
		b.Next, b.At = string(req.To), now
		etag, err := s.swap(ctx, req.ID, workset.StateLocked, b, mv.etags[workset.StateLocked])
		if err != nil {
			return s.refusal(err, req.ID, workset.ErrLeaseLost, "lease changed while writing")
		}
		mv.etags[workset.StateLocked] = etag
	case v.top == "":
		// The state comes from the no-sentinel policy: make it explicit.
		b, _, err := Body{State: string(v.w.State), At: now, Next: string(req.To)}.encode()
		if err != nil {
			return invalidRecord(req.ID, err)
		}
		etag, err := s.bucket.Create(ctx, s.key(req.ID, v.w.State), b)
		if err != nil {
			return s.refusal(err, req.ID, workset.ErrConflict, "workset changed concurrently")
		}
		mv.etags[v.w.State] = etag
		v.counts = append(v.counts, v.w.State)
		v.top = v.w.State
	default:
		// Another writer's claim on the deciding sentinel means its transition
		// from this very state is in flight: this one lost the race. (Without
		// this read, a writer listing between that claim and its target write
		// could claim on top of it, and both would succeed.)
		if v.top != workset.StateLocked {
			etag, err := s.checkClaim(ctx, req.ID, v.top, mv.snap.sentinels[v.top], now, req.IdempotencyKey)
			if err != nil {
				return err
			}
			mv.etags[v.top] = etag
		}
		b := Body{State: string(v.top), At: now, Next: string(req.To), Op: req.IdempotencyKey}
		if v.top == workset.StateLocked {
			b = mv.lockBody()
			b.Locked, b.Next, b.At = true, string(req.To), now
		}
		etag, err := s.swap(ctx, req.ID, v.top, b, mv.etags[v.top])
		if errors.Is(err, ErrPreconditionFailed) && req.IdempotencyKey != "" && v.top != workset.StateLocked {
			// An earlier attempt of this very request may have landed its claim
			// after this one read the sentinel: if so, claim again over it.
			if fresh, cerr := s.checkClaim(ctx, req.ID, v.top, mv.snap.sentinels[v.top], now, req.IdempotencyKey); cerr == nil {
				etag, err = s.swap(ctx, req.ID, v.top, b, fresh)
			}
		}
		if err != nil {
			return s.refusal(err, req.ID, workset.ErrConflict, "workset changed concurrently")
		}
		mv.etags[v.top] = etag
	}
	return nil
}

// writeTarget writes the target sentinel with the transition's details.
func (mv *mover) writeTarget(ctx context.Context) error {
	s, req, now := mv.s, mv.req, mv.now
	target := Body{State: string(req.To), At: now, Reason: req.Reason, ErrorDetails: req.ErrorDetails, ErrorCategory: string(req.ErrorCategory),
		FailedStep: req.FailedStep, Op: req.IdempotencyKey, Foreign: mv.foreign}
	if req.Retry != nil {
		target.RetryCount, target.RetryAfter = req.Retry.Count, storekit.TruncateTime(req.Retry.After)
	} else if slices.Contains(recordStates, req.To) && mv.snap.record != nil {
		// A move without a retry record keeps the count so far (error after retrying, say).
		target.RetryCount = mv.snap.record.RetryCount
	}
	if req.To == workset.StateLocked {
		if b := mv.lockBody(); b.Owner != "" {
			b.Locked, b.Next, b.At, b.Foreign = true, "", now, mv.foreign
			target = b
		} else {
			target.Locked = true
		}
	}
	if etag, ok := mv.etags[req.To]; ok {
		if _, err := s.swap(ctx, req.ID, req.To, target, etag); err != nil {
			return s.refusal(err, req.ID, workset.ErrConflict, "target sentinel changed concurrently")
		}
		return nil
	}
	data, nonce, err := target.encode()
	if err != nil {
		return invalidRecord(req.ID, err)
	}
	key := s.key(req.ID, req.To)
	if _, err := s.bucket.Create(ctx, key, data); err != nil && !(errors.Is(err, ErrPreconditionFailed) && s.wroteIt(ctx, key, nonce, req.IdempotencyKey)) {
		return s.refusal(err, req.ID, workset.ErrConflict, "target sentinel appeared concurrently")
	}
	return nil
}

// writeLegacyMarker makes sure the marker of a state legacy readers do not
// know exists (see Naming.LegacyMarkers).
func (mv *mover) writeLegacyMarker(ctx context.Context) error {
	m, ok := mv.s.opts.Naming.LegacyMarkers[mv.req.To]
	if !ok || slices.Contains(mv.v.counts, m) {
		return nil
	}
	data, _, err := Body{State: string(m), At: mv.now, Reason: "legacy marker for " + string(mv.req.To)}.encode()
	if err != nil {
		return invalidRecord(mv.req.ID, err)
	}
	if _, err := mv.s.bucket.Create(ctx, mv.s.key(mv.req.ID, m), data); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return err
	}
	return nil
}

// removeMasking removes the sentinels above the target, lowest first (the old
// deciding sentinel last). Those below it stay, as legacy writers leave them
// (a legacy monitor's --attempt-restart needs daylily.ready under
// daylily.error); only a lock object marking the locked state below the
// target is unmarked, since it is also the lease.
func (mv *mover) removeMasking(ctx context.Context) error {
	s, req := mv.s, mv.req
	rank := s.opts.Naming.rank
	var above, below []workset.State
	for _, st := range mv.v.counts {
		switch {
		case st == req.To:
		case rank(st) < rank(req.To):
			above = append(above, st)
		case st == workset.StateLocked:
			below = append(below, st)
		}
	}
	slices.SortFunc(above, func(a, b workset.State) int { return rank(b) - rank(a) })
	for _, st := range append(above, below...) {
		if err := s.unmark(ctx, req.ID, st, mv.etags[st], mv.lockBody()); err != nil {
			if errors.Is(err, ErrPreconditionFailed) {
				s.opts.Logger.WarnContext(ctx, "sentinel changed concurrently; left in place", "workset", req.ID, "state", st)
				continue
			}
			return err
		}
	}
	return nil
}

// checkClaim reads the deciding sentinel's body (one GET, skipped for legacy
// bodies, which never carry a claim) and refuses with ErrConflict while it
// carries another writer's claim younger than ClaimTimeout. It returns the ETag
// to compare-and-swap against.
func (s *Store) checkClaim(ctx context.Context, id string, st workset.State, obj Object, now time.Time, key string) (string, error) {
	if obj.Size >= 0 && obj.Size < minOwnBody {
		return obj.ETag, nil
	}
	data, etag, err := s.bucket.Get(ctx, obj.Key)
	if errors.Is(err, ErrObjectNotFound) {
		return "", &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: "the deciding sentinel was removed concurrently", Err: err}
	}
	if err != nil {
		return "", err
	}
	b := ParseContent(data)
	if !b.Legacy && b.Next != "" && (key == "" || b.Op != opKey(key)) && now.Sub(b.At) < s.opts.ClaimTimeout+s.opts.SkewMargin {
		return "", &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("a transition %s -> %s is in flight (claimed at %s)", st, b.Next, storekit.FormatTime(b.At))}
	}
	return etag, nil
}

// unmark removes a state sentinel. The lock object that also holds a lease is
// rewritten without its locked mark instead of deleted.
func (s *Store) unmark(ctx context.Context, id string, st workset.State, etag string, lock Body) error {
	if st == workset.StateLocked && lock.Owner != "" {
		lock.Locked, lock.Next = false, ""
		_, err := s.swap(ctx, id, st, lock, etag)
		return err
	}
	return s.bucket.Delete(ctx, s.key(id, st), etag)
}

// swap replaces a sentinel's body if its ETag is still etag. A refusal that
// turns out to be our own applied write is a success.
func (s *Store) swap(ctx context.Context, id string, st workset.State, b Body, etag string) (string, error) {
	data, nonce, err := b.encode()
	if err != nil {
		return "", invalidRecord(id, err)
	}
	key := s.key(id, st)
	newTag, err := s.bucket.Replace(ctx, key, data, etag)
	if err != nil && (errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrObjectNotFound)) {
		if cur, tag, gerr := s.bucket.Get(ctx, key); gerr == nil && ParseContent(cur).Nonce == nonce {
			return tag, nil
		}
	}
	return newTag, err
}

// refusal turns a refused conditional write into the contract's error.
func (s *Store) refusal(err error, id string, kind error, reason string) error {
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrObjectNotFound) {
		if kind == workset.ErrLeaseLost {
			return &workset.Error{ID: id, Kind: workset.ErrLeaseLost, Detail: reason, Err: err}
		}
		return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: reason, Err: err}
	}
	return err
}

// Import implements workset.Importer: it makes the workset's sentinels say
// w.State (writing nothing when they already do). Only the state is stored.
// ExpectedVersion is not supported.
func (s *Store) Import(ctx context.Context, req workset.ImportRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, storekit.ImportID(req))
	if err := storekit.ValidateImport(req); err != nil {
		return nil, err
	}
	if req.ExpectedVersion != 0 {
		return nil, &workset.Error{ID: req.Workset.ID, Kind: workset.ErrUnsupported, Detail: "the sentinel store keeps no versions"}
	}
	if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	w := req.Workset.Clone()
	w.ErrorDetails = storekit.Truncate(w.ErrorDetails, workset.MaxErrorDetails)
	req.Reason = storekit.Truncate(req.Reason, workset.MaxReason)
	snap, v, err := s.load(ctx, w.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case req.IfAbsent && v.exists:
		return nil, &workset.Error{ID: w.ID, Kind: workset.ErrAlreadyExists}
	case !req.IfAbsent && !v.exists:
		return nil, notFound(w.ID)
	case !req.IfAbsent && req.ExpectedState != "" && v.w.State != req.ExpectedState:
		return nil, storekit.CheckImportReplace(v.w, req)
	case v.exists && v.w.State == w.State && len(v.counts) == 1 && sameRetry(v.w, w):
		return v.w, nil // already says exactly this
	case !v.exists:
		b := Body{State: string(w.State), At: s.now(), Reason: req.Reason, ErrorDetails: w.ErrorDetails, Locked: w.State == workset.StateLocked, Foreign: w.Foreign}
		if slices.Contains(recordStates, w.State) {
			b.RetryCount, b.RetryAfter, b.FailedStep, b.ErrorCategory = w.RetryCount, storekit.TruncateTime(w.RetryAfter), w.FailedStep, string(w.ErrorCategory)
		}
		body, nonce, err := b.encode()
		if err != nil {
			return nil, invalidRecord(w.ID, err)
		}
		if err := s.mark(ctx, snap); err != nil {
			return nil, err
		}
		key := s.key(w.ID, w.State)
		if _, err := s.bucket.Create(ctx, key, body); err != nil && !(errors.Is(err, ErrPreconditionFailed) && s.wroteIt(ctx, key, nonce)) {
			if errors.Is(err, ErrPreconditionFailed) {
				return nil, &workset.Error{ID: w.ID, Kind: workset.ErrAlreadyExists}
			}
			return nil, err
		}
	default:
		reason := req.Reason
		if reason == "" {
			reason = "imported"
		}
		mreq := workset.TransitionRequest{ID: w.ID, To: w.State, Reason: reason, Force: true, ErrorDetails: w.ErrorDetails,
			FailedStep: w.FailedStep, ErrorCategory: w.ErrorCategory, Retry: &workset.RetryInfo{Count: w.RetryCount, After: w.RetryAfter}}
		if err := s.moveImported(ctx, snap, v, mreq, w.Foreign); err != nil {
			return nil, err
		}
	}
	return s.confirm(ctx, w.ID)
}

// sameRetry reports whether a and b carry the same retry record, in the
// states whose sentinels keep one.
func sameRetry(a, b *workset.Workset) bool {
	if !slices.Contains(recordStates, b.State) {
		return true
	}
	return a.RetryCount == b.RetryCount && a.RetryAfter.Equal(storekit.TruncateTime(b.RetryAfter)) && a.FailedStep == b.FailedStep && a.ErrorCategory == b.ErrorCategory
}

// CleanupOwner is the lease owner the sentinel store's Delete holds while it
// removes a workset's sentinels.
const CleanupOwner = "worksetstate-cleanup"

// Delete implements workset.Deleter: it removes the workset's sentinel objects
// and nothing else (the folder's .worksetstate marker last); data files stay.
// ExpectedVersion is not supported.
//
// It never removes what changed after it decided, and a refused or failed
// delete leaves the state that was there: a workset under a live lease is
// refused with ErrLeaseHeld; otherwise Delete first takes the lock object
// itself (create-if-absent, or compare-and-swap over an expired lease), so no
// lease can be acquired while it works, then deletes the state sentinels below
// the deciding one, lowest precedence first, each with If-Match on the ETag it
// listed, then the fence objects, then its own lock object, and the deciding
// sentinel last. Until that last delete the workset reads as it did (a legacy
// pile-up of daylily.ready, daylily.in_progress and daylily.complete stays
// complete whichever delete fails); a sentinel that changed meanwhile stops it
// with ErrConflict.
func (s *Store) Delete(ctx context.Context, id string, expectedVersion int64) (err error) {
	defer storekit.WrapContextError(&err, id)
	if err := workset.ValidateID(id); err != nil {
		return err
	}
	if expectedVersion != 0 {
		return &workset.Error{ID: id, Kind: workset.ErrUnsupported, Detail: "the sentinel store keeps no versions"}
	}
	if err := s.requireAtomic(ctx); err != nil {
		return err
	}
	snap, v, err := s.load(ctx, id)
	if err != nil {
		return err
	}
	if !v.exists {
		return notFound(id)
	}
	now := s.now()
	if l := v.w.Lease; l != nil && !l.Expired(now, s.opts.SkewMargin) {
		return &workset.LeaseHeldError{ID: id, Owner: l.Owner, ExpiresAt: l.ExpiresAt}
	}
	// 1. Hold the lock object, so no lease can be taken from here on.
	token, err := nextToken(id, now, v.w.FencingToken)
	if err != nil {
		return err
	}
	hold := Body{At: now, Owner: CleanupOwner, AcquiredAt: now, ExpiresAt: now.Add(s.opts.ClaimTimeout), Token: token}
	if err := s.mark(ctx, snap); err != nil {
		return err
	}
	lockKey := s.key(id, workset.StateLocked)
	var lockTag string
	if obj, ok := snap.sentinels[workset.StateLocked]; ok {
		hold.Locked = snap.lock == nil || snap.lock.Legacy || snap.lock.Locked || snap.lock.Owner == ""
		lockTag, err = s.swap(ctx, id, workset.StateLocked, hold, obj.ETag)
	} else {
		var data Content
		var nonce string
		if data, nonce, err = hold.encode(); err != nil {
			return invalidRecord(id, err)
		}
		if lockTag, err = s.bucket.Create(ctx, lockKey, data); errors.Is(err, ErrPreconditionFailed) && s.wroteIt(ctx, lockKey, nonce) {
			_, lockTag, err = s.bucket.Get(ctx, lockKey)
		}
	}
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrObjectNotFound) {
		return s.heldBy(ctx, id, err) // a lease was taken since the listing
	}
	if err != nil {
		return err
	}
	// 2. The state sentinels below the deciding one, lowest first, each only
	// as listed: what is left always reads as the state that was there.
	rank := s.opts.Naming.rank
	var below []workset.State
	for st := range snap.sentinels {
		if st != workset.StateLocked && st != v.top {
			below = append(below, st)
		}
	}
	slices.SortFunc(below, func(a, b workset.State) int { return rank(b) - rank(a) })
	release := func() { _ = s.bucket.Delete(context.WithoutCancel(ctx), lockKey, lockTag) } // let go; what is left still reads as before
	for _, st := range below {
		if err := s.deleteListed(ctx, id, st, snap.sentinels[st]); err != nil {
			release()
			return err
		}
	}
	// 3. The fence objects, our own lock object, then the deciding sentinel.
	for _, f := range snap.fences {
		if err := s.bucket.Delete(ctx, f.Key, ""); err != nil && !errors.Is(err, ErrObjectNotFound) {
			release()
			return err
		}
	}
	if err := s.bucket.Delete(ctx, lockKey, lockTag); err != nil && !errors.Is(err, ErrObjectNotFound) {
		return err
	}
	if obj, ok := snap.sentinels[v.top]; ok && v.top != workset.StateLocked {
		if err := s.deleteListed(ctx, id, v.top, obj); err != nil {
			return err
		}
	}
	// 4. The folder's marker. The workset is gone whatever happens here: a
	// marker left behind is logged, not reported as a failed delete. (A
	// Register racing this delete may find its folder unmarked; its next
	// write marks it again.)
	if err := s.bucket.Delete(ctx, s.Prefix(id)+markerName, ""); err != nil {
		s.opts.Logger.WarnContext(ctx, "the folder marker was not deleted", "workset", id, "err", err)
	}
	return nil
}

// deleteListed deletes a state sentinel only if it is still as listed.
func (s *Store) deleteListed(ctx context.Context, id string, st workset.State, obj Object) error {
	err := s.bucket.Delete(ctx, obj.Key, obj.ETag)
	if errors.Is(err, ErrPreconditionFailed) {
		return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("sentinel %s changed while deleting", s.opts.Naming.Names[st]), Err: err}
	}
	return err
}
