// Package migrate reconciles two workset.StateStores: a dry-run plan of typed
// differences, an idempotent concurrent apply that never clobbers concurrent
// updates, verify, rollback (apply the other way round) and cleanup of the
// source's sentinels once verified.
//
// # Memory
//
// The source is read in one streaming pass (workset.Scan) and processed in
// batches of Options.BatchSize by Options.Concurrency workers, each reading the
// destination for its batch in one request where the store supports it
// (workset.BatchGetter), or not at all when the destination was empty at the
// start. Memory is bounded by BatchSize × 16 (plus the writes in flight), not by
// the number of worksets; only Options.DetectMissingInSource keeps the set of
// source IDs (a string per workset).
//
// # Safety while monitors keep working
//
// Apply creates only if absent and replaces only if the destination still has
// the version and state the plan saw (workset.ImportRequest), re-reading the
// source first, so a concurrent change is reported as a conflict (or resolved
// by Options.OnConflict), never overwritten. Running Apply again after success
// writes nothing.
package migrate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/internal/adaptive"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Kind is the kind of a difference.
type Kind string

// The kinds of difference.
const (
	MissingInDestination Kind = "missing_in_destination"
	MissingInSource      Kind = "missing_in_source"
	StateDiffers         Kind = "state_differs"
	FieldsDiffer         Kind = "fields_differ"
	Equal                Kind = "equal"
	// UnreadableInSource: the source record cannot be read (another tool wrote
	// an attribute the SDK cannot interpret). Nothing is written for it; apply
	// reports it failed, and the run goes on with the other worksets.
	UnreadableInSource Kind = "unreadable_in_source"
	// UnreadableInDestination: the destination holds a record for the
	// workset that cannot be read. Nothing is written over it; apply reports
	// it failed, verify counts it, and the run goes on.
	UnreadableInDestination Kind = "unreadable_in_destination"
)

// Difference is one workset's comparison. It prints as one JSON line.
type Difference struct {
	WorksetID   string        `json:"workset_id"`
	Kind        Kind          `json:"kind"`
	SourceState workset.State `json:"source_state,omitempty"`
	DestState   workset.State `json:"destination_state,omitempty"`
	// Fields names what differs (state, priority, metadata, ...).
	Fields []string `json:"fields,omitempty"`
	// DestVersion is the destination version the plan saw.
	DestVersion int64 `json:"destination_version,omitempty"`

	source, dest *workset.Workset
	outcome      Outcome
	err          error
}

// Outcome is what Apply did with one difference.
type Outcome string

// The outcomes of Apply.
const (
	OutcomeUnchanged Outcome = "unchanged" // equal already
	OutcomeCreated   Outcome = "created"
	OutcomeUpdated   Outcome = "updated"
	OutcomeConflict  Outcome = "conflict" // the destination changed since the plan; reported
	OutcomeKept      Outcome = "kept"     // a conflict resolved for the destination
	OutcomeSkipped   Outcome = "skipped"  // missing in source: never deleted
	OutcomeFailed    Outcome = "failed"
	OutcomeDeleted   Outcome = "deleted" // cleanup
)

// ConflictPolicy says what Apply does when the destination changed between
// the plan and the write.
type ConflictPolicy int

const (
	// SkipAndReport leaves the destination alone and reports the conflict (default).
	SkipAndReport ConflictPolicy = iota
	// SourceWins re-reads the destination and writes the source over it.
	SourceWins
	// DestinationWins leaves the destination alone, counted as kept.
	DestinationWins
)

// Progress is reported as work proceeds.
type Progress struct {
	Done    int64
	Total   int64 // 0 when unknown (see Options.Total)
	Elapsed time.Duration
	Rate    float64       // worksets per second
	ETA     time.Duration // 0 when Total is unknown
}

// ItemError is one workset that could not be processed.
type ItemError struct {
	WorksetID string `json:"workset_id"`
	Err       string `json:"error"`
}

// Result counts what a run saw and did.
type Result struct {
	Seen     int64             `json:"seen"`
	Kinds    map[Kind]int64    `json:"kinds"`
	Outcomes map[Outcome]int64 `json:"outcomes,omitempty"`
	Errors   []ItemError       `json:"failures,omitempty"`
	Elapsed  time.Duration     `json:"elapsed_ns"`
	// Concurrency is what the bound on writes in flight did during an apply.
	Concurrency ConcurrencyUsed `json:"concurrency"`
	// SourceLayout and DestinationLayout are what each store found in its
	// layout before the run, when it can tell (storekit.LayoutChecker: the
	// sentinel store counts its folders, the worksets it recognises, those
	// without a sentinel and those it skips, by reason).
	SourceLayout      *storekit.LayoutReport `json:"source_layout,omitempty"`
	DestinationLayout *storekit.LayoutReport `json:"destination_layout,omitempty"`
}

// ConcurrencyUsed is where the adaptive bound on writes in flight ended and
// the highest it reached (both Options.Concurrency when fixed).
type ConcurrencyUsed struct {
	Final int `json:"final"`
	Peak  int `json:"peak"`
}

// Discrepancies is the number of worksets that are not equal.
func (r *Result) Discrepancies() int64 { return r.Seen - r.Kinds[Equal] }

// Options configure a Migrator.
type Options struct {
	// Concurrency is the most writes in flight (default 256). The Migrator
	// finds its own level below it: it starts at 8 and grows while throughput
	// grows and latency holds, and backs off when latency rises or the server
	// throttles (Result.Concurrency says where it went). It also bounds the
	// batches read from the destination at once, at most 16.
	Concurrency int
	// FixedConcurrency keeps Concurrency writes in flight from the start,
	// without adapting (for measurements, or a table whose capacity you know).
	FixedConcurrency bool
	// BatchSize is the number of worksets a worker reads from the destination
	// at once (default 100, the BatchGetItem limit).
	BatchSize int
	// OnConflict is the conflict policy (default SkipAndReport).
	OnConflict ConflictPolicy
	// Marker is merged into the metadata of records Apply creates, and ignored
	// when comparing (default {"migrated_from_s3": true}, the guide's marker;
	// set an empty map for none).
	Marker map[string]any
	// Reason is the history reason of the writes (default "Migrated from S3
	// sentinel files", the guide's).
	Reason string
	// DetectMissingInSource also reports destination records the source lacks
	// (keeps every source ID in memory).
	DetectMissingInSource bool
	// MaxRetries bounds the retries of a transient failure (default 5), with
	// exponential backoff from RetryBase (default 50ms).
	MaxRetries int
	RetryBase  time.Duration
	// Total, when known, lets Progress report an ETA.
	Total int64
	// OnProgress is called at most every ProgressEvery (default 1s) and at the end.
	OnProgress    func(Progress)
	ProgressEvery time.Duration
	// Clock judges lease expiry in Cleanup (default workset.SystemClock).
	Clock workset.Clock
	// Logger (default: discarded).
	Logger *slog.Logger
}

// DefaultConcurrency is the default cap on writes in flight.
const DefaultConcurrency = 256

// maxReaders bounds the destination batches read at once.
const maxReaders = 16

// DefaultReason is the guide's history reason for migrated records.
const DefaultReason = "Migrated from S3 sentinel files"

// Migrator reconciles a source and a destination store.
type Migrator struct {
	src, dst workset.StateStore
	opts     Options
	ignore   []string
	// cleanup is set on Cleanup's copy: its work is on the equal worksets.
	cleanup bool
}

// New returns a Migrator from source to destination.
func New(source, destination workset.StateStore, optFns ...func(*Options)) (*Migrator, error) {
	o := Options{Concurrency: DefaultConcurrency, BatchSize: 100, MaxRetries: 5, RetryBase: 50 * time.Millisecond,
		Reason: DefaultReason, ProgressEvery: time.Second, Marker: map[string]any{"migrated_from_s3": true}, Clock: workset.SystemClock}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	switch {
	case source == nil || destination == nil:
		return nil, fmt.Errorf("%w: migrate: source and destination are required", workset.ErrInvalidInput)
	case o.Concurrency < 1 || o.BatchSize < 1:
		return nil, fmt.Errorf("%w: migrate: Concurrency and BatchSize must be at least 1", workset.ErrInvalidInput)
	case o.MaxRetries < 0 || o.RetryBase <= 0 || o.ProgressEvery <= 0:
		return nil, fmt.Errorf("%w: migrate: negative MaxRetries or non-positive RetryBase/ProgressEvery", workset.ErrInvalidInput)
	case o.Clock == nil:
		return nil, fmt.Errorf("%w: migrate: nil Clock", workset.ErrInvalidInput)
	case o.OnConflict < SkipAndReport || o.OnConflict > DestinationWins:
		return nil, fmt.Errorf("%w: migrate: unknown conflict policy %d", workset.ErrInvalidInput, o.OnConflict)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Migrator{src: source, dst: destination, opts: o}
	for k := range o.Marker {
		m.ignore = append(m.ignore, k)
	}
	return m, nil
}

// Plan compares the stores without writing and calls emit (serially) for every
// difference, equal ones included.
func (m *Migrator) Plan(ctx context.Context, emit func(Difference) error) (*Result, error) {
	return m.run(ctx, nil, emit)
}

// Apply makes the destination match the source and calls emit (serially, may
// be nil) with each difference and what was done about it.
func (m *Migrator) Apply(ctx context.Context, emit func(Difference, Outcome) error) (*Result, error) {
	return m.run(ctx, m.applyOne, withOutcome(emit))
}

// Verify is Plan with missing-in-source detection; the result's
// Discrepancies is zero when the migration is complete. emit may be nil.
func (m *Migrator) Verify(ctx context.Context, emit func(Difference) error) (*Result, error) {
	v := *m
	v.opts.DetectMissingInSource = true
	if emit == nil {
		emit = func(Difference) error { return nil }
	}
	return v.run(ctx, nil, emit)
}

// withOutcome adapts an emit that wants the outcome.
func withOutcome(emit func(Difference, Outcome) error) func(Difference) error {
	return func(d Difference) error {
		if emit == nil {
			return nil
		}
		return emit(d, d.outcome)
	}
}

// Reverse returns a Migrator with source and destination swapped, for
// rollback (DynamoDB state rebuilt as sentinels).
func (m *Migrator) Reverse() *Migrator {
	r := *m
	r.src, r.dst = m.dst, m.src
	return &r
}

func (m *Migrator) compare(src, dst *workset.Workset) Difference {
	d := Difference{WorksetID: src.ID, Kind: Equal, SourceState: src.State, source: src, dest: dst}
	if dst == nil {
		d.Kind = MissingInDestination
		return d
	}
	d.DestState, d.DestVersion = dst.State, dst.Version
	sc, dc := m.src.Capabilities(), m.dst.Capabilities()
	d.Fields = storekit.DiffFields(storekit.Project(src, m.ignore, sc, dc), storekit.Project(dst, m.ignore, sc, dc))
	switch {
	case slices.Contains(d.Fields, "state"):
		d.Kind = StateDiffers
	case len(d.Fields) > 0:
		d.Kind = FieldsDiffer
	}
	return d
}

// run is the pipeline: one producer scanning the source in batches, workers
// reading the destination per batch, comparing, and acting on each difference
// (act is nil for a dry run).
func (m *Migrator) run(ctx context.Context, act func(context.Context, Difference) (Outcome, error), emit func(Difference) error) (*Result, error) {
	t := m.newTally(act != nil, emit)
	if act != nil {
		// A run that writes checks the layouts first: nothing is written to
		// or from a layout a store would misread.
		var err error
		if t.res.SourceLayout, err = checkLayout(ctx, "source", m.src); err != nil {
			return nil, err
		}
		if t.res.DestinationLayout, err = checkLayout(ctx, "destination", m.dst); err != nil {
			return nil, err
		}
		return m.runChecked(ctx, t, act)
	}
	// A dry run writes nothing: it checks the layouts beside its own pass,
	// whose differences are held back (the pipeline stalls, memory bounded by
	// its batches) until the check passed, so a refusal is all it reports.
	var lg errgroup.Group
	var srcLayout, dstLayout *storekit.LayoutReport
	// The check and the pass read the same folders on a sentinel store: they
	// share what they read (a dry run writes nothing, so a listing from the
	// check, made during this run, serves the pass as well as its own).
	lctx, cancel := context.WithCancel(storekit.ShareReads(ctx))
	defer cancel()
	checked := make(chan struct{})
	lg.Go(func() (err error) {
		if srcLayout, err = checkLayout(lctx, "source", m.src); err == nil {
			dstLayout, err = checkLayout(lctx, "destination", m.dst)
		}
		if err != nil {
			cancel()
			return err
		}
		close(checked)
		return nil
	})
	emitNow := t.emit
	t.emit = func(d Difference) error {
		select {
		case <-checked:
		case <-lctx.Done():
			return lctx.Err()
		}
		return emitNow(d)
	}
	res, err := m.runChecked(lctx, t, nil)
	if lerr := lg.Wait(); lerr != nil {
		return nil, lerr
	}
	if res != nil {
		res.SourceLayout, res.DestinationLayout = srcLayout, dstLayout
	}
	return res, err
}

// runChecked is the pipeline of run, once the layouts were checked (or are
// checked beside it).
func (m *Migrator) runChecked(ctx context.Context, t *tally, act func(context.Context, Difference) (Outcome, error)) (*Result, error) {
	var err error
	var seen *idSet
	if m.opts.DetectMissingInSource {
		seen = &idSet{ids: make(map[string]bool)}
	}
	g, gctx := errgroup.WithContext(ctx)
	readers := min(m.opts.Concurrency, maxReaders)
	batches := make(chan []*workset.Workset, readers)
	g.Go(func() error {
		defer close(batches)
		return m.readSource(gctx, t, seen, batches)
	})
	lim := adaptive.New(m.opts.Concurrency, m.opts.FixedConcurrency)
	empty, err := m.destinationEmpty(ctx)
	if err != nil {
		return t.res, err
	}
	for range readers {
		g.Go(func() error { return m.compareBatches(gctx, t, act, lim, empty, batches) })
	}
	if act != nil {
		defer func() { t.res.Concurrency.Final, t.res.Concurrency.Peak = lim.Current() }()
	}
	if err := g.Wait(); err != nil {
		return t.res, err
	}
	if seen != nil {
		if err := m.findMissingInSource(ctx, t, seen); err != nil {
			return t.res, err
		}
	}
	return t.finish(), nil
}

// tally counts what a run saw and did, reports progress and hands each
// difference to the caller's emit, one at a time.
type tally struct {
	opts    *Options
	apply   bool
	emit    func(Difference) error
	start   time.Time
	mu      sync.Mutex // guards res, emit and progress
	res     *Result
	lastRep time.Time
}

func (m *Migrator) newTally(apply bool, emit func(Difference) error) *tally {
	if emit == nil {
		emit = func(Difference) error { return nil }
	}
	now := time.Now()
	return &tally{opts: &m.opts, apply: apply, emit: emit, start: now, lastRep: now,
		res: &Result{Kinds: map[Kind]int64{}, Outcomes: map[Outcome]int64{}}}
}

// record counts d (and its outcome, when applying) and emits it.
func (t *tally) record(d Difference) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Seen++
	t.res.Kinds[d.Kind]++
	if t.apply {
		t.res.Outcomes[d.outcome]++
		if d.outcome == OutcomeFailed {
			t.res.Errors = append(t.res.Errors, ItemError{WorksetID: d.WorksetID, Err: d.err.Error()})
		}
	}
	t.report(false)
	return t.emit(d)
}

// report calls OnProgress at most every ProgressEvery (and always when final).
// The caller holds t.mu.
func (t *tally) report(final bool) {
	if t.opts.OnProgress == nil || (!final && time.Since(t.lastRep) < t.opts.ProgressEvery) {
		return
	}
	t.lastRep = time.Now()
	p := Progress{Done: t.res.Seen, Total: t.opts.Total, Elapsed: time.Since(t.start)}
	if s := p.Elapsed.Seconds(); s > 0 {
		p.Rate = float64(p.Done) / s
	}
	if p.Total > p.Done && p.Rate > 0 {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
	}
	t.opts.OnProgress(p)
}

// finish stamps the elapsed time and reports the final progress.
func (t *tally) finish() *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.res.Elapsed = time.Since(t.start)
	t.report(true)
	if !t.apply {
		t.res.Outcomes = nil
	}
	return t.res
}

// idSet is the set of source IDs seen, for DetectMissingInSource.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (s *idSet) add(id string) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

// checkLayout asks a store that can tell (storekit.LayoutChecker) what it
// finds in its layout, before anything is read or written: a store pointed at
// a layout it would misread (a guide-named sentinel store over a daylily
// bucket) refuses, and the run with it.
func checkLayout(ctx context.Context, side string, s workset.StateStore) (*storekit.LayoutReport, error) {
	lc, ok := s.(storekit.LayoutChecker)
	if !ok {
		return nil, nil
	}
	r, err := lc.CheckLayout(ctx)
	if err != nil {
		return r, fmt.Errorf("migrate: the %s's layout: %w", side, err)
	}
	return r, nil
}

// readSource scans the source in one pass and sends it on in batches. A record
// that cannot be read is recorded as UnreadableInSource and the scan goes on.
func (m *Migrator) readSource(ctx context.Context, t *tally, seen *idSet, batches chan<- []*workset.Workset) error {
	send := func(b []*workset.Workset) error {
		select {
		case batches <- b:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	batch := make([]*workset.Workset, 0, m.opts.BatchSize)
	for w, err := range workset.Scan(ctx, m.src, workset.ListQuery{}) {
		var mal *workset.MalformedError
		if errors.As(err, &mal) {
			if err := t.record(Difference{WorksetID: mal.ID, Kind: UnreadableInSource, outcome: OutcomeFailed, err: mal}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("migrate: reading the source: %w", err)
		}
		if seen != nil {
			seen.add(w.ID)
		}
		batch = append(batch, w)
		if len(batch) == m.opts.BatchSize {
			if err := send(batch); err != nil {
				return err
			}
			batch = make([]*workset.Workset, 0, m.opts.BatchSize)
		}
	}
	if len(batch) > 0 {
		return send(batch)
	}
	return nil
}

// compareBatches reads the destination records of each batch, compares, and
// (when applying) acts on every difference: writes run concurrently, as many
// in flight as the limiter allows.
func (m *Migrator) compareBatches(ctx context.Context, t *tally, act func(context.Context, Difference) (Outcome, error), lim *adaptive.Limiter, destEmpty bool, batches <-chan []*workset.Workset) error {
	for batch := range batches {
		var dsts map[string]*workset.Workset
		unreadable := map[string]*workset.MalformedError{}
		if !destEmpty {
			var err error
			if dsts, unreadable, err = m.readDest(ctx, batch); err != nil {
				return fmt.Errorf("migrate: reading the destination: %w", err)
			}
		}
		var wg sync.WaitGroup
		var errMu sync.Mutex
		var firstErr error
		for _, w := range batch {
			d := m.compare(w, dsts[w.ID])
			if mal, ok := unreadable[w.ID]; ok {
				d = Difference{WorksetID: w.ID, Kind: UnreadableInDestination, SourceState: w.State, source: w, err: mal}
			}
			// What needs no write is done here; the writes (deletes, for
			// Cleanup) run concurrently.
			noWrite := d.Kind == Equal || d.Kind == MissingInSource
			if m.cleanup {
				noWrite = d.Kind != Equal
			}
			if act == nil || noWrite {
				if act != nil {
					d.outcome, d.err = act(ctx, d)
				}
				if err := t.record(d); err != nil {
					wg.Wait()
					return err
				}
				continue
			}
			if err := lim.Acquire(ctx); err != nil {
				wg.Wait()
				return err
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				d.outcome, d.err = act(ctx, d)
				lim.Release(time.Since(start), d.err)
				if err := t.record(d); err != nil {
					errMu.Lock()
					firstErr = cmp.Or(firstErr, err)
					errMu.Unlock()
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return firstErr
		}
	}
	return nil
}

// destinationEmpty reports whether the destination held no record when the
// run began (one List of one). Then there is nothing to compare against, and
// the batch reads are skipped: every workset is missing in the destination,
// and the conditional create (Import with IfAbsent) still refuses, and hands to
// the conflict policy, any record a live monitor registers meanwhile.
func (m *Migrator) destinationEmpty(ctx context.Context) (bool, error) {
	var page *workset.Page
	err := m.retry(ctx, func() (err error) { page, err = m.dst.List(ctx, workset.ListQuery{Limit: 1}); return err })
	if err != nil {
		return false, fmt.Errorf("migrate: reading the destination: %w", err)
	}
	return len(page.Worksets) == 0 && len(page.Malformed) == 0 && page.Cursor == "", nil
}

// findMissingInSource records the destination records the source never showed.
func (m *Migrator) findMissingInSource(ctx context.Context, t *tally, seen *idSet) error {
	for w, err := range workset.Scan(ctx, m.dst, workset.ListQuery{}) {
		if errors.Is(err, workset.ErrMalformed) {
			continue // logged by the store; never deleted or written by a migration
		}
		if err != nil {
			return fmt.Errorf("migrate: reading the destination: %w", err)
		}
		if !seen.ids[w.ID] {
			d := Difference{WorksetID: w.ID, Kind: MissingInSource, DestState: w.State, DestVersion: w.Version, outcome: OutcomeSkipped}
			if err := t.record(d); err != nil {
				return err
			}
		}
	}
	return nil
}

// readDest reads the destination records of a batch (absent IDs are
// missing), and names those that cannot be read.
func (m *Migrator) readDest(ctx context.Context, batch []*workset.Workset) (map[string]*workset.Workset, map[string]*workset.MalformedError, error) {
	ids := make([]string, len(batch))
	for i, w := range batch {
		ids[i] = w.ID
	}
	var out map[string]*workset.Workset
	err := m.retry(ctx, func() (err error) { out, err = workset.GetMany(ctx, m.dst, ids); return err })
	unreadable := map[string]*workset.MalformedError{}
	if mals := workset.Unreadable(err); len(mals) > 0 {
		for _, mal := range mals {
			unreadable[mal.ID] = mal
		}
		err = nil // reported per workset; the others were read
	}
	return out, unreadable, err
}

// permanent are the errors a retry cannot fix.
func permanent(err error) bool {
	for _, e := range []error{workset.ErrNotFound, workset.ErrAlreadyExists, workset.ErrConflict, workset.ErrInvalidTransition, workset.ErrNotLeasable,
		workset.ErrLeaseHeld, workset.ErrLeaseLost, workset.ErrInvalidInput, workset.ErrUnsupported, workset.ErrMalformed, context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// retry runs fn, retrying transient failures with exponential backoff (the
// SDKs retry throttling themselves first; this slows the run further instead of
// failing it).
func (m *Migrator) retry(ctx context.Context, fn func() error) error {
	delay := m.opts.RetryBase
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || permanent(err) || attempt >= m.opts.MaxRetries {
			return err
		}
		m.opts.Logger.DebugContext(ctx, "retrying after a transient failure", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}
