// Package memstore is an in-memory workset.StateStore: the embedded default for
// the quickstart, local runs and users' own tests.
//
// It is complete and safe for concurrent use, but not durable: everything is lost
// when the process exits. It implements every optional interface of package
// workset (Importer, Deleter, BatchGetter).
package memstore

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Options configure a Store.
type Options struct {
	// Clock tells the time (default workset.SystemClock).
	Clock workset.Clock
	// SkewMargin is added to a lease's expiry before another owner may take it
	// over, to allow for clocks that disagree (default 0: one process, one clock).
	SkewMargin time.Duration
	// HistoryLimit bounds each workset's history (oldest dropped first); 0 means
	// unbounded.
	HistoryLimit int
	// Logger receives debug logs (default: discarded).
	Logger *slog.Logger
}

// Store is the in-memory StateStore.
type Store struct {
	opts Options

	mu     sync.RWMutex
	byID   map[string]*workset.Workset
	sorted []string // IDs in ascending order; valid when !dirty
	dirty  bool
	// lastKey is the idempotency key of the write that made each workset's
	// state what it is, if that write carried one. Lease writes keep it (they
	// change no state), so a keyed claim through Claim's two-write fallback,
	// whose retry extends the lease first, is still recognised.
	lastKey map[string]string
}

var (
	_ workset.StateStore  = (*Store)(nil)
	_ workset.Importer    = (*Store)(nil)
	_ workset.Deleter     = (*Store)(nil)
	_ workset.BatchGetter = (*Store)(nil)
	_ workset.Noter       = (*Store)(nil)
)

// New returns an empty store.
func New(optFns ...func(*Options)) (*Store, error) {
	o := Options{Clock: workset.SystemClock}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	if o.Clock == nil {
		return nil, fmt.Errorf("%w: memstore: nil Clock", workset.ErrInvalidInput)
	}
	if o.SkewMargin < 0 || o.HistoryLimit < 0 {
		return nil, fmt.Errorf("%w: memstore: negative SkewMargin or HistoryLimit", workset.ErrInvalidInput)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{opts: o, byID: make(map[string]*workset.Workset)}, nil
}

// Capabilities: memstore keeps everything, but only in memory.
func (s *Store) Capabilities() workset.Capabilities {
	return workset.Capabilities{
		Kept: workset.Kept{History: true, Priority: true, Metadata: true, Versions: true,
			Timestamps: true, Location: true, Retries: true},
		Guarantees: workset.Guarantees{AtomicLeases: true, Durable: false},
	}
}

func (s *Store) now() time.Time { return storekit.TruncateTime(s.opts.Clock.Now()) }

func notFound(id string) error { return &workset.Error{ID: id, Kind: workset.ErrNotFound} }

// Register implements workset.StateStore.
func (s *Store) Register(ctx context.Context, req workset.RegisterRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: register %s: %w", req.ID, err)
	}
	if err := storekit.NormalizeRegister(&req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[req.ID]; ok {
		return nil, &workset.Error{ID: req.ID, Kind: workset.ErrAlreadyExists}
	}
	w := storekit.NewWorkset(req, s.now())
	s.insertLocked(w)
	return w.Clone(), nil
}

func (s *Store) insertLocked(w *workset.Workset) {
	s.byID[w.ID] = w
	s.sorted = append(s.sorted, w.ID)
	s.dirty = true
}

// Get implements workset.StateStore.
func (s *Store) Get(ctx context.Context, id string) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get %s: %w", id, err)
	}
	if err := workset.ValidateID(id); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	w, ok := s.byID[id]
	if !ok {
		return nil, notFound(id)
	}
	return w.Clone(), nil
}

// GetMany implements workset.BatchGetter.
func (s *Store) GetMany(ctx context.Context, ids []string) (_ map[string]*workset.Workset, err error) {
	defer storekit.WrapContextError(&err, "")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: get %d worksets: %w", len(ids), err)
	}
	for _, id := range ids {
		if err := workset.ValidateID(id); err != nil {
			return nil, err
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]*workset.Workset, len(ids))
	for _, id := range ids {
		if w, ok := s.byID[id]; ok {
			out[id] = w.Clone()
		}
	}
	return out, nil
}

// update runs fn on the stored record of id under the write lock, after the
// context and input checks every write shares; fn sees the time of the write.
func (s *Store) update(ctx context.Context, id string, valid error, fn func(w *workset.Workset, now time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: workset %s: %w", id, err)
	}
	if valid != nil {
		return valid
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.byID[id]
	if !ok {
		return notFound(id)
	}
	return fn(w, s.now())
}

// Note implements workset.Noter.
func (s *Store) Note(ctx context.Context, id, reason string) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, id)
	var out *workset.Workset
	err = s.update(ctx, id, storekit.NormalizeNote(id, &reason), func(w *workset.Workset, now time.Time) error {
		storekit.ApplyNote(w, reason, now)
		if n := s.opts.HistoryLimit; n > 0 && len(w.History) > n {
			w.History = slices.Clone(w.History[len(w.History)-n:])
		}
		out = w.Clone()
		return nil
	})
	return out, err
}

// setKey keeps the idempotency key of the write that made id's state what
// it is (s.mu held).
func (s *Store) setKey(id, key string) {
	if s.lastKey == nil {
		s.lastKey = make(map[string]string)
	}
	s.lastKey[id] = key
}

// Transition implements workset.StateStore.
func (s *Store) Transition(ctx context.Context, req workset.TransitionRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	var out *workset.Workset
	err = s.update(ctx, req.ID, storekit.NormalizeTransition(&req), func(w *workset.Workset, now time.Time) error {
		key := s.lastKey[req.ID]
		retry, err := storekit.KeyedTransition(w, &key, req, now, s.opts.SkewMargin)
		if err != nil {
			return err
		}
		if retry {
			out = w.Clone() // a retry answers with the record as it is
			return nil
		}
		s.setKey(req.ID, key)
		if n := s.opts.HistoryLimit; n > 0 && len(w.History) > n {
			w.History = slices.Clone(w.History[len(w.History)-n:])
		}
		out = w.Clone()
		return nil
	})
	return out, err
}

// AcquireLease implements workset.StateStore.
func (s *Store) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, id)
	var out *workset.Lease
	err = s.update(ctx, id, storekit.ValidateLeaseRequest(id, owner, ttl), func(w *workset.Workset, now time.Time) (err error) {
		out, err = storekit.ApplyAcquire(w, owner, ttl, now, s.opts.SkewMargin)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Claim implements workset.Claimer: the lease and the move to in_progress in
// one step.
func (s *Store) Claim(ctx context.Context, req workset.ClaimRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	var out *workset.Workset
	err = s.update(ctx, req.ID, storekit.NormalizeClaim(&req), func(w *workset.Workset, now time.Time) error {
		key := s.lastKey[req.ID]
		retry, err := storekit.KeyedClaim(w, &key, req, now, s.opts.SkewMargin)
		if err != nil {
			return err
		}
		if retry {
			out = w.Clone() // a retry answers with the record as it is
			return nil
		}
		if n := s.opts.HistoryLimit; n > 0 && len(w.History) > n {
			w.History = slices.Clone(w.History[len(w.History)-n:])
		}
		s.setKey(w.ID, key)
		out = w.Clone()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RenewLease implements workset.StateStore.
func (s *Store) RenewLease(ctx context.Context, lease workset.Lease, ttl time.Duration) (_ *workset.Lease, err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	var out *workset.Lease
	err = s.update(ctx, lease.WorksetID, storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, ttl), func(w *workset.Workset, now time.Time) (err error) {
		out, err = storekit.ApplyRenew(w, lease, ttl, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReleaseLease implements workset.StateStore.
func (s *Store) ReleaseLease(ctx context.Context, lease workset.Lease) (err error) {
	defer storekit.WrapContextError(&err, lease.WorksetID)
	return s.update(ctx, lease.WorksetID, storekit.ValidateLeaseRequest(lease.WorksetID, lease.Owner, time.Second), func(w *workset.Workset, now time.Time) error {
		return storekit.ApplyRelease(w, lease, now)
	})
}

// Import implements workset.Importer.
func (s *Store) Import(ctx context.Context, req workset.ImportRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, storekit.ImportID(req))
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: import: %w", err)
	}
	if err := storekit.ValidateImport(req); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := req.Workset.Clone()
	cur, exists := s.byID[in.ID]
	switch {
	case req.IfAbsent && exists:
		return nil, &workset.Error{ID: in.ID, Kind: workset.ErrAlreadyExists}
	case !req.IfAbsent && !exists:
		return nil, notFound(in.ID)
	}
	if exists && !req.IfAbsent {
		if err := storekit.CheckImportReplace(cur, req); err != nil {
			return nil, err
		}
	}
	storekit.PrepareImport(in, req.Reason, s.now())
	in.Lease, in.FencingToken, in.Version = nil, 0, 1
	delete(s.lastKey, in.ID)
	if exists {
		in.Lease, in.FencingToken, in.Version = cur.Lease, cur.FencingToken, cur.Version+1
		s.byID[in.ID] = in
	} else {
		s.insertLocked(in)
	}
	return in.Clone(), nil
}

// Delete implements workset.Deleter.
func (s *Store) Delete(ctx context.Context, id string, expectedVersion int64) (err error) {
	defer storekit.WrapContextError(&err, id)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: delete %s: %w", id, err)
	}
	if err := workset.ValidateID(id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.byID[id]
	if !ok {
		return notFound(id)
	}
	if expectedVersion != 0 && w.Version != expectedVersion {
		return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected version %d, found %d", expectedVersion, w.Version)}
	}
	delete(s.byID, id)
	s.dirty = true // sorted still names id; compacted on the next sort
	return nil
}

// List implements workset.StateStore. Without a state filter the order is by ID;
// with one, by priority rank and then ID. Cursors are "rank/id" positions
// (base64url, so they pass any HTTP hop unchanged), so
// pages stay correct while worksets are added or removed.
func (s *Store) List(ctx context.Context, q workset.ListQuery) (_ *workset.Page, err error) {
	defer storekit.WrapContextError(&err, "")
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memstore: list: %w", err)
	}
	if err := storekit.NormalizeList(&q); err != nil {
		return nil, err
	}
	rank, after, err := parseCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	s.rlockSorted()
	defer s.mu.RUnlock()
	byPriority := q.State != ""
	page := &workset.Page{}
	ranks := []int{0}
	if byPriority {
		ranks = []int{0, 1, 2}
	}
	for _, r := range ranks {
		if r < rank {
			continue
		}
		start := 0
		if r == rank && after != "" {
			start, _ = slices.BinarySearch(s.sorted, after)
			if start < len(s.sorted) && s.sorted[start] == after {
				start++
			}
		}
		for _, id := range s.sorted[start:] {
			w := s.byID[id]
			if !matches(w, q) || (byPriority && w.Priority.Rank() != r) {
				continue
			}
			if len(page.Worksets) == q.Limit {
				last := page.Worksets[len(page.Worksets)-1]
				lastRank := 0
				if byPriority {
					lastRank = last.Priority.Rank()
				}
				page.Cursor = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d/%s", lastRank, last.ID))
				return page, nil
			}
			page.Worksets = append(page.Worksets, w.Clone())
		}
	}
	return page, nil
}

func matches(w *workset.Workset, q workset.ListQuery) bool {
	return (q.State == "" || w.State == q.State) && (q.Priority == "" || w.Priority == q.Priority) &&
		(q.Customer == "" || w.Attributes[storekit.AttrCustomerID] == q.Customer)
}

// rlockSorted takes the read lock with s.sorted up to date: pages are read
// under the read lock, so readers never wait on one another; only the first
// read after a write that added or removed IDs sorts, under the write lock.
func (s *Store) rlockSorted() {
	s.mu.RLock()
	for s.dirty {
		s.mu.RUnlock()
		s.mu.Lock()
		s.sortLocked()
		s.mu.Unlock()
		s.mu.RLock()
	}
}

func (s *Store) sortLocked() {
	if !s.dirty {
		return
	}
	s.sorted = slices.DeleteFunc(s.sorted, func(id string) bool { _, ok := s.byID[id]; return !ok })
	slices.Sort(s.sorted)
	s.sorted = slices.Compact(s.sorted)
	s.dirty = false
}

func parseCursor(c string) (rank int, after string, err error) {
	if c == "" {
		return 0, "", nil
	}
	raw, derr := base64.RawURLEncoding.DecodeString(c)
	r, id, ok := strings.Cut(string(raw), "/")
	if derr != nil || !ok || len(r) != 1 || r[0] < '0' || r[0] > '2' || workset.ValidateID(id) != nil {
		return 0, "", fmt.Errorf("%w: malformed list cursor %q", workset.ErrInvalidInput, c)
	}
	return int(r[0] - '0'), id, nil
}
