package sentinel

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// AcquireLease implements workset.StateStore: the lock object is created with
// If-None-Match: * (free), or replaced with If-Match on the ETag read (an
// expired lease taken over, or the holder extending its own).
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := storekit.ValidateLeaseRequest(id, owner, ttl); err != nil {
		return nil, err
	}
	if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	snap, v, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.exists {
		return nil, notFound(id)
	}
	now := s.now()
	decision, err := storekit.CheckAcquire(v.w, owner, now, s.opts.SkewMargin)
	if err != nil {
		return nil, err
	}
	token, err := nextToken(id, now, v.w.FencingToken)
	if err != nil {
		return nil, err
	}
	b := Body{At: now, Owner: owner, AcquiredAt: now, ExpiresAt: now.Add(ttl), Token: token}
	if err := s.mark(ctx, snap); err != nil {
		return nil, err
	}
	if snap.lock != nil && !snap.lock.Legacy {
		b.Locked = snap.lock.Locked || snap.lock.Owner == ""
	}
	switch decision {
	case storekit.AcquireExtend:
		b.Token, b.AcquiredAt = v.w.Lease.Token, v.w.Lease.AcquiredAt
		fallthrough
	case storekit.AcquireTakeover:
		_, err = s.swap(ctx, id, workset.StateLocked, b, snap.sentinels[workset.StateLocked].ETag)
	default:
		var data Content
		var nonce string
		if data, nonce, err = b.encode(); err != nil {
			return nil, invalidRecord(id, err)
		}
		key := s.key(id, workset.StateLocked)
		if _, err = s.bucket.Create(ctx, key, data); err != nil && errors.Is(err, ErrPreconditionFailed) && s.wroteIt(ctx, key, nonce) {
			err = nil
		}
	}
	if errors.Is(err, ErrPreconditionFailed) || errors.Is(err, ErrObjectNotFound) {
		return nil, s.heldBy(ctx, id, err)
	}
	if err != nil {
		return nil, err
	}
	// The lock object carries the largest token now: the fence objects are spent.
	for _, f := range snap.fences {
		if err := s.bucket.Delete(ctx, f.Key, ""); err != nil {
			s.opts.Logger.DebugContext(ctx, "a spent fence object was not deleted", "key", f.Key, "err", err)
		}
	}
	s.opts.Logger.DebugContext(ctx, "lease acquired", "workset", id, "owner", owner, "token", b.Token)
	return b.lease(id), nil
}

// heldBy reports who won a race for the lock object.
func (s *Store) heldBy(ctx context.Context, id string, cause error) error {
	data, _, err := s.bucket.Get(ctx, s.key(id, workset.StateLocked))
	if err == nil {
		b := ParseContent(data)
		if l := b.lease(id); l != nil {
			return &workset.LeaseHeldError{ID: id, Owner: l.Owner, ExpiresAt: l.ExpiresAt}
		}
	}
	return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: "lock object changed concurrently", Err: cause}
}

// current reads the lock object and checks that it records lease.
func (s *Store) current(ctx context.Context, lease workset.Lease) (Body, string, error) {
	data, etag, err := s.bucket.Get(ctx, s.key(lease.WorksetID, workset.StateLocked))
	if errors.Is(err, ErrObjectNotFound) {
		if _, gerr := s.Get(ctx, lease.WorksetID); errors.Is(gerr, workset.ErrNotFound) {
			return Body{}, "", gerr
		}
		return Body{}, "", &workset.Error{ID: lease.WorksetID, Kind: workset.ErrLeaseLost, Detail: "no lease is held"}
	}
	if err != nil {
		return Body{}, "", err
	}
	b := ParseContent(data)
	w := &workset.Workset{ID: lease.WorksetID, Lease: b.lease(lease.WorksetID)}
	if err := storekit.CheckLeaseCurrent(w, lease); err != nil {
		return Body{}, "", err
	}
	return b, etag, nil
}

// RenewLease implements workset.StateStore (1 Get, 1 Replace).
func (s *Store) RenewLease(ctx context.Context, lease workset.Lease, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	if err := storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, ttl); err != nil {
		return nil, err
	}
	if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	b, etag, err := s.current(ctx, lease)
	if err != nil {
		return nil, err
	}
	now := s.now()
	b.At, b.ExpiresAt, b.Next = now, now.Add(ttl), ""
	if _, err := s.swap(ctx, lease.WorksetID, workset.StateLocked, b, etag); err != nil {
		return nil, s.refusal(err, lease.WorksetID, workset.ErrLeaseLost, "lease changed while renewing")
	}
	return b.lease(lease.WorksetID), nil
}

// ReleaseLease implements workset.StateStore (1 Get, 1 Create of the fence
// object keeping the token, 1 conditional Delete; a lock object that also marks
// the locked state is rewritten without the lease, keeping the token).
func (s *Store) ReleaseLease(ctx context.Context, lease workset.Lease) (err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	if err := storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, time.Second); err != nil {
		return err
	}
	if err := s.requireAtomic(ctx); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.releaseOnce(ctx, lease)
		// The lock object changed under the release, but may still be this
		// lease (a renewal of the holder's that landed late): look again.
		if errors.Is(err, workset.ErrLeaseLost) && attempt < 3 && ctx.Err() == nil {
			if _, _, cerr := s.current(ctx, lease); cerr == nil {
				continue
			}
		}
		return err
	}
}

// releaseOnce is one attempt of ReleaseLease.
func (s *Store) releaseOnce(ctx context.Context, lease workset.Lease) (err error) {
	b, etag, err := s.current(ctx, lease)
	if err != nil {
		return err
	}
	if b.Locked {
		// The lock object stays (it marks the locked state) and keeps the token.
		_, err = s.swap(ctx, lease.WorksetID, workset.StateLocked, Body{State: string(workset.StateLocked), At: s.now(), Locked: true, Token: b.Token}, etag)
	} else {
		// Keep the token where the next acquirer will see it, then let go.
		fence := s.Prefix(lease.WorksetID) + fencePrefix + strconv.FormatInt(b.Token, 10)
		if _, ferr := s.bucket.Create(ctx, fence, Content{}); ferr != nil && !errors.Is(ferr, ErrPreconditionFailed) {
			return ferr
		}
		err = s.bucket.Delete(ctx, s.key(lease.WorksetID, workset.StateLocked), etag)
	}
	if err != nil {
		return s.refusal(err, lease.WorksetID, workset.ErrLeaseLost, "lease changed while releasing")
	}
	return nil
}
