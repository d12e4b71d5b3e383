// Package sentinel is a workset.StateStore over the legacy S3 sentinel layout:
// a workset's state is the set of marker objects directly under its prefix
// (worksets/ws-001/_READY, daylily.lock, ...), read and written exactly as
// legacy monitors do, and made as safe as S3 allows.
//
// # Layout
//
// Workset ws-001 lives under Root + "ws-001/". Only objects directly under that
// prefix whose names are in the Naming count; data files and anything in
// subfolders are never touched or counted. When several sentinels are present,
// the Naming's precedence decides the state. A prefix with no sentinel is skipped
// or read as ready, per the NoSentinel policy.
//
// # What legacy readers see
//
// The body of every sentinel this SDK writes is exactly one line,
// "<timestamp>\t<detail>" (the write's time in UTC with microseconds and a Z;
// the error details, the reason, or a short description, on one line), which
// is what the daylily monitor's report splits and the guide's reader ignores.
// The SDK's own record (lease, retry record, claim, idempotency key) is kept
// in the object's user metadata (MetaKey), written and read in the same
// request as the body. Two objects no legacy reader knows may appear in a
// folder: the empty .worksetstate, created before the SDK's first write there
// (so that a pass knows which folders may hold its records), and the fence
// objects below.
//
// # What it can and cannot promise
//
//   - Leases are atomic on an endpoint that honours conditional writes (Probe):
//     the lock object is created with If-None-Match: * and replaced or deleted
//     with If-Match, so two owners never both hold it. On an endpoint that fails
//     the probe (it ignores If-None-Match, If-Match or conditional deletes), every
//     write is refused with ErrUnsupported unless Options.AllowRacyWrites is set;
//     reads work everywhere.
//   - Fencing tokens are the acquisition time in microseconds, and at least one
//     more than the last token issued: the lock object carries it while a lease
//     is held, and ReleaseLease leaves a fence object (.worksetstate-fence-<token>,
//     a name no legacy reader knows) when it deletes the lock object. So tokens
//     strictly grow across release and re-acquire whatever the clocks say.
//   - A transition first claims the sentinel that decides the current state (a
//     compare-and-swap on its ETag, after reading it: a claim another writer
//     made less than ClaimTimeout ago refuses the transition with ErrConflict),
//     so of concurrent unfenced transitions from one state exactly one
//     succeeds; then writes the target sentinel; then removes the sentinels
//     that would mask it, lowest precedence first and the old deciding sentinel
//     last. Until that last delete the workset reads as its old state, after it
//     as the new one: it never reads as a state nobody asked for. A crash in
//     between leaves the old state readable (and claimed for ClaimTimeout);
//     after that a retry completes the move.
//   - What stays non-linearizable: an unfenced transition racing lease calls.
//     It checks for a live lease when it reads, then claims the state sentinel,
//     not the lock object; S3 cannot condition one object's write on another's,
//     so a lease acquired between that read and the claim is not seen. Monitors
//     transition under their lease (fenced), which claims the lock object and is
//     linearizable (internal/reliability checks both with porcupine).
//   - A fenced write (TransitionRequest.Lease) claims the lock object instead,
//     so a writer whose lease was taken over is refused. An unfenced write is
//     refused while a live lease is seen when it reads the workset.
//   - The retry record (retry count, retry time, failed step, error category
//     and details) is kept in the body of the retrying, failed, error or
//     in_progress sentinel, so RecordFailure and monitors bound retries here as
//     on DynamoDB.
//   - Not stored (see Capabilities): priority (everything reads as normal),
//     metadata and attributes, versions, exact timestamps (CreatedAt and
//     UpdatedAt come from the objects' LastModified) and the history (one entry
//     per sentinel present, with its LastModified time).
//
// # Requests per operation
//
//	Get                 1 List (+1 Get when a lock object exists, legacy ones
//	                    included, so that the time in their body decides their
//	                    expiry; +1 Get of the retry record in retrying, failed,
//	                    error or in_progress)
//	Register            1 List, (+1 Create of the folder marker the first
//	                    time), 1 Create, then a Get
//	Transition          1 List (+1 Get), (+1 Create of the marker the first
//	                    time), 1 Get of the deciding sentinel (not for bare
//	                    legacy timestamps), 1 claim Replace, 1 Create or
//	                    Replace, 1 Delete per masking sentinel, then a Get
//	AcquireLease        1 List (+1 Get), (+1 Create of the marker the first
//	                    time), 1 Create (new) or Replace (takeover),
//	                    +1 Delete of a spent fence object after a release
//	RenewLease          1 Get, 1 Replace
//	ReleaseLease        1 Get, 1 Create (the fence object), 1 Delete
//	List / Scan         for N worksets with F keys each (data files included):
//	                    shallow folders (F <= 31, the guide's layout): one
//	                    prefix-wide listing, ceil(N*F / 1000) List calls in a
//	                    row; deep folders (daylily's FASTQ files): its first
//	                    page, then ceil(N / 1000) delimiter listings of the
//	                    folders and one delimiter listing a folder (its direct
//	                    objects only, never its subfolders'), up to
//	                    ReadConcurrency in flight, adapting; either way, in
//	                    the folders marked as written by this SDK only, +1 Get
//	                    per lock object and, for a pass that is not by state,
//	                    +1 Get per retry record, each only when its body is
//	                    longer than a bare timestamp (29 bytes or more). A
//	                    folder only legacy tools wrote costs no Get, except
//	                    for a body of 80 bytes or more (earlier SDK versions
//	                    wrote those before folders were marked; a long legacy
//	                    message is read too). The pass picks the shape from
//	                    its first page; memory is bounded by a batch of 100
//	                    folders. A page of List lists the folders it still
//	                    needs (an eighth more when it filters by state).
//	CheckLayout beside  one pass between them: under storekit.ShareReads (the
//	a pass              Migrator's dry run) each listing serves both.
package sentinel

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/internal/adaptive"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// DefaultRoot is the default prefix holding the worksets.
const DefaultRoot = "worksets/"

// DaylilyRoot is the prefix the legacy daylily monitor keeps its worksets in.
const DaylilyRoot = "daylily_monitoring/active_worksets/"

// LegacyOwner is the owner reported for a lock object a legacy monitor wrote.
const LegacyOwner = "legacy-monitor"

// Options configure a Store.
type Options struct {
	// Root is the prefix under which each workset has its own folder (default
	// "worksets/"; must be empty or end in "/").
	Root string
	// Naming is the sentinel convention (default GuideNaming()).
	Naming Naming
	// NoSentinel says what a prefix without any sentinel is (default: what the
	// naming's own reader does, Naming.NoSentinel: ready for the guide's,
	// skip for the daylily monitor's).
	NoSentinel NoSentinel
	// Clock tells the time (default workset.SystemClock).
	Clock workset.Clock
	// SkewMargin is how long past its expiry a lease is still respected
	// (default 1s).
	SkewMargin time.Duration
	// LegacyLockTTL is how long a lock object written by a legacy monitor is
	// respected after the time in its body (or its LastModified), the deployed
	// default lock timeout (default 1h). Past it, the lock no longer holds a
	// ready workset back; but a workset a legacy monitor made active (its own
	// daylily.in_progress, or a _LOCKED that marks the locked state) is never
	// taken over, however old: those monitors never renew anything while they
	// run (see workset.Workset.ForeignWork).
	LegacyLockTTL time.Duration
	// AllowRacyWrites permits writes (registration, transitions, imports,
	// leases, deletes) on an endpoint that failed Probe, accepting the legacy,
	// racy behaviour: two registrations or transitions may both succeed there.
	AllowRacyWrites bool
	// ClaimTimeout is how long a transition's claim on the deciding sentinel
	// holds off other transitions from the same state (default 30s). A writer
	// that dies between its claim and its last write blocks unforced
	// transitions of that workset for this long; after it, a retry completes.
	ClaimTimeout time.Duration
	// ReadConcurrency bounds the parallel reads of a pass: lock objects and
	// retry records, and on a deep layout the folder listings, whose number
	// in flight adapts below it as the Migrator's writes do, backing off
	// when S3 throttles (default 64).
	ReadConcurrency int
	// Logger receives debug logs (default: discarded).
	Logger *slog.Logger
}

// Store is the sentinel StateStore.
type Store struct {
	bucket Bucket
	opts   Options

	probeMu sync.Mutex
	probe   *ProbeResult
	// atomic is Capabilities().Guarantees.AtomicLeases, fixed at construction.
	atomic bool
	// walker runs the passes (List, Scan).
	walker *walker
}

var (
	_ workset.StateStore = (*Store)(nil)
	_ workset.Importer   = (*Store)(nil)
	_ workset.Deleter    = (*Store)(nil)
	_ workset.Scanner    = (*Store)(nil)
)

// New returns a store over bucket. It makes no request: the first write probes
// the endpoint (see Probe) and, unless Options.AllowRacyWrites is set, every
// write is refused on an endpoint without conditional writes, so the store's
// writes are atomic or not made at all. Open probes at once instead.
func New(bucket Bucket, optFns ...func(*Options)) (*Store, error) {
	o := Options{Root: DefaultRoot, Naming: GuideNaming(), Clock: workset.SystemClock, SkewMargin: time.Second,
		LegacyLockTTL: time.Hour, ReadConcurrency: 64, ClaimTimeout: 30 * time.Second}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	switch {
	case bucket == nil:
		return nil, fmt.Errorf("%w: sentinel: nil bucket", workset.ErrInvalidInput)
	case o.Root != "" && !strings.HasSuffix(o.Root, "/"):
		return nil, fmt.Errorf("%w: sentinel: Root %q must end in \"/\"", workset.ErrInvalidInput, o.Root)
	case strings.HasPrefix(o.Root, "/"):
		return nil, fmt.Errorf("%w: sentinel: Root %q must not start with \"/\"", workset.ErrInvalidInput, o.Root)
	case o.Clock == nil:
		return nil, fmt.Errorf("%w: sentinel: nil Clock", workset.ErrInvalidInput)
	case o.SkewMargin < 0 || o.LegacyLockTTL <= 0:
		return nil, fmt.Errorf("%w: sentinel: negative SkewMargin or non-positive LegacyLockTTL", workset.ErrInvalidInput)
	case o.ClaimTimeout <= 0:
		return nil, fmt.Errorf("%w: sentinel: ClaimTimeout %v must be positive", workset.ErrInvalidInput, o.ClaimTimeout)
	case o.ReadConcurrency < 1:
		return nil, fmt.Errorf("%w: sentinel: ReadConcurrency must be at least 1", workset.ErrInvalidInput)
	case o.NoSentinel != NoSentinelDefault && o.NoSentinel != NoSentinelSkip && o.NoSentinel != NoSentinelReady:
		return nil, fmt.Errorf("%w: sentinel: unknown NoSentinel policy %d", workset.ErrInvalidInput, o.NoSentinel)
	}
	if err := o.Naming.Validate(); err != nil {
		return nil, err
	}
	if o.NoSentinel == NoSentinelDefault {
		o.NoSentinel = o.Naming.NoSentinel
	}
	if o.NoSentinel == NoSentinelDefault {
		o.NoSentinel = NoSentinelSkip
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{bucket: bucket, opts: o, atomic: !o.AllowRacyWrites,
		walker: &walker{b: bucket, root: o.Root, lim: adaptive.NewFrom(o.ReadConcurrency, o.ReadConcurrency, false), batch: 100, shape: &passShape{}}}, nil
}

// Open is New followed by Probe, so that an endpoint's lack of conditional
// writes is known before the store is used: without Options.AllowRacyWrites
// such an endpoint is refused here with ErrUnsupported; with it, the store is
// returned and its Capabilities say whether the probe found writes atomic.
func Open(ctx context.Context, bucket Bucket, optFns ...func(*Options)) (*Store, error) {
	s, err := New(bucket, optFns...)
	if err != nil {
		return nil, err
	}
	r, err := s.Probe(ctx)
	if err != nil {
		return nil, err
	}
	if s.opts.AllowRacyWrites {
		s.atomic = r.Atomic()
	} else if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Bucket returns the store's bucket.
func (s *Store) Bucket() Bucket { return s.bucket }

// Options returns a copy of the store's options.
func (s *Store) Options() Options { return s.opts }

// Capabilities reports what sentinels can hold: the state, retry records and
// leases, nothing else. AtomicLeases holds unless Options.AllowRacyWrites is
// set (every write is then atomic or refused); with it, only a store from Open
// whose probe found conditional writes reports it. The value never changes
// after construction.
func (s *Store) Capabilities() workset.Capabilities {
	return workset.Capabilities{Kept: workset.Kept{Retries: true},
		Guarantees: workset.Guarantees{AtomicLeases: s.atomic, Durable: true}}
}

func (s *Store) now() time.Time { return storekit.TruncateTime(s.opts.Clock.Now()) }

// Prefix returns the prefix of a workset's folder.
func (s *Store) Prefix(id string) string { return s.opts.Root + id + "/" }

func (s *Store) key(id string, st workset.State) string {
	return s.Prefix(id) + s.opts.Naming.Names[st]
}

func notFound(id string) error { return &workset.Error{ID: id, Kind: workset.ErrNotFound} }

// nextToken is the fencing token of a new lease: at least the microseconds
// since the epoch (so tokens grow across releases whatever is left), and
// always above last. At the largest token there is no next one: it refuses
// rather than wrap around to a smaller token.
func nextToken(id string, now time.Time, last int64) (int64, error) {
	if last == math.MaxInt64 {
		return 0, &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("the fencing token is at its largest value (%d): no larger one can be issued; remove the workset's %s* objects by hand once no one holds it", last, fencePrefix)}
	}
	return max(now.UnixMicro(), last+1), nil
}

// snapshot is what one workset's folder holds.
type snapshot struct {
	id        string
	sentinels map[workset.State]Object // state sentinels present; StateLocked is the lock object
	lock      *Body                    // the lock object's body, when it exists
	other     bool                     // data files or subfolders exist
	fence     int64                    // the largest token named by a fence object
	fences    []Object                 // the fence objects
	marked    bool                     // the folder holds markerName: this SDK has written here
	// record is the body of the sentinel that carries the retry record and
	// error details (retrying, failed, error or in_progress), when one written
	// by this SDK exists, or, for a single workset's read, a legacy one;
	// recordState is its state.
	record      *Body
	recordState workset.State
	// invalid is why the folder's name is not a valid workset ID (nil when it
	// is): such a folder is read, and reported as unreadable, never skipped
	// without a word.
	invalid error
	// recordForeign is set when the deciding sentinel's body was read and is
	// not this SDK's own, or is marked as imported from another tool's record.
	recordForeign bool
}

// recordStates are the states whose sentinel bodies carry the retry record,
// in the order they are looked for (in_progress carries the count on to the
// next failure).
var recordStates = []workset.State{workset.StateRetrying, workset.StateFailed, workset.StateError, workset.StateInProgress}

// fencePrefix names the objects that keep the last fencing token while no
// lock object exists: ReleaseLease writes .worksetstate-fence-<token> before
// deleting the lock object, so the next lease gets a larger token whatever the
// acquirer's clock says. The token is in the name, so a listing shows it
// without a read. No legacy reader knows the name (the daylily monitor keeps
// only names ending in its six sentinel names; the guide's reader checks four
// exact names), and it is neither a sentinel nor a data file here.
const fencePrefix = ".worksetstate-fence-"

// markerName is the object that marks a folder this SDK has written to: it
// is created (empty) before the SDK's first write there, so that a listing
// tells a folder whose sentinels only legacy tools wrote, whose bodies it
// never needs to read, from one where a body may hold this SDK's record. Like
// the fence objects, no legacy reader knows the name.
const markerName = ".worksetstate"

// earlierOwnBody is the size from which a body may be one an earlier SDK
// version wrote (the line followed by a JSON record), before folders were
// marked: such bodies are read in any folder.
const earlierOwnBody = 80

// mayBeOwn reports whether obj's body may hold this SDK's record, from the
// listing alone: in a marked folder, a body at least minOwnBody long; in any
// folder, one as long as an earlier SDK version's. Legacy bodies (a bare
// timestamp, a short message, the guide's empty markers) are never read in a
// pass over an unmarked folder.
func (snap *snapshot) mayBeOwn(obj Object) bool {
	return obj.Size < 0 || obj.Size >= earlierOwnBody || (snap.marked && obj.Size >= minOwnBody)
}

// mark creates the folder's marker object before the SDK's first write there.
func (s *Store) mark(ctx context.Context, snap *snapshot) error {
	if snap.marked {
		return nil
	}
	if _, err := s.bucket.Create(ctx, s.Prefix(snap.id)+markerName, Content{}); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return err
	}
	snap.marked = true
	return nil
}

// view is the record derived from a snapshot, with what writes need.
type view struct {
	w      *workset.Workset
	exists bool
	top    workset.State // the sentinel deciding the state ("" when none)
	counts []workset.State
}

// derive applies the naming, precedence and no-sentinel policy to a snapshot.
func (s *Store) derive(snap *snapshot) view {
	n := s.opts.Naming
	w := &workset.Workset{ID: snap.id, Priority: workset.PriorityNormal, Bucket: s.bucket.Name(), Prefix: s.Prefix(snap.id)}
	v := view{w: w}
	var counted []workset.State
	for st, obj := range snap.sentinels {
		if st == workset.StateLocked {
			if lease, marks := s.lockMeaning(snap, obj); lease != nil || marks {
				w.Lease = lease
				if lease != nil {
					w.FencingToken = lease.Token
				}
				if !marks {
					continue
				}
			}
		}
		counted = append(counted, st)
	}
	slices.SortFunc(counted, func(a, b workset.State) int { return n.rank(a) - n.rank(b) })
	v.counts = counted
	w.FencingToken = max(w.FencingToken, snap.fence)
	if snap.lock != nil && !snap.lock.Legacy {
		w.FencingToken = max(w.FencingToken, snap.lock.Token)
	}
	switch {
	case len(counted) > 0:
		v.top, w.State, v.exists = counted[0], counted[0], true
	case s.opts.NoSentinel == NoSentinelReady && (snap.other || w.Lease != nil):
		w.State, v.exists = workset.StateReady, true
	case w.Lease != nil:
		w.State, v.exists = workset.StateReady, true
	default:
		return v
	}
	w.Foreign = s.foreignTop(snap, v.top)
	for st, obj := range snap.sentinels {
		if w.CreatedAt.IsZero() || obj.LastModified.Before(w.CreatedAt) {
			w.CreatedAt = obj.LastModified
		}
		if obj.LastModified.After(w.UpdatedAt) {
			w.UpdatedAt = obj.LastModified
		}
		if slices.Contains(counted, st) {
			h := workset.HistoryEntry{State: st, Timestamp: obj.LastModified}
			if r := snap.record; r != nil && snap.recordState == st {
				// What the body says, when it says it: the time written in it
				// and the message or reason.
				if !r.At.IsZero() {
					h.Timestamp = r.At
				}
				h.Reason = r.Reason
			}
			w.History = append(w.History, h)
		}
	}
	slices.SortFunc(w.History, func(a, b workset.HistoryEntry) int {
		if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
			return c
		}
		return n.rank(b.State) - n.rank(a.State)
	})
	if snap.lock != nil && !snap.lock.Legacy && snap.lock.ErrorDetails != "" {
		w.ErrorDetails = snap.lock.ErrorDetails
	}
	if r := snap.record; r != nil && r.Legacy && snap.recordState == w.State {
		if w.State == workset.StateError || w.State == workset.StateFailed {
			w.ErrorDetails = r.Reason // "<timestamp>\t<message>": the message
		}
	} else if r != nil && slices.Contains(recordStates, w.State) {
		w.RetryCount, w.RetryAfter, w.FailedStep = r.RetryCount, r.RetryAfter, r.FailedStep
		w.ErrorCategory = workset.ErrorCategory(r.ErrorCategory)
		if r.ErrorDetails != "" {
			w.ErrorDetails = r.ErrorDetails
		}
	}
	return v
}

// foreignTop reports whether the sentinel deciding the state (top) was written
// by another tool, or imported from another tool's record: a lock object
// without this SDK's body, or a state sentinel smaller than any body this SDK
// writes (known from the listing, without a read) or read as not its own.
func (s *Store) foreignTop(snap *snapshot, top workset.State) bool {
	if top == workset.StateLocked {
		return snap.lock == nil || snap.lock.Legacy || snap.lock.Foreign
	}
	obj, ok := snap.sentinels[top]
	if !ok {
		return false // no sentinel: the state comes from the no-sentinel policy
	}
	return !snap.mayBeOwn(obj) || snap.recordForeign
}

// lockMeaning says what the lock object stands for: a lease (ours, or a legacy
// monitor's claim) and whether it marks the locked state.
func (s *Store) lockMeaning(snap *snapshot, obj Object) (lease *workset.Lease, marksLocked bool) {
	id, b := snap.id, snap.lock
	if b == nil || b.Legacy {
		at := obj.LastModified
		if b != nil && !b.At.IsZero() {
			at = b.At
		}
		// A legacy lock no younger than an outcome (error, complete, ignore,
		// ...) of the same workset is what that monitor left behind when it
		// finished: a leftover, not a live claim. Like is compared with like:
		// both LastModified times, to the second (S3's granularity; the older
		// monitor leaves its lock behind on error, often within the second).
		lockAt := obj.LastModified.Truncate(time.Second)
		for _, st := range []workset.State{workset.StateError, workset.StateComplete, workset.StateIgnored, workset.StateFailed, workset.StateArchived, workset.StateDeleted} {
			if o, ok := snap.sentinels[st]; ok && !o.LastModified.Truncate(time.Second).Before(lockAt) {
				return nil, true
			}
		}
		return &workset.Lease{WorksetID: id, Owner: LegacyOwner, AcquiredAt: at, ExpiresAt: at.Add(s.opts.LegacyLockTTL)}, true
	}
	return b.lease(id), b.Locked || b.Owner == ""
}

// classify files one listed key of a workset folder into the snapshot.
func (s *Store) classify(snap *snapshot, name string, obj Object) {
	if strings.Contains(name, "/") {
		snap.other = true
		return
	}
	if name == markerName {
		snap.marked = true
		return
	}
	if tok, ok := strings.CutPrefix(name, fencePrefix); ok {
		if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
			snap.fence = max(snap.fence, n)
			snap.fences = append(snap.fences, obj)
			return
		}
	}
	if st, ok := s.opts.Naming.stateOf(name); ok {
		if snap.sentinels == nil {
			snap.sentinels = make(map[workset.State]Object)
		}
		snap.sentinels[st] = obj
		return
	}
	snap.other = true
}

// load reads one workset's folder, its direct objects (paginated) and its lock
// object's body, as one consistent snapshot.
func (s *Store) load(ctx context.Context, id string) (*snapshot, view, error) {
	for attempt := 0; ; attempt++ {
		snap, err := s.list(ctx, id)
		if err != nil {
			return nil, view{}, err
		}
		listed, hadLock := snap.sentinels[workset.StateLocked]
		if err := s.readLock(ctx, snap, true); err != nil {
			return nil, view{}, err
		}
		if err := s.readRecord(ctx, snap, true); err != nil {
			return nil, view{}, err
		}
		// Lease calls and fenced writes always change the lock object, so a
		// lock object that changed between the listing and its read means the
		// listing may be stale too: list again, for one consistent snapshot.
		now, hasLock := snap.sentinels[workset.StateLocked]
		if !hadLock || (hasLock && now.ETag == listed.ETag) || attempt >= 4 {
			return snap, s.derive(snap), nil
		}
	}
}

// list reads one workset's folder: its direct objects, paginated.
func (s *Store) list(ctx context.Context, id string) (*snapshot, error) {
	snap := &snapshot{id: id}
	prefix := s.Prefix(id)
	in := ListInput{Prefix: prefix, Delimiter: "/"}
	for {
		out, err := s.bucket.List(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, o := range out.Objects {
			s.classify(snap, strings.TrimPrefix(o.Key, prefix), o)
		}
		if len(out.CommonPrefixes) > 0 {
			snap.other = true
		}
		if out.NextContinuationToken == "" {
			return snap, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// readLock reads the lock object's body, updating its ETag to the fresh one.
// A lock object smaller than any body this SDK writes is a legacy lock. A
// single workset's read (legacy true: Get, and every write, which decides on
// it) reads its body too, so that the time the monitor wrote in it decides its
// expiry (a copied or restored bucket has new LastModified times). A listing
// does not, so that a pass over a legacy layout reads no object: there the
// expiry counts from LastModified, and whatever a pass shows of a lease, the
// write that acts on it reads the workset again.
func (s *Store) readLock(ctx context.Context, snap *snapshot, legacy bool) error {
	obj, ok := snap.sentinels[workset.StateLocked]
	if !ok {
		return nil
	}
	if !legacy && !snap.mayBeOwn(obj) {
		snap.lock = &Body{Legacy: true}
		return nil
	}
	data, etag, err := s.bucket.Get(ctx, obj.Key)
	if errors.Is(err, ErrObjectNotFound) {
		delete(snap.sentinels, workset.StateLocked)
		return nil
	}
	if err != nil {
		return err
	}
	b := ParseContent(data)
	snap.lock = &b
	obj.ETag = etag
	snap.sentinels[workset.StateLocked] = obj
	return nil
}

// Get implements workset.StateStore.
func (s *Store) Get(ctx context.Context, id string) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := workset.ValidateID(id); err != nil {
		return nil, err
	}
	_, v, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !v.exists {
		return nil, notFound(id)
	}
	return v.w, nil
}

// Register implements workset.StateStore: it creates the ready sentinel with
// If-None-Match, after checking that the folder holds no workset. Priority,
// metadata and attributes are not stored (see Capabilities).
func (s *Store) Register(ctx context.Context, req workset.RegisterRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := storekit.NormalizeRegister(&req); err != nil {
		return nil, err
	}
	if err := s.requireAtomic(ctx); err != nil {
		return nil, err
	}
	snap, v, err := s.load(ctx, req.ID)
	if err != nil {
		return nil, err
	}
	if v.exists {
		return nil, &workset.Error{ID: req.ID, Kind: workset.ErrAlreadyExists}
	}
	if err := s.mark(ctx, snap); err != nil {
		return nil, err
	}
	body, nonce, err := Body{State: string(workset.StateReady), At: s.now(), Reason: req.Reason}.encode()
	if err != nil {
		return nil, invalidRecord(req.ID, err)
	}
	key := s.key(req.ID, workset.StateReady)
	_, err = s.bucket.Create(ctx, key, body)
	switch {
	case err == nil, errors.Is(err, ErrPreconditionFailed) && s.wroteIt(ctx, key, nonce):
		return s.confirm(ctx, req.ID)
	case errors.Is(err, ErrPreconditionFailed):
		return nil, &workset.Error{ID: req.ID, Kind: workset.ErrAlreadyExists}
	default:
		return nil, err
	}
}

// wroteIt reports whether the object at key carries nonce, or the request's
// idempotency key op: a conditional write refused on retry may be our own first
// attempt, applied before its response was lost.
func (s *Store) wroteIt(ctx context.Context, key, nonce string, op ...string) bool {
	// It confirms a write that may have applied: the caller's deadline does not cut it short.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	data, _, err := s.bucket.Get(rctx, key)
	if err != nil {
		return false
	}
	b := ParseContent(data)
	return b.Nonce == nonce || (len(op) > 0 && op[0] != "" && b.Op == opKey(op[0]))
}

// errNoCustomers refuses a list by customer: sentinels keep no attributes.
var errNoCustomers = fmt.Errorf("%w: the sentinel store keeps no customer_id; list by customer is not possible", workset.ErrUnsupported)

// List implements workset.StateStore. Results come in the key order of the
// worksets' folders, which is ID order except where one ID continues another
// with a character that sorts below "/" ("ws-1-x/" lists before "ws-1/");
// cursors follow the same order. With a state filter it is also dispatch
// order, since every workset reads as normal.
func (s *Store) List(ctx context.Context, q workset.ListQuery) (_ *workset.Page, err error) {
	defer storekit.WrapContextError(&err, "")
	if err := storekit.NormalizeList(&q); err != nil {
		return nil, err
	}
	if q.Customer != "" {
		return nil, errNoCustomers
	}
	after := ""
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		id, ok := strings.CutPrefix(string(raw), "after:")
		if err != nil || !ok || workset.ValidateID(id) != nil {
			return nil, fmt.Errorf("%w: malformed list cursor %q", workset.ErrInvalidInput, q.Cursor)
		}
		after = id
	}
	page := &workset.Page{}
	// Unreadable folders go on the page of the workset that follows them, so
	// that each is reported once however the pages fall.
	var malformed []*workset.MalformedError
	for w, err := range s.pass(ctx, q, after, q.Limit+1) {
		var mal *workset.MalformedError
		if errors.As(err, &mal) {
			malformed = append(malformed, mal)
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(page.Worksets) == q.Limit {
			page.Cursor = base64.RawURLEncoding.EncodeToString([]byte("after:" + page.Worksets[len(page.Worksets)-1].ID)) // opaque, URL-safe
			return page, nil
		}
		page.Malformed = append(page.Malformed, malformed...)
		malformed = nil
		page.Worksets = append(page.Worksets, w)
	}
	page.Malformed = append(page.Malformed, malformed...)
	return page, nil
}

// Scan implements workset.Scanner: one pass over every object under Root.
func (s *Store) Scan(ctx context.Context, q workset.ListQuery) iter.Seq2[*workset.Workset, error] {
	q.Cursor, q.Limit = "", 0
	if err := storekit.NormalizeList(&q); err != nil {
		return func(yield func(*workset.Workset, error) bool) { yield(nil, err) }
	}
	if q.Customer != "" {
		return func(yield func(*workset.Workset, error) bool) { yield(nil, errNoCustomers) }
	}
	return func(yield func(*workset.Workset, error) bool) {
		for w, err := range s.pass(ctx, q, "", 0) {
			storekit.WrapContextError(&err, "")
			if !yield(w, err) {
				return
			}
		}
	}
}

// pass visits every folder under Root after the folder of workset `after`
// (see walk: prefix-wide on a shallow layout, folder by folder on a deep
// one), reads lock bodies and retry records in parallel batches, and yields
// the worksets matching q in the key order of their folders.
//
// want is how many worksets the caller will take at most (0: all): a page of
// a List lists about that many folders at a time, not a whole batch.
func (s *Store) pass(ctx context.Context, q workset.ListQuery, after string, want int) iter.Seq2[*workset.Workset, error] {
	return func(yield func(*workset.Workset, error) bool) {
		stopped := errors.New("stopped")
		wk := *s.walker
		var listed, matched int
		if want > 0 {
			wk.size = func() int { return pageBatch(want, listed, matched, q.State != "" || q.Priority != "") }
		}
		err := wk.walk(ctx, after, func(folders []folderListing) error {
			listed += len(folders)
			snaps := make([]*snapshot, len(folders))
			prefix := s.opts.Root
			for i, f := range folders {
				snap := &snapshot{id: f.id, invalid: workset.ValidateID(f.id), other: f.sub}
				for _, o := range f.objects {
					s.classify(snap, strings.TrimPrefix(o.Key, prefix+f.id+"/"), o)
				}
				snaps[i] = snap
			}
			if err := s.readLocks(ctx, snaps, q.State); err != nil {
				return err
			}
			for _, snap := range snaps {
				v := s.derive(snap)
				if !v.exists || (q.State != "" && v.w.State != q.State) || (q.Priority != "" && v.w.Priority != q.Priority) {
					continue
				}
				if snap.invalid != nil {
					if !yield(nil, &workset.MalformedError{ID: strconv.Quote(snap.id), Attribute: "folder name",
						Detail: fmt.Sprintf("%v; the folder %q reads as %s but no workset can have this ID: rename it", snap.invalid, s.opts.Root+snap.id+"/", v.w.State)}) {
						return stopped
					}
					continue
				}
				matched++
				if !yield(v.w, nil) {
					return stopped
				}
			}
			return nil
		})
		if err != nil && err != stopped {
			yield(nil, err)
		}
	}
}

// pageBatch is how many folders a page's next batch lists, to find the want
// worksets it needs in one round of listings where it can: all that are
// still wanted; when the page filters (some folders will not match), an
// eighth more at first, then as many as the share that matched so far calls
// for, and a quarter more.
func pageBatch(want, listed, matched int, filtered bool) int {
	need := want - matched
	switch {
	case need <= 0:
		return 1
	case !filtered:
		return need
	case listed == 0:
		return need + need/8 + 1
	case matched == 0:
		return math.MaxInt32 // none matched yet: a whole batch
	}
	return need*listed/matched + need/4 + 1
}

// readLocks reads the lock bodies and retry records of a batch of snapshots
// in parallel. With want set (a list by state), a record is read only for the
// worksets that can be in that state, so polling the ready queue reads none.
func (s *Store) readLocks(ctx context.Context, snaps []*snapshot, want workset.State) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(s.opts.ReadConcurrency)
	for _, snap := range snaps {
		_, hasLock := snap.sentinels[workset.StateLocked]
		top := s.topSentinel(snap)
		record := slices.Contains(recordStates, top) && (want == "" || want == top)
		if !hasLock && !record {
			continue
		}
		g.Go(func() error { // one goroutine per snapshot: both reads update it
			if err := s.readLock(ctx, snap, false); err != nil {
				return err
			}
			if !record {
				return nil
			}
			return s.readRecord(ctx, snap, false)
		})
	}
	return g.Wait()
}

// readRecord reads the body of the sentinel that decides the state, when that
// state is retrying, failed, error or in_progress (the ones whose bodies carry
// the retry record): one GET for a workset in one of those states, none
// otherwise. In a listing (legacy false) only bodies this SDK wrote are read
// (legacy ones are smaller than any SDK body), so a pass over a legacy layout
// reads no object; a single workset's read (legacy true) also reads a legacy
// body, for its time and message.
func (s *Store) readRecord(ctx context.Context, snap *snapshot, legacy bool) error {
	st := s.topSentinel(snap)
	obj, ok := snap.sentinels[st]
	if !ok || !slices.Contains(recordStates, st) || (!legacy && !snap.mayBeOwn(obj)) {
		return nil
	}
	data, _, err := s.bucket.Get(ctx, obj.Key)
	if errors.Is(err, ErrObjectNotFound) {
		return nil // moved on since the listing; the next read sees it
	}
	if err != nil {
		return err
	}
	b := ParseContent(data)
	snap.recordForeign = b.Legacy || b.Foreign
	if !b.Legacy || legacy {
		snap.record, snap.recordState = &b, st
	}
	return nil
}

// topSentinel is the highest-ranked state sentinel other than the lock object
// ("" when there is none). Every state whose body carries a record ranks above
// the locked state, so this is the state derive gives the workset whenever
// that state is one of them, whatever the lock object says.
func (s *Store) topSentinel(snap *snapshot) workset.State {
	var top workset.State
	for st := range snap.sentinels {
		if st != workset.StateLocked && (top == "" || s.opts.Naming.rank(st) < s.opts.Naming.rank(top)) {
			top = st
		}
	}
	return top
}
