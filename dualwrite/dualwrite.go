// Package dualwrite composes a legacy store and a new store into one
// workset.StateStore that follows the migration phases, so monitor code
// switches with a one-line change and the migration proceeds underneath.
//
// # Phases and guarantees
//
//	LegacyOnly     reads and writes the legacy store only.
//	LegacyPrimary  writes legacy first, then mirrors to the new store; reads legacy.
//	NewPrimary     writes the new store first, then mirrors to legacy (the
//	               rollback copy, still seen by legacy monitors); reads new.
//	NewOnly        reads and writes the new store only.
//
// In the two dual phases:
//   - A call whose authoritative write fails returns that error and the mirror is
//     not written.
//   - A call whose mirror write fails is never silent: the divergence (workset,
//     operation, error, time) is recorded in the DivergenceLog, logged and
//     counted, and then, per Options.OnMirrorFailure, the call either succeeds
//     (RecordAndContinue, the default) or fails with ErrMirror
//     (FailCall; the authoritative write stays applied). If recording fails the
//     call fails.
//   - Leases and claims are exclusion, not state: a divergence recorded after
//     the fact cannot undo a second run. So they are taken in the
//     authoritative store, then in the mirror (an atomic create in the sentinel
//     store, and for a claim the in_progress sentinel that legacy monitors
//     respect), and one the mirror did not take is never handed out: the
//     authoritative lease is released (a claim is first moved back to the
//     state it left) and the caller gets the mirror's refusal (ErrLeaseHeld or
//     ErrNotLeasable when a legacy monitor has it) or ErrMirror. Set
//     Options.AllowUnmirroredLeases once no monitor reads the mirror any more
//     to record such failures as divergences instead. A renew that the mirror
//     refuses as lost releases the authoritative lease and reports
//     ErrLeaseLost.
//   - The mirror follows the authority: expected state and version apply to the
//     authoritative store only.
//   - Shadow reads (Options.ShadowReadRate) read the other store too and report
//     mismatches to Options.OnMismatch; they never change what the caller gets.
//
// The phase can change at run time (SetPhase); each call uses the phase it
// started with.
package dualwrite

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Phase is a migration phase.
type Phase int32

// The migration phases, in order.
const (
	LegacyOnly Phase = iota + 1
	LegacyPrimary
	NewPrimary
	NewOnly
)

func (p Phase) String() string {
	switch p {
	case LegacyOnly:
		return "legacy-only"
	case LegacyPrimary:
		return "legacy-primary"
	case NewPrimary:
		return "new-primary"
	case NewOnly:
		return "new-only"
	}
	return fmt.Sprintf("Phase(%d)", int32(p))
}

// ParsePhase parses a phase name as String prints it.
func ParsePhase(s string) (Phase, error) {
	for p := LegacyOnly; p <= NewOnly; p++ {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown phase %q (valid: legacy-only, legacy-primary, new-primary, new-only)", workset.ErrInvalidInput, s)
}

// MirrorFailure says what a call does when its mirror write fails (the
// divergence is recorded either way).
type MirrorFailure int

const (
	// RecordAndContinue: the call succeeds; the Migrator repairs the divergence.
	RecordAndContinue MirrorFailure = iota
	// FailCall: the call fails with ErrMirror (the authoritative write stays).
	FailCall
)

// ErrMirror marks a call that failed because its mirror write failed.
var ErrMirror = errors.New("dualwrite: mirror write failed")

// Mismatch is a difference a shadow read found.
type Mismatch struct {
	WorksetID string
	// Diff is a go-cmp diff, authoritative (-) against the other store (+).
	Diff string
}

// Options configure a Writer.
type Options struct {
	// Phase at construction (default LegacyPrimary).
	Phase Phase
	// OnMirrorFailure is the mirror-failure policy for state changes (default
	// RecordAndContinue). Leases and claims follow AllowUnmirroredLeases.
	OnMirrorFailure MirrorFailure
	// AllowUnmirroredLeases hands out a lease or claim that the mirror failed
	// to take (recording the divergence) instead of refusing it. Leave it off
	// while any monitor may read the mirror (legacy monitors polling the
	// bucket in NewPrimary, DynamoDB-side monitors in LegacyPrimary): such a
	// monitor sees the workset free and runs it a second time.
	AllowUnmirroredLeases bool
	// Divergences receives divergence records (default a new *MemoryLog).
	Divergences DivergenceLog
	// ShadowReadRate is the fraction of Get calls that also read the other store
	// and compare (0 disables; 1 compares every read).
	ShadowReadRate float64
	// OnMismatch receives shadow-read mismatches (may be nil; they are still
	// counted and logged).
	OnMismatch func(Mismatch)
	// Clock stamps divergence records (default workset.SystemClock).
	Clock workset.Clock
	// Logger (default: discarded).
	Logger *slog.Logger
}

// Stats are the Writer's counters.
type Stats struct {
	Divergences int64
	ShadowReads int64
	Mismatches  int64
}

// Writer is the dual-writing StateStore.
type Writer struct {
	legacy, next workset.StateStore
	opts         Options
	phase        atomic.Int32

	divergences, shadowReads, mismatches atomic.Int64

	// leases pairs the latest lease handed out per workset with the other
	// store's lease for the same claim.
	mu     sync.Mutex
	leases map[string]leasePair
}

var _ workset.StateStore = (*Writer)(nil)

type leasePair [2]*workset.Lease // [legacy, new]

// New returns a Writer over a legacy and a new store.
func New(legacy, next workset.StateStore, optFns ...func(*Options)) (*Writer, error) {
	o := Options{Phase: LegacyPrimary, Clock: workset.SystemClock}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	switch {
	case legacy == nil || next == nil:
		return nil, fmt.Errorf("%w: dualwrite: both stores are required", workset.ErrInvalidInput)
	case o.Phase < LegacyOnly || o.Phase > NewOnly:
		return nil, fmt.Errorf("%w: dualwrite: unknown phase %d", workset.ErrInvalidInput, o.Phase)
	case o.ShadowReadRate < 0 || o.ShadowReadRate > 1:
		return nil, fmt.Errorf("%w: dualwrite: ShadowReadRate %v outside [0, 1]", workset.ErrInvalidInput, o.ShadowReadRate)
	case o.Clock == nil:
		return nil, fmt.Errorf("%w: dualwrite: nil Clock", workset.ErrInvalidInput)
	}
	if o.Divergences == nil {
		o.Divergences = &MemoryLog{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{legacy: legacy, next: next, opts: o, leases: make(map[string]leasePair)}
	w.phase.Store(int32(o.Phase))
	return w, nil
}

// Phase returns the current phase.
func (w *Writer) Phase() Phase { return Phase(w.phase.Load()) }

// Stores returns the two stores the Writer composes (for a verify between
// them, as the operator console runs).
func (w *Writer) Stores() (legacy, next workset.StateStore) { return w.legacy, w.next }

// SetPhase switches the phase; calls already running finish in the old one.
func (w *Writer) SetPhase(p Phase) error {
	if p < LegacyOnly || p > NewOnly {
		return fmt.Errorf("%w: dualwrite: unknown phase %d", workset.ErrInvalidInput, p)
	}
	old := Phase(w.phase.Swap(int32(p)))
	w.opts.Logger.Info("dualwrite phase switched", "from", old, "to", p)
	return nil
}

// Divergences returns the divergence log.
func (w *Writer) Divergences() DivergenceLog { return w.opts.Divergences }

// Stats returns the counters.
func (w *Writer) Stats() Stats {
	return Stats{Divergences: w.divergences.Load(), ShadowReads: w.shadowReads.Load(), Mismatches: w.mismatches.Load()}
}

// route is the phase's authoritative store, its mirror (nil in single phases),
// and their sides.
type route struct {
	primary, mirror workset.StateStore
	pSide, mSide    int
	mirrorName      string
}

func (w *Writer) route() route {
	switch w.Phase() {
	case LegacyOnly:
		return route{primary: w.legacy, pSide: 0, mSide: 1}
	case LegacyPrimary:
		return route{primary: w.legacy, mirror: w.next, pSide: 0, mSide: 1, mirrorName: "new"}
	case NewPrimary:
		return route{primary: w.next, mirror: w.legacy, pSide: 1, mSide: 0, mirrorName: "legacy"}
	default:
		return route{primary: w.next, pSide: 1, mSide: 0}
	}
}

// Note implements workset.Noter: the note goes to the authoritative store,
// then to the mirror when it keeps a history (a failure there is recorded as
// a divergence, as for a transition).
func (w *Writer) Note(ctx context.Context, id, reason string) (*workset.Workset, error) {
	r := w.route()
	out, err := workset.Note(ctx, r.primary, id, reason)
	if err != nil || r.mirror == nil {
		return out, err
	}
	if _, err := workset.Note(ctx, r.mirror, id, reason); err != nil && !errors.Is(err, workset.ErrUnsupported) {
		if derr := w.diverged(ctx, r, id, "note", err); derr != nil {
			return nil, derr
		}
	}
	return out, nil
}

// CountByState implements observe.Counter with the authoritative store's own
// counting (workset.Has tells whether it counts without reading: the Writer
// unwraps to that store).
func (w *Writer) CountByState(ctx context.Context) (map[workset.State]int64, error) {
	return observe.CountByState(ctx, w.route().primary)
}

// Unwrap implements workset.Wrapper: the authoritative store of the current
// phase, whose abilities the Writer's optional interfaces stand for
// (workset.Has).
func (w *Writer) Unwrap() workset.StateStore { return w.route().primary }

// Capabilities are the authoritative store's.
func (w *Writer) Capabilities() workset.Capabilities { return w.route().primary.Capabilities() }

// diverged records a mirror failure and applies the policy.
func (w *Writer) diverged(ctx context.Context, r route, id, op string, err error) error {
	w.divergences.Add(1)
	d := Divergence{WorksetID: id, Op: op, Mirror: r.mirrorName, Err: err.Error(), At: w.opts.Clock.Now()}
	w.opts.Logger.WarnContext(ctx, "dualwrite divergence", "workset", id, "op", op, "mirror", r.mirrorName, "err", err)
	if rerr := w.opts.Divergences.Record(ctx, d); rerr != nil {
		return &workset.Error{ID: id, Kind: ErrMirror, Detail: op, Err: fmt.Errorf("%w (and recording the divergence failed: %w)", err, rerr)}
	}
	if w.opts.OnMirrorFailure == FailCall {
		return &workset.Error{ID: id, Kind: ErrMirror, Detail: fmt.Sprintf("%s on the %s store", op, r.mirrorName), Err: err}
	}
	return nil
}

// Register implements workset.StateStore.
func (w *Writer) Register(ctx context.Context, req workset.RegisterRequest) (*workset.Workset, error) {
	r := w.route()
	out, err := r.primary.Register(ctx, req)
	if err != nil || r.mirror == nil {
		return out, err
	}
	if _, err := r.mirror.Register(ctx, req); err != nil {
		if derr := w.diverged(ctx, r, req.ID, "register", err); derr != nil {
			return nil, derr
		}
	}
	return out, nil
}

// Get implements workset.StateStore, with sampled shadow reads.
func (w *Writer) Get(ctx context.Context, id string) (*workset.Workset, error) {
	r := w.route()
	out, err := r.primary.Get(ctx, id)
	if err != nil || r.mirror == nil || w.opts.ShadowReadRate == 0 || rand.Float64() >= w.opts.ShadowReadRate {
		return out, err
	}
	w.shadowReads.Add(1)
	other, oerr := r.mirror.Get(ctx, id)
	var diff string
	if oerr != nil {
		diff = fmt.Sprintf("the %s store: %v", r.mirrorName, oerr)
	} else {
		pc, mc := r.primary.Capabilities(), r.mirror.Capabilities()
		a, b := storekit.Project(out, nil, pc, mc), storekit.Project(other, nil, pc, mc)
		if fields := storekit.DiffFields(a, b); len(fields) > 0 { // the Migrator's comparison; cmp only to show it
			diff = fmt.Sprintf("fields %v differ:\n%s", fields, cmp.Diff(a, b))
		}
		if a, b := out.Lease, other.Lease; (a == nil) != (b == nil) || (a != nil && a.Owner != b.Owner) {
			diff += fmt.Sprintf("lease: %s holds %v, the %s store %v\n", "the authoritative store", leaseOwner(a), r.mirrorName, leaseOwner(b))
		}
	}
	if diff != "" {
		w.mismatches.Add(1)
		w.opts.Logger.WarnContext(ctx, "dualwrite shadow-read mismatch", "workset", id, "diff", diff)
		if w.opts.OnMismatch != nil {
			w.opts.OnMismatch(Mismatch{WorksetID: id, Diff: diff})
		}
	}
	return out, nil
}

func leaseOwner(l *workset.Lease) string {
	if l == nil {
		return "no lease"
	}
	return "a lease of " + l.Owner
}

// List implements workset.StateStore: the authoritative store's list.
func (w *Writer) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	return w.route().primary.List(ctx, q)
}

// Transition implements workset.StateStore.
func (w *Writer) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	r := w.route()
	preq := req
	if req.Lease != nil {
		preq.Lease = w.leaseFor(r.pSide, *req.Lease)
	}
	out, err := r.primary.Transition(ctx, preq)
	if err != nil || r.mirror == nil {
		return out, err
	}
	mreq := req
	mreq.ExpectedVersion, mreq.Lease = 0, nil
	if !storekit.IsRestore(req) { // a restore keeps its ExpectedState: it is what makes it one
		mreq.ExpectedState = ""
	}
	if req.Lease != nil {
		mreq.Lease = w.leaseFor(r.mSide, *req.Lease)
	}
	if _, err := r.mirror.Transition(ctx, mreq); err != nil {
		if errors.Is(err, workset.ErrInvalidTransition) {
			if cur, gerr := r.mirror.Get(ctx, req.ID); gerr == nil && cur.State == req.To {
				return out, nil // the mirror already says so
			}
		}
		if derr := w.diverged(ctx, r, req.ID, "transition", err); derr != nil {
			return nil, derr
		}
	}
	return out, nil
}

// remember pairs two leases for one claim (the latest claim per workset).
func (w *Writer) remember(side int, l, other *workset.Lease) {
	pair := leasePair{}
	pair[side], pair[1-side] = l, other
	w.mu.Lock()
	w.leases[l.WorksetID] = pair
	w.mu.Unlock()
}

func (w *Writer) forget(l workset.Lease) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.leases[l.WorksetID]; ok && p.has(l) {
		delete(w.leases, l.WorksetID)
	}
}

func (p leasePair) has(l workset.Lease) bool {
	for _, x := range p {
		if x != nil && x.Owner == l.Owner && x.Token == l.Token {
			return true
		}
	}
	return false
}

// leaseFor finds the lease that the store on side holds for the claim l stands
// for: its pair when this Writer handed l out, l itself otherwise. (A pairing
// lost to a restart is never guessed from the store's current lease, which
// would defeat fencing: the mirror then refuses, and the divergence is
// recorded.)
func (w *Writer) leaseFor(side int, l workset.Lease) *workset.Lease {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p, ok := w.leases[l.WorksetID]; ok && p.has(l) && p[side] != nil {
		return p[side]
	}
	return &l
}

// mirrorLeaseMissing reports whether l is a known claim whose mirror lock was
// never taken (the mirror failed during AcquireLease or a renewal).
func (w *Writer) mirrorLeaseMissing(mSide int, l workset.Lease) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.leases[l.WorksetID]
	return ok && p.has(l) && p[mSide] == nil
}

// AcquireLease implements workset.StateStore.
func (w *Writer) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (*workset.Lease, error) {
	r := w.route()
	pl, err := r.primary.AcquireLease(ctx, id, owner, ttl)
	if err != nil || r.mirror == nil {
		if err == nil {
			w.remember(r.pSide, pl, nil)
		}
		return pl, err
	}
	ml, err := r.mirror.AcquireLease(ctx, id, owner, ttl)
	if errors.Is(err, workset.ErrLeaseHeld) {
		// Someone (a legacy monitor) holds the mirror's lock: back out.
		if rerr := r.primary.ReleaseLease(ctx, *pl); rerr != nil {
			return nil, fmt.Errorf("%w (and releasing the %s lease failed: %w)", err, "authoritative", rerr)
		}
		return nil, err
	}
	if err != nil {
		if !w.opts.AllowUnmirroredLeases {
			if rerr := r.primary.ReleaseLease(context.WithoutCancel(ctx), *pl); rerr != nil {
				err = fmt.Errorf("%w (and releasing the authoritative lease failed: %w)", err, rerr)
			}
			return nil, &workset.Error{ID: id, Kind: ErrMirror, Detail: fmt.Sprintf("the %s store did not take the lease; not handed out", r.mirrorName), Err: err}
		}
		if derr := w.diverged(ctx, r, id, "acquire", err); derr != nil {
			_ = r.primary.ReleaseLease(ctx, *pl)
			return nil, derr
		}
		ml = nil
	}
	w.remember(r.pSide, pl, ml)
	return pl, nil
}

// Claim implements workset.Claimer: the authoritative store claims (in one
// write where it can), then the mirror (its lease and in_progress). A claim
// the mirror did not take is backed out, so the caller never runs a workset
// that a monitor reading the mirror sees as free (see the package doc and
// Options.AllowUnmirroredLeases). req.IdempotencyKey goes to both stores.
func (w *Writer) Claim(ctx context.Context, req workset.ClaimRequest) (*workset.Workset, error) {
	r := w.route()
	out, err := workset.Claim(ctx, r.primary, req)
	if err != nil || r.mirror == nil {
		if err == nil {
			w.remember(r.pSide, out.Lease, nil)
		}
		return out, err
	}
	mw, merr := workset.Claim(ctx, r.mirror, req)
	if merr == nil {
		w.remember(r.pSide, out.Lease, mw.Lease)
		return out, nil
	}
	refused := errors.Is(merr, workset.ErrLeaseHeld) || errors.Is(merr, workset.ErrNotLeasable) || errors.Is(merr, workset.ErrConflict)
	if !refused && w.opts.AllowUnmirroredLeases {
		if derr := w.diverged(ctx, r, req.ID, "claim", merr); derr == nil {
			w.remember(r.pSide, out.Lease, nil)
			return out, nil
		}
	}
	if berr := w.backOut(context.WithoutCancel(ctx), r, out, merr); berr != nil {
		merr = fmt.Errorf("%w (and backing the authoritative claim out failed: %w)", merr, berr)
		if derr := w.diverged(ctx, r, req.ID, "claim back-out", berr); derr != nil {
			merr = fmt.Errorf("%w; %w", merr, derr)
		}
	}
	if refused {
		return nil, merr
	}
	return nil, &workset.Error{ID: req.ID, Kind: ErrMirror, Detail: fmt.Sprintf("the %s store did not take the claim; backed out", r.mirrorName), Err: merr}
}

// backOut undoes a claim of the authoritative store: the workset goes back to
// the state it left (a forced, fenced transition recording why), and the
// lease is released.
func (w *Writer) backOut(ctx context.Context, r route, claimed *workset.Workset, cause error) error {
	prev := workset.StateReady
	if n := len(claimed.History); n >= 2 && workset.IsLeasable(claimed.History[n-2].State) {
		prev = claimed.History[n-2].State
	}
	_, err := r.primary.Transition(ctx, workset.TransitionRequest{ID: claimed.ID, To: prev, Force: true, Lease: claimed.Lease,
		ExpectedState: workset.StateInProgress, Reason: fmt.Sprintf("claim by %s backed out: the %s store did not take it (%v)", claimed.Lease.Owner, r.mirrorName, cause)})
	if rerr := r.primary.ReleaseLease(ctx, *claimed.Lease); err == nil {
		err = rerr
	}
	return err
}

// RenewLease implements workset.StateStore.
func (w *Writer) RenewLease(ctx context.Context, lease workset.Lease, ttl time.Duration) (*workset.Lease, error) {
	r := w.route()
	pl, err := r.primary.RenewLease(ctx, *w.leaseFor(r.pSide, lease), ttl)
	if err != nil || r.mirror == nil {
		return pl, err
	}
	var ml *workset.Lease
	missing := w.mirrorLeaseMissing(r.mSide, lease)
	if missing {
		// The mirror was down when the lease was taken (a divergence was
		// recorded then): take its lock now that it may be back, rather than
		// asking it to renew a lock it never gave.
		ml, err = r.mirror.AcquireLease(ctx, lease.WorksetID, lease.Owner, ttl)
	} else {
		ml, err = r.mirror.RenewLease(ctx, *w.leaseFor(r.mSide, lease), ttl)
	}
	if errors.Is(err, workset.ErrLeaseLost) || errors.Is(err, workset.ErrLeaseHeld) {
		// The mirror's lock went to someone else: the claim is no longer exclusive.
		_ = r.primary.ReleaseLease(ctx, *pl)
		w.forget(lease)
		return nil, &workset.Error{ID: lease.WorksetID, Kind: workset.ErrLeaseLost, Detail: fmt.Sprintf("the %s store's lease was lost", r.mirrorName), Err: err}
	}
	if err != nil {
		if derr := w.diverged(ctx, r, lease.WorksetID, "renew", err); derr != nil {
			return nil, derr
		}
		// The mirror still holds the lock it gave (until its own expiry): keep
		// the pairing, so later fenced writes still reach it.
		ml = nil
		if !missing {
			ml = w.leaseFor(r.mSide, lease)
		}
	}
	w.remember(r.pSide, pl, ml)
	return pl, nil
}

// ReleaseLease implements workset.StateStore.
func (w *Writer) ReleaseLease(ctx context.Context, lease workset.Lease) error {
	r := w.route()
	if err := r.primary.ReleaseLease(ctx, *w.leaseFor(r.pSide, lease)); err != nil || r.mirror == nil {
		if err == nil {
			w.forget(lease)
		}
		return err
	}
	ml := w.leaseFor(r.mSide, lease)
	w.forget(lease)
	if err := r.mirror.ReleaseLease(ctx, *ml); err != nil {
		return w.diverged(ctx, r, lease.WorksetID, "release", err)
	}
	return nil
}

// Scan implements workset.Scanner: the authoritative store's Scan, or its pages.
func (w *Writer) Scan(ctx context.Context, q workset.ListQuery) iter.Seq2[*workset.Workset, error] {
	return workset.Scan(ctx, w.route().primary, q)
}

// GetMany implements workset.BatchGetter: the authoritative store's GetMany, or Get.
func (w *Writer) GetMany(ctx context.Context, ids []string) (map[string]*workset.Workset, error) {
	return workset.GetMany(ctx, w.route().primary, ids)
}

// Import implements workset.Importer: the authoritative store imports (or
// reports ErrUnsupported), then the mirror imports the record as stored there,
// without the expected version (versions are per store). A mirror failure is
// a divergence, as for every other write.
func (w *Writer) Import(ctx context.Context, req workset.ImportRequest) (*workset.Workset, error) {
	r := w.route()
	out, err := workset.Import(ctx, r.primary, req)
	if err != nil || r.mirror == nil {
		return out, err
	}
	// The mirror is a copy: it gets the record as stored, created or replaced
	// whatever it held before.
	mreq := workset.ImportRequest{Workset: out.Clone(), IfAbsent: req.IfAbsent}
	_, err = workset.Import(ctx, r.mirror, mreq)
	switch {
	case errors.Is(err, workset.ErrNotFound) && !mreq.IfAbsent,
		errors.Is(err, workset.ErrAlreadyExists) && mreq.IfAbsent:
		mreq.IfAbsent = !mreq.IfAbsent
		_, err = workset.Import(ctx, r.mirror, mreq)
	}
	if err != nil {
		if derr := w.diverged(ctx, r, out.ID, "import", err); derr != nil {
			return nil, derr
		}
	}
	return out, nil
}

// Delete implements workset.Deleter: the authoritative store deletes (or
// reports ErrUnsupported), then the mirror, whatever its version; a record
// already missing from the mirror is not a divergence.
func (w *Writer) Delete(ctx context.Context, id string, expectedVersion int64) error {
	r := w.route()
	if err := workset.Delete(ctx, r.primary, id, expectedVersion); err != nil || r.mirror == nil {
		return err
	}
	if err := workset.Delete(ctx, r.mirror, id, 0); err != nil && !errors.Is(err, workset.ErrNotFound) {
		if derr := w.diverged(ctx, r, id, "delete", err); derr != nil {
			return derr
		}
	}
	return nil
}

var (
	_ workset.Claimer     = (*Writer)(nil)
	_ workset.Wrapper     = (*Writer)(nil)
	_ workset.Scanner     = (*Writer)(nil)
	_ workset.BatchGetter = (*Writer)(nil)
	_ workset.Importer    = (*Writer)(nil)
	_ workset.Deleter     = (*Writer)(nil)
)
