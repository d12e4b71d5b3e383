package storekit

import (
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// The lease bookkeeping a store that reads a record and writes it back under
// a lock or a compare-and-swap does (memstore does exactly this). Each helper
// checks the request against the record, applies it, and counts the write:
// Version grows and UpdatedAt is now on every lease write, as the
// conformance suite checks. A store that keeps idempotency keys keeps them
// across lease writes (see workset.ClaimRequest.IdempotencyKey).

// ApplyAcquire acquires a lease for owner on w at now (CheckAcquire's
// decision: a new lease with the next fencing token, the owner's own lease
// extended with its token, or an expired one taken over) and returns it.
func ApplyAcquire(w *workset.Workset, owner string, ttl time.Duration, now time.Time, skew time.Duration) (*workset.Lease, error) {
	decision, err := CheckAcquire(w, owner, now, skew)
	if err != nil {
		return nil, err
	}
	if decision == AcquireExtend {
		w.Lease.ExpiresAt = now.Add(ttl)
	} else {
		w.FencingToken++
		w.Lease = &workset.Lease{WorksetID: w.ID, Owner: owner, Token: w.FencingToken, AcquiredAt: now, ExpiresAt: now.Add(ttl)}
	}
	countWrite(w, now)
	l := *w.Lease
	return &l, nil
}

// ApplyRenew extends l, which must be w's current lease (else ErrLeaseLost),
// to now+ttl and returns it. An expired lease nobody took over is renewed.
func ApplyRenew(w *workset.Workset, l workset.Lease, ttl time.Duration, now time.Time) (*workset.Lease, error) {
	if err := CheckLeaseCurrent(w, l); err != nil {
		return nil, err
	}
	w.Lease.ExpiresAt = now.Add(ttl)
	countWrite(w, now)
	out := *w.Lease
	return &out, nil
}

// ApplyRelease gives l up, which must be w's current lease (else
// ErrLeaseLost). The fencing counter stays, so the next lease gets a larger
// token.
func ApplyRelease(w *workset.Workset, l workset.Lease, now time.Time) error {
	if err := CheckLeaseCurrent(w, l); err != nil {
		return err
	}
	w.Lease = nil
	countWrite(w, now)
	return nil
}

// countWrite is what every write does to a record: version and updated time.
func countWrite(w *workset.Workset, now time.Time) {
	w.Version++
	w.UpdatedAt = now
}
