package dynamostore

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// setExpiry sets both spellings of the lease expiry, lock_expires_at for the
// deployed readers and lease_expires_ms for this SDK's conditions, and the copy
// of lock_expires_at that binds the two (see isOurs).
func setExpiry(upd expression.UpdateBuilder, exp time.Time) expression.UpdateBuilder {
	at := storekit.FormatTime(exp)
	return upd.
		Set(expression.Name(attrLockExpiresAt), expression.Value(at)).
		Set(expression.Name(attrLeaseLockCopy), expression.Value(at)).
		Set(expression.Name(attrLeaseExpiresMs), expression.Value(exp.UnixMilli()))
}

// ours holds while the lock is this SDK's lease (the condition form of isOurs):
// lock_expires_at is still the string the SDK wrote beside lease_expires_ms.
// A comparison with a missing attribute is false, so a released lock, or one
// another tool wrote, is never ours.
func ours() expression.ConditionBuilder {
	return expression.Name(attrLeaseLockCopy).Equal(expression.Name(attrLockExpiresAt))
}

// expiredOurs holds when the lock is this SDK's lease and it expired before
// now minus the skew margin: a lock any SDK caller may take over in one write.
func (s *Store) expiredOurs(now time.Time) expression.ConditionBuilder {
	return and(ours(), expression.Name(attrLeaseExpiresMs).LessThanEqual(expression.Value(now.Add(-s.opts.SkewMargin).UnixMilli())))
}

// notForeignWork holds unless the record is active under another tool's hand
// (workset.Workset.ForeignWork, with the lock known to be ours): its state is
// not in_progress or locked, or this SDK wrote it (sdk_state = state).
func notForeignWork() expression.ConditionBuilder {
	return expression.Or(
		expression.Not(expression.Name(attrState).In(expression.Value(string(workset.StateInProgress)), expression.Value(string(workset.StateLocked)))),
		expression.Name(attrSDKState).Equal(expression.Name(attrState)),
	)
}

// AcquireLease implements workset.StateStore. A free workset, or one whose lease
// (written by this SDK, and not since taken over by another tool) expired,
// costs one UpdateItem: the free-or-expired test is inside the condition and the
// new token comes back in the same response. A lock another tool wrote is read
// and judged by its timestamps, as that tool judges it.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := storekit.ValidateLeaseRequest(id, owner, ttl); err != nil {
		return nil, err
	}
	now := s.now()
	op := newOpID()
	exp := now.Add(ttl)
	fresh := stamp(setExpiry(expression.
		Set(expression.Name(attrLockOwner), expression.Value(owner)).
		Set(expression.Name(attrLockAcquiredAt), expression.Value(storekit.FormatTime(now))).
		Set(expression.Name(attrLeaseToken), expression.Plus(expression.IfNotExists(expression.Name(attrLeaseToken), expression.Value(0)), expression.Value(1))),
		exp), now, op)
	extend := stamp(setExpiry(expression.UpdateBuilder{}, exp), now, op)
	leasable := workset.LeasableStates()
	cond := and(exists(), expression.Or(
		and(expression.AttributeNotExists(expression.Name(attrLockOwner)),
			expression.Name(attrState).In(expression.Value(string(leasable[0])), expression.Value(string(leasable[1])))),
		and(s.expiredOurs(now), notForeignWork()),
	))
	w, err := s.write(ctx, id, op, fresh, cond, func(cur *workset.Workset) (expression.UpdateBuilder, error) {
		d, err := storekit.CheckAcquire(cur, owner, now, s.opts.SkewMargin)
		if d == storekit.AcquireExtend && cur.Lease.Token != 0 {
			return extend, err
		}
		return fresh, err // a lock of another tool held by the same owner id gets a lease of ours
	})
	if err != nil {
		return nil, err
	}
	s.opts.Logger.DebugContext(ctx, "lease acquired", "workset", id, "owner", owner, "token", w.Lease.Token)
	return w.Lease, nil
}

// RenewLease implements workset.StateStore (one UpdateItem). Like the deployed
// refresh_lock, it moves lock_acquired_at to now with the expiry: a deployed
// monitor's takeover is conditioned on the lock_acquired_at it judged stale,
// so any stale judgement made before the renewal fails. The lease returned
// (and read) has AcquiredAt = the last renewal.
func (s *Store) RenewLease(ctx context.Context, lease workset.Lease, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	if err := storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, ttl); err != nil {
		return nil, err
	}
	now := s.now()
	op := newOpID()
	exp := now.Add(ttl)
	upd := expression.Set(expression.Name(attrLockAcquiredAt), expression.Value(storekit.FormatTime(now)))
	if lease.Token == 0 { // a lock of another tool: keep it in its own shape
		upd = upd.Set(expression.Name(attrLockExpiresAt), expression.Value(storekit.FormatTime(exp)))
	} else {
		upd = setExpiry(upd, exp)
	}
	upd = stamp(upd, now, op)
	w, err := s.write(ctx, lease.WorksetID, op, upd, and(exists(), fenced(&lease)), func(cur *workset.Workset) (expression.UpdateBuilder, error) {
		return upd, storekit.CheckLeaseCurrent(cur, lease)
	})
	if err != nil {
		return nil, err
	}
	return w.Lease, nil
}

// ReleaseLease implements workset.StateStore (one UpdateItem). The fencing
// counter stays, so the next lease gets a larger token.
func (s *Store) ReleaseLease(ctx context.Context, lease workset.Lease) (err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	if err := storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, time.Second); err != nil {
		return err
	}
	now := s.now()
	op := newOpID()
	upd := stamp(expression.
		Remove(expression.Name(attrLockOwner)).
		Remove(expression.Name(attrLockAcquiredAt)).
		Remove(expression.Name(attrLockExpiresAt)).
		Remove(expression.Name(attrLeaseLockCopy)).
		Remove(expression.Name(attrLeaseExpiresMs)), now, op)
	_, err = s.write(ctx, lease.WorksetID, op, upd, and(exists(), fenced(&lease)), func(cur *workset.Workset) (expression.UpdateBuilder, error) {
		return upd, storekit.CheckLeaseCurrent(cur, lease)
	})
	if err == nil {
		s.opts.Logger.DebugContext(ctx, "lease released", "workset", lease.WorksetID, "owner", lease.Owner)
	}
	return err
}

// Claim implements workset.Claimer: one UpdateItem leases the workset and moves
// it to in_progress, conditioned on a leasable state and a free, expired or
// own lease; the new record comes back in the same response. A refused
// condition is read and judged (a lock of another tool, by its timestamps).
func (s *Store) Claim(ctx context.Context, req workset.ClaimRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := storekit.NormalizeClaim(&req); err != nil {
		return nil, err
	}
	now := s.now()
	op := newOpID()
	if req.IdempotencyKey != "" {
		// As for a keyed transition: a retry whose condition is refused finds
		// its own key in last_op and reports the claim it made (see write).
		op = "key:" + req.IdempotencyKey
	}
	upd, err := transitionUpdate(storekit.ClaimTransition(req), now, op)
	if err != nil {
		return nil, err
	}
	upd = setExpiry(upd.
		Set(expression.Name(attrLockOwner), expression.Value(req.Owner)).
		Set(expression.Name(attrLockAcquiredAt), expression.Value(storekit.FormatTime(now))).
		Set(expression.Name(attrLeaseToken), expression.Plus(expression.IfNotExists(expression.Name(attrLeaseToken), expression.Value(0)), expression.Value(1))),
		now.Add(req.TTL))
	leasable := workset.LeasableStates()
	cond := and(exists(),
		expression.Name(attrState).In(expression.Value(string(leasable[0])), expression.Value(string(leasable[1]))),
		expression.Or(
			expression.AttributeNotExists(expression.Name(attrLockOwner)),
			expression.Name(attrLockOwner).Equal(expression.Value(req.Owner)),
			s.expiredOurs(now),
		))
	w, err := s.write(ctx, req.ID, op, upd, cond, func(cur *workset.Workset) (expression.UpdateBuilder, error) {
		return upd, storekit.CheckClaim(cur, req.Owner, now, s.opts.SkewMargin)
	})
	if err != nil {
		return nil, err
	}
	s.trimHistory(ctx, w)
	s.opts.Logger.DebugContext(ctx, "claimed", "workset", w.ID, "owner", req.Owner, "token", w.Lease.Token)
	return w, nil
}
