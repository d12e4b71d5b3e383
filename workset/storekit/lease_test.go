package storekit_test

import (
	"errors"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// The lease helpers do the whole bookkeeping: tokens only grow, the owner's
// own lease is extended with its token, every lease write counts as a write,
// and a lease that is not current is refused without a change.
func TestLeaseBookkeeping(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w := storekit.NewWorkset(workset.RegisterRequest{ID: "ws", Priority: workset.PriorityNormal}, now)
	l, err := storekit.ApplyAcquire(w, "a", time.Minute, now.Add(time.Second), 0)
	if err != nil || l.Token != 1 || w.Version != 2 || !w.UpdatedAt.Equal(now.Add(time.Second)) {
		t.Fatalf("acquire: %+v, %v; version %d", l, err, w.Version)
	}
	again, err := storekit.ApplyAcquire(w, "a", time.Minute, now.Add(2*time.Second), 0)
	if err != nil || again.Token != 1 || !again.ExpiresAt.Equal(now.Add(62*time.Second)) {
		t.Fatalf("the owner's acquire extends: %+v, %v", again, err)
	}
	if _, err := storekit.ApplyAcquire(w, "b", time.Minute, now.Add(3*time.Second), 0); !errors.Is(err, workset.ErrLeaseHeld) {
		t.Fatalf("another owner's acquire: %v", err)
	}
	stale := *l
	stale.Token = 7
	v := w.Version
	if _, err := storekit.ApplyRenew(w, stale, time.Minute, now); !errors.Is(err, workset.ErrLeaseLost) || w.Version != v {
		t.Fatalf("renew of a lease not current: %v, version %d -> %d", err, v, w.Version)
	}
	if _, err := storekit.ApplyRenew(w, *again, time.Minute, now.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := storekit.ApplyRelease(w, *again, now.Add(5*time.Second)); err != nil || w.Lease != nil || w.FencingToken != 1 {
		t.Fatalf("release: %v, lease %+v, fencing %d", err, w.Lease, w.FencingToken)
	}
	if err := storekit.ApplyRelease(w, *again, now); !errors.Is(err, workset.ErrLeaseLost) {
		t.Fatalf("second release: %v", err)
	}
	next, err := storekit.ApplyAcquire(w, "b", time.Minute, now.Add(6*time.Second), 0)
	if err != nil || next.Token != 2 {
		t.Fatalf("the next lease: %+v, %v; want token 2", next, err)
	}
}

// The key bookkeeping: a retry with the key of the write that applied
// changes nothing and says so, even when forced; a new key applies; a claim's
// retry needs the claimant to hold the lease still.
func TestKeyedWrites(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := storekit.NewWorkset(workset.RegisterRequest{ID: "w"}, now)
	key := ""
	req := workset.TransitionRequest{ID: "w", To: workset.StateError, Force: true, IdempotencyKey: "k1"}
	if retry, err := storekit.KeyedTransition(w, &key, req, now, 0); err != nil || retry || key != "k1" || w.State != workset.StateError {
		t.Fatalf("first: %v %v key %q state %s", retry, err, key, w.State)
	}
	v := w.Version
	if retry, err := storekit.KeyedTransition(w, &key, req, now, 0); err != nil || !retry || w.Version != v || len(w.History) != 2 {
		t.Fatalf("retry: %v %v version %d history %d", retry, err, w.Version, len(w.History))
	}
	if retry, err := storekit.KeyedTransition(w, &key, workset.TransitionRequest{ID: "w", To: workset.StateError, IdempotencyKey: "k2"}, now, 0); err == nil || retry || key != "k1" {
		t.Fatalf("a new key for a move the graph refuses: %v %v key %q", retry, err, key)
	}
	w = storekit.NewWorkset(workset.RegisterRequest{ID: "c"}, now)
	key = ""
	claim := workset.ClaimRequest{ID: "c", Owner: "m1", TTL: time.Minute, IdempotencyKey: "c1"}
	if retry, err := storekit.KeyedClaim(w, &key, claim, now, 0); err != nil || retry || w.Lease == nil || key != "c1" {
		t.Fatalf("claim: %v %v %+v", retry, err, w.Lease)
	}
	if retry, err := storekit.KeyedClaim(w, &key, claim, now, 0); err != nil || !retry {
		t.Fatalf("claim retry: %v %v", retry, err)
	}
	other := claim
	other.Owner = "m2"
	if retry, err := storekit.KeyedClaim(w, &key, other, now, 0); retry || err == nil {
		t.Fatalf("another owner with the key: %v %v", retry, err)
	}
}
