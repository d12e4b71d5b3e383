package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// The model of one workset: its state, who holds its lease, and the last
// fencing token issued. Leases never expire here (one hour, real clock).
type lstate struct {
	State  workset.State
	Holder string
	Token  int64
}

type lin struct {
	Kind   string // get, transition, acquire, renew, release
	ID     string
	To     workset.State
	Owner  string
	Token  int64 // the lease used (0: none)
	Fenced bool
}

type lout struct {
	Err    string // "", held, lost, invalid, unleasable, conflict
	State  workset.State
	Holder string
	Token  int64
}

func classify(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, workset.ErrLeaseHeld):
		return "held"
	case errors.Is(err, workset.ErrLeaseLost):
		return "lost"
	case errors.Is(err, workset.ErrInvalidTransition):
		return "invalid"
	case errors.Is(err, workset.ErrNotLeasable):
		return "unleasable"
	case errors.Is(err, workset.ErrConflict):
		return "conflict"
	}
	return "other: " + err.Error()
}

var worksetModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			id := op.Input.(lin).ID
			by[id] = append(by[id], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return lstate{State: workset.StateReady} },
	Step: func(st, in, out any) (bool, any) {
		s, i, o := st.(lstate), in.(lin), out.(lout)
		if o.Err == "conflict" {
			return true, s // refused because of a concurrent change: no effect
		}
		current := s.Holder != "" && s.Holder == i.Owner && s.Token == i.Token
		switch i.Kind {
		case "get":
			return o.Err == "" && o.State == s.State && o.Holder == s.Holder && (s.Holder == "" || o.Token == s.Token), s
		case "acquire":
			switch o.Err {
			case "":
				if s.Holder == "" && workset.IsLeasable(s.State) && o.Token > s.Token {
					return true, lstate{s.State, i.Owner, o.Token}
				}
				return s.Holder == i.Owner && o.Token == s.Token, s
			case "held":
				return s.Holder != "" && s.Holder != i.Owner, s
			case "unleasable":
				return s.Holder == "" && !workset.IsLeasable(s.State), s
			}
		case "renew":
			return (o.Err == "") == current && (o.Err == "" || o.Err == "lost"), s
		case "release":
			if o.Err == "" && current {
				return true, lstate{s.State, "", s.Token}
			}
			return o.Err == "lost" && !current, s
		case "transition":
			allowed := (i.Fenced && current) || (!i.Fenced && s.Holder == "")
			switch o.Err {
			case "":
				if allowed && workset.CanTransition(s.State, i.To) {
					return true, lstate{i.To, s.Holder, s.Token}
				}
			case "lost":
				return i.Fenced && !current, s
			case "held":
				return !i.Fenced && s.Holder != "", s
			case "invalid":
				return allowed && !workset.CanTransition(s.State, i.To), s
			}
		}
		return false, s
	},
	DescribeOperation: func(in, out any) string { return fmt.Sprintf("%+v -> %+v", in, out) },
}

// get reads the workset as the model sees it.
func get(ctx context.Context, s workset.StateStore, id string) lout {
	w, err := s.Get(ctx, id)
	out := lout{Err: classify(err)}
	if err == nil {
		out.State = w.State
		if w.Lease != nil {
			out.Holder, out.Token = w.Lease.Owner, w.Lease.Token
		}
	}
	return out
}

var targets = []workset.State{workset.StateInProgress, workset.StateError, workset.StateReady, workset.StateRetrying}

// record runs clients×ops random operations on ids and returns the history.
func record(t *testing.T, s workset.StateStore, ids []string, clients, ops int) []porcupine.Operation {
	return recordMix(t, s, ids, clients, ops, false)
}

// recordMix is record; with fencedOnly, transitions are made only under a
// lease the client holds (the way monitors use a store).
func recordMix(t *testing.T, s workset.StateStore, ids []string, clients, ops int, fencedOnly bool) []porcupine.Operation {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	var others atomic.Int64
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 17))
			owner := fmt.Sprintf("client-%d", c)
			leases := map[string]*workset.Lease{}
			for range ops {
				id := ids[rng.IntN(len(ids))]
				in := lin{ID: id, Owner: owner}
				if l := leases[id]; l != nil {
					in.Token = l.Token
				}
				var out lout
				call := now()
				switch r := rng.IntN(10); {
				case r < 2:
					in.Kind, out = "get", get(ctx, s, id)
				case r < 5 && fencedOnly && leases[id] == nil:
					in.Kind, out = "get", get(ctx, s, id)
				case r < 5:
					in.Kind, in.To = "transition", targets[rng.IntN(len(targets))]
					req := workset.TransitionRequest{ID: id, To: in.To}
					if l := leases[id]; l != nil && (fencedOnly || rng.IntN(4) > 0) {
						in.Fenced, req.Lease = true, l
					} else {
						in.Token = 0
					}
					_, err := s.Transition(ctx, req)
					out.Err = classify(err)
				case r < 7:
					in.Kind, in.Token = "acquire", 0
					l, err := s.AcquireLease(ctx, id, owner, time.Hour)
					out.Err = classify(err)
					if err == nil {
						leases[id], out.Token = l, l.Token
					}
				case r < 8:
					in.Kind = "renew"
					l := leases[id]
					if l == nil {
						l = &workset.Lease{WorksetID: id, Owner: owner, Token: 1 << 60}
						in.Token = l.Token
					}
					_, err := s.RenewLease(ctx, *l, time.Hour)
					out.Err = classify(err)
				default:
					in.Kind = "release"
					l := leases[id]
					if l == nil {
						l = &workset.Lease{WorksetID: id, Owner: owner, Token: 1 << 60}
						in.Token = l.Token
					}
					err := s.ReleaseLease(ctx, *l)
					out.Err = classify(err)
					if err == nil {
						delete(leases, id)
					}
				}
				ret := now()
				if len(out.Err) > 6 && out.Err[:6] == "other:" {
					others.Add(1)
					t.Errorf("unexpected error: %s %+v", out.Err, in)
				}
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return history
}

func check(t *testing.T, h []porcupine.Operation) porcupine.CheckResult {
	t.Helper()
	start := time.Now()
	res := porcupine.CheckOperationsTimeout(worksetModel, h, 2*time.Minute)
	t.Logf("%d operations: %s (checked in %v)", len(h), res, time.Since(start).Round(time.Millisecond))
	return res
}

func TestLinearizableMemstore(t *testing.T) {
	t.Parallel()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	if res := check(t, record(t, s, []string{"a", "b", "c"}, 8, 300)); res != porcupine.Ok {
		t.Fatalf("memstore history is %s", res)
	}
}

func TestLinearizableDynamoDB(t *testing.T) {
	t.Parallel()
	s, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("lin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if res := check(t, record(t, s, []string{"a", "b"}, 8, 60)); res != porcupine.Ok {
		t.Fatalf("DynamoDB store history is %s", res)
	}
}

// The sentinel store is linearizable when transitions are made under leases,
// as monitors make them. Unfenced transitions racing lease calls are not:
// S3 cannot change the lock object and a state sentinel in one step, so an
// unfenced write checks the lease when it reads (see the package doc). That
// mix is run and its verdict logged, not asserted.
func TestLinearizableSentinelS3(t *testing.T) {
	t.Parallel()
	for _, fenced := range []bool{true, false} {
		c := testenv.S3(t)
		b, err := sentinel.NewS3Bucket(c, testenv.Bucket(t, c))
		if err != nil {
			t.Fatal(err)
		}
		s, err := sentinel.New(b)
		if err != nil {
			t.Fatal(err)
		}
		res := check(t, recordMix(t, s, []string{"a", "b", "c"}, 8, 60, fenced))
		t.Logf("transitions only under leases=%v: %s", fenced, res)
		if fenced && res != porcupine.Ok {
			t.Fatalf("sentinel store with fenced transitions is %s", res)
		}
	}
}

// Unfenced transitions (and reads) with no lease calls at all are
// linearizable on the sentinel store: of concurrent transitions from one
// state, exactly one wins (the claim on the deciding sentinel is read and
// compared-and-swapped), and none is reported applied and then lost.
func TestLinearizableSentinelUnfencedTransitions(t *testing.T) {
	t.Parallel()
	c := testenv.S3(t)
	b, err := sentinel.NewS3Bucket(c, testenv.Bucket(t, c))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sentinel.New(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{"a", "b"}
	for _, id := range ids {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	var mu sync.Mutex
	var h []porcupine.Operation
	var wg sync.WaitGroup
	wins := atomic.Int64{}
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 99))
			for range 40 {
				id := ids[rng.IntN(len(ids))]
				in := lin{ID: id, Owner: fmt.Sprint("c", c)}
				call := int64(time.Since(start))
				var out lout
				if rng.IntN(4) == 0 {
					in.Kind, out = "get", get(ctx, s, id)
				} else {
					in.Kind, in.To = "transition", targets[rng.IntN(len(targets))]
					_, err := s.Transition(ctx, workset.TransitionRequest{ID: id, To: in.To})
					out.Err = classify(err)
					if err == nil {
						wins.Add(1)
					}
				}
				mu.Lock()
				h = append(h, porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: int64(time.Since(start))})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if res := check(t, h); res != porcupine.Ok {
		t.Fatalf("unfenced transitions on the sentinel store are %s", res)
	}
	t.Logf("%d transitions applied", wins.Load())
}

// racyStore does check-then-write for leases: it reads, then writes without
// a condition. The checker must catch it.
type racyStore struct {
	*memstore.Store
	mu     sync.Mutex
	leases map[string]*workset.Lease
	tokens map[string]int64
}

func (r *racyStore) lease(id string) *workset.Lease {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.leases[id]
}

func (r *racyStore) Get(ctx context.Context, id string) (*workset.Workset, error) {
	w, err := r.Store.Get(ctx, id)
	if err == nil {
		w.Lease = r.lease(id)
	}
	return w, err
}

func (r *racyStore) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	w, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if w.Lease != nil && w.Lease.Owner != owner {
		return nil, &workset.LeaseHeldError{ID: id, Owner: w.Lease.Owner}
	}
	if w.Lease == nil && !workset.IsLeasable(w.State) {
		return nil, &workset.Error{ID: id, Kind: workset.ErrNotLeasable}
	}
	time.Sleep(time.Duration(rand.IntN(500)) * time.Microsecond) // the gap
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tokens[id]++
	l := &workset.Lease{WorksetID: id, Owner: owner, Token: r.tokens[id]}
	r.leases[id] = l
	return l, nil
}

func (r *racyStore) RenewLease(ctx context.Context, l workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	if cur := r.lease(l.WorksetID); cur == nil || cur.Owner != l.Owner || cur.Token != l.Token {
		return nil, workset.ErrLeaseLost
	}
	return &l, nil
}

func (r *racyStore) ReleaseLease(ctx context.Context, l workset.Lease) error {
	if cur := r.lease(l.WorksetID); cur == nil || cur.Owner != l.Owner || cur.Token != l.Token {
		return workset.ErrLeaseLost
	}
	r.mu.Lock()
	delete(r.leases, l.WorksetID)
	r.mu.Unlock()
	return nil
}

func (r *racyStore) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	cur := r.lease(req.ID)
	if req.Lease != nil {
		if cur == nil || cur.Owner != req.Lease.Owner || cur.Token != req.Lease.Token {
			return nil, workset.ErrLeaseLost
		}
	} else if cur != nil {
		return nil, &workset.LeaseHeldError{ID: req.ID, Owner: cur.Owner}
	}
	req.Lease = nil
	return r.Store.Transition(ctx, req)
}

// The checker bites: check-then-write leases are reported as not linearizable.
func TestCheckerCatchesCheckThenWrite(t *testing.T) {
	t.Parallel()
	inner, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &racyStore{Store: inner, leases: map[string]*workset.Lease{}, tokens: map[string]int64{}}
	if res := check(t, record(t, s, []string{"a"}, 8, 150)); res != porcupine.Illegal {
		t.Fatalf("a check-then-write store was judged %s, want Illegal", res)
	}
}
