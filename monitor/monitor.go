// Package monitor is the loop a worker embeds: it polls the ready queue in
// priority order (and retrying worksets whose time has come), claims worksets
// (workset.Claim: the lease and the move to in_progress, in one write on
// DynamoDB), keeps each lease alive while the work runs, cancels the work the
// moment the lease is lost or cannot be renewed in time, records success or
// failure (with retries), and shuts down cleanly, releasing its leases.
//
// # Cost
//
// A claim costs about 2.4 requests on DynamoDB with 16 monitors polling one
// queue (a listing, the claim, and the odd claim another monitor beat). An idle
// monitor backs off to about 3 requests a minute at the default intervals;
// Wake brings it back at once. BENCHMARKS.md has the measurements.
//
// # Beside legacy monitors
//
// In a mixed fleet on the sentinel store, the legacy daylily monitor ignores
// lock files and dispatches any workset that shows daylily.ready and no
// daylily.in_progress (or ignore, complete, error). So a Monitor moves every
// workset it claims to in_progress at once, before its handler runs: a legacy
// monitor that lists after that skips the workset, and one that raced it
// overwrites the lock object, which fences the Monitor off (ErrLeaseLost) before
// it writes anything. Either way the workset runs once
// (sentinel TestMixedFleetNeverRunsAWorksetTwice plays that protocol).
// Embedders that claim work without this package must do the same.
//
// # Nothing stranded
//
// A Monitor also hands back, every OrphanAfter/4, active worksets that this
// SDK's workers left: no live lease and no write for OrphanAfter. A worker
// that died without recording an outcome never strands its workset.
//
// # Never twice: work of other tools
//
// The deployed workers give no liveness signal while they run: the legacy
// daylily monitor writes daylily.in_progress once and runs the pipeline for
// hours, the guide's monitor writes _LOCKED and never renews it, the deployed
// Python monitor never refreshes its lock. Silence there proves nothing. So a
// workset whose active state another tool wrote, or that holds another tool's
// lock (workset.Workset.ForeignWork: the record says so, imports from those
// tools included), is never claimed, taken over or handed back by a Monitor,
// however old its lock: its stores refuse the takeover, and the sweep leaves
// it alone unless Options.ForeignAfter sets an explicit bound.
package monitor

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Handler processes one workset. It must return when ctx is done; the cause
// (context.Cause) is ErrLeaseTakenOver or ErrStoreUnreachable when the lease was
// lost, or ErrShutdown when the monitor shut down and its grace period ended
// first (ctx is not done when Run's context is: running work is drained).
type Handler func(ctx context.Context, w *workset.Workset) error

// Causes of a cancelled handler context.
var (
	// ErrLeaseTakenOver: another owner holds the lease now; stop writing.
	ErrLeaseTakenOver = fmt.Errorf("monitor: lease taken over: %w", workset.ErrLeaseLost)
	// ErrStoreUnreachable: the lease could not be renewed before it expired.
	ErrStoreUnreachable = errors.New("monitor: store unreachable: the lease could not be renewed in time")
	// ErrShutdown: the monitor shut down and Options.ShutdownGrace ended
	// before the handler did; its workset goes back to the queue.
	ErrShutdown = errors.New("monitor: shut down: the grace period for running work ended")
)

// HandlerError classifies a handler's error; a plain error counts as transient.
type HandlerError struct {
	Category workset.ErrorCategory
	Step     string
	Err      error
}

func (f *HandlerError) Error() string {
	if f.Step != "" {
		return fmt.Sprintf("%s failure in %s: %v", f.Category, f.Step, f.Err)
	}
	return fmt.Sprintf("%s failure: %v", f.Category, f.Err)
}

func (f *HandlerError) Unwrap() error { return f.Err }

// Fail wraps err as a failure of category in step; a nil err is no failure
// (Fail returns nil), so a handler may end in return monitor.Fail(..., err).
func Fail(category workset.ErrorCategory, step string, err error) error {
	if err == nil {
		return nil
	}
	return &HandlerError{Category: category, Step: step, Err: err}
}

// Options configure a Monitor.
type Options struct {
	// Owner identifies this monitor in leases (default "<hostname>-<pid>").
	Owner string
	// Concurrency bounds the worksets processed at once (default 4).
	Concurrency int
	// PollInterval is the pause between polls when there is nothing to claim
	// (default 5s). While the queue stays empty the pause doubles after each
	// empty poll, up to MaxPollInterval (default 8×PollInterval); the first
	// poll that finds work, or a call to Wake, brings it back. An idle monitor
	// makes two list requests a poll, so at the defaults about 3 a minute once
	// backed off (24 without the backoff), plus the orphan sweep's.
	PollInterval, MaxPollInterval time.Duration
	// LeaseTTL is the lease duration (default 5m); leases are renewed every
	// RenewEvery (default LeaseTTL/3).
	LeaseTTL, RenewEvery time.Duration
	// ShutdownGrace is how long running handlers may go on once Run's
	// context is done (default 30s): the monitor stops claiming at once, keeps
	// their leases alive, records what they return (a success is a success),
	// and cancels those still running when it ends (cause ErrShutdown),
	// handing their worksets back. Negative cancels them at once.
	ShutdownGrace time.Duration
	// Backoff is the delay before the n-th retry (default retry.Delay).
	Backoff func(n int) time.Duration
	// MaxRetries overrides the per-workset retry limit when positive.
	MaxRetries int
	// OrphanAfter is how long an active workset (in_progress or locked) that
	// this SDK wrote may go without a live lease and without a write before
	// the monitor hands it back to the queue (retrying, due at once, count
	// unchanged): its worker died, or lost its lease, without recording an
	// outcome. It is how no workset is ever stranded. A worker that runs
	// worksets through this SDK outside a monitor must hold a lease and renew
	// it (default 2×LeaseTTL; negative turns the sweep off). Worksets other
	// tools work on (workset.Workset.ForeignWork) are left to ForeignAfter.
	OrphanAfter time.Duration
	// ForeignAfter, when positive, is how long a workset another tool works on
	// (workset.Workset.ForeignWork: the deployed Python code, a legacy
	// monitor, or a record imported from either) may go without a write, and
	// with its lock expired, before the sweep hands it back. Those workers
	// give no liveness signal, so pick a bound longer than any run of theirs
	// (a pipeline takes hours). Zero, the default, never hands such a workset
	// back: an operator does, once they know its worker stopped.
	ForeignAfter time.Duration
	// Clock (default workset.SystemClock) and Logger (default discarded).
	Clock  workset.Clock
	Logger *slog.Logger
	// Observer receives lease-lost and shutdown events (wrap the store with
	// observe.Wrap to see every change).
	Observer observe.Observer
	// Order is the claim order within a priority (default Spread).
	Order Order
	// OnDone, when set, is called once for every workset this monitor claimed,
	// after its outcome is recorded and its lease released (from the
	// workset's own goroutine: keep it short, or hand off).
	OnDone func(Outcome)
}

// Order is the order in which a monitor claims worksets of one priority.
// Between priorities the order is always urgent, normal, low; ready worksets
// come before retrying ones whose time has come.
type Order int

const (
	// Spread claims in random order within a priority, so that monitors
	// polling the same queue rarely race for the same workset first.
	Spread Order = iota
	// OldestFirst claims the oldest workset (by CreatedAt) first within a
	// priority: first come, first served. Stores keep no creation order
	// within a priority (DynamoDB's ready index sorts by priority only), so
	// each poll reads a page of up to workset.MaxPageSize ready worksets and
	// sorts it: exact for a queue of up to that many, and a poll reads that
	// page whatever the number of free slots. Monitors polling at once also
	// race for the same workset first, so more acquisitions are refused.
	OldestFirst
)

// Outcome is what became of one claimed workset (see Options.OnDone).
type Outcome struct {
	WorksetID string
	// State is the state recorded: complete, retrying or failed; retrying
	// also when the monitor shut down mid-run. Empty when nothing could be
	// recorded (the lease was lost, or the write failed: see Err).
	State workset.State
	// HandlerErr is what the handler returned (nil on success).
	HandlerErr error
	// Err is why nothing, or not the intended state, was recorded: the lease
	// was lost (matches workset.ErrLeaseLost or ErrStoreUnreachable), or the
	// write failed. Nil when State was recorded.
	Err error
}

// Monitor claims and processes worksets.
type Monitor struct {
	store   workset.StateStore
	handler Handler
	opts    Options
	// retryCursor walks the retrying worksets one page per poll, so a poll
	// costs a bounded number of requests however many are waiting.
	retryCursor string
	// orphanCursor and lastSweep pace the sweep for orphaned worksets.
	orphanCursor string
	lastSweep    time.Time

	// failures remembers, for a store that cannot keep retry counts and times
	// (Capabilities.Retries false), how often each workset failed here and
	// when it may run again, so a failing workset is neither retried at once
	// nor retried without limit. It is this monitor's memory only.
	mu       sync.Mutex
	failures map[string]localRetry

	wake chan struct{} // see Wake
	// nextRetry is the earliest retry time, still to come, that the last
	// poll saw: an idle monitor does not sleep past it.
	nextRetry time.Time
	// refused is set by a poll whose claim another monitor beat.
	refused bool
}

type localRetry struct {
	count     int
	notBefore time.Time
}

// New returns a Monitor running handler over store.
func New(store workset.StateStore, handler Handler, optFns ...func(*Options)) (*Monitor, error) {
	var o Options
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	// A zero value, set or left, is the default.
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.PollInterval == 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 5 * time.Minute
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = 30 * time.Second
	}
	if o.Clock == nil {
		o.Clock = workset.SystemClock
	}
	if o.Backoff == nil {
		o.Backoff = retry.Delay
	}
	if o.RenewEvery == 0 {
		o.RenewEvery = o.LeaseTTL / 3
	}
	if o.MaxPollInterval == 0 {
		o.MaxPollInterval = 8 * o.PollInterval
	}
	if o.OrphanAfter == 0 {
		o.OrphanAfter = 2 * o.LeaseTTL
	}
	switch {
	case store == nil || handler == nil:
		return nil, fmt.Errorf("%w: monitor: a store and a handler are required", workset.ErrInvalidInput)
	case o.Concurrency < 1:
		return nil, fmt.Errorf("%w: monitor: Concurrency %d must be at least 1", workset.ErrInvalidInput, o.Concurrency)
	case o.PollInterval < 0:
		return nil, fmt.Errorf("%w: monitor: PollInterval %v is negative", workset.ErrInvalidInput, o.PollInterval)
	case o.LeaseTTL < 0:
		return nil, fmt.Errorf("%w: monitor: LeaseTTL %v is negative", workset.ErrInvalidInput, o.LeaseTTL)
	case o.RenewEvery <= 0 || o.RenewEvery >= o.LeaseTTL:
		return nil, fmt.Errorf("%w: monitor: RenewEvery %v must be positive and below LeaseTTL %v", workset.ErrInvalidInput, o.RenewEvery, o.LeaseTTL)
	case o.ForeignAfter < 0:
		return nil, fmt.Errorf("%w: monitor: ForeignAfter %v is negative (0 never hands foreign work back)", workset.ErrInvalidInput, o.ForeignAfter)
	case o.MaxPollInterval < o.PollInterval:
		return nil, fmt.Errorf("%w: monitor: MaxPollInterval %v is below PollInterval %v", workset.ErrInvalidInput, o.MaxPollInterval, o.PollInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = observe.Func(func(context.Context, observe.Event) {})
	}
	return &Monitor{store: store, handler: handler, opts: o, wake: make(chan struct{}, 1)}, nil
}

// Wake cuts the monitor's current pause short, so that it polls at once and
// its pause starts again from PollInterval: call it when you learn that work
// was queued (a registration in the same process, a notification). It never
// blocks.
func (m *Monitor) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Owner returns the monitor's lease owner id.
func (m *Monitor) Owner() string { return m.opts.Owner }

// Run polls and processes worksets until ctx is done. Then it stops claiming,
// lets running handlers finish for Options.ShutdownGrace (recording what they
// return, and keeping their leases alive), cancels those still running (cause
// ErrShutdown) and puts their worksets back in the queue (retrying, due at
// once, count unchanged), releases the leases and returns nil. A poll that
// fails is retried after a pause that doubles, up to MaxPollInterval, while
// the failures go on; Run returns early at once on one no retry can fix
// (workset.ErrMisconfigured: a missing table or bucket, refused credentials),
// and on any other that persists across polls for a minute.
func (m *Monitor) Run(ctx context.Context) error { return m.run(ctx, false) }

// RunUntilIdle is Run that also returns, with nil, once the queue is idle for
// this monitor: no handler of its own is running and a full poll (the ready
// queue and every page of retrying worksets) finds nothing it can claim.
// Worksets other monitors hold, and retries not yet due, are left to later
// runs. It suits batch jobs and tests that drain a queue. When ctx ends
// first it drains as Run does and returns ctx's error: the queue was not
// found idle.
func (m *Monitor) RunUntilIdle(ctx context.Context) error { return m.run(ctx, true) }

func (m *Monitor) run(ctx context.Context, untilIdle bool) error {
	slots := make(chan struct{}, m.opts.Concurrency)
	done := make(chan struct{}, m.opts.Concurrency)
	var wg sync.WaitGroup
	// Handlers run under their own context: Run's ending stops the claiming,
	// and running work is drained for the grace period before it is cancelled.
	hctx, stopHandlers := context.WithCancelCause(context.WithoutCancel(ctx))
	defer m.drain(&wg, stopHandlers)
	var failingSince time.Time
	idle := m.opts.PollInterval     // the pause after an empty poll; doubles while the queue stays empty
	failWait := m.opts.PollInterval // the pause after a failed poll; doubles while polls keep failing
	refusedPolls := 0               // polls in a row whose only claim attempt was refused
	for {
		running := len(slots)
		claimed, seen, err := m.poll(ctx, hctx, slots, done, &wg)
		switch {
		case err != nil && ctx.Err() == nil && errors.Is(err, workset.ErrMisconfigured):
			return fmt.Errorf("monitor: the queue cannot be read, and no retry will help: %w", err)
		case err != nil && ctx.Err() == nil:
			m.opts.Logger.WarnContext(ctx, "monitor: polling the queue failed", "err", err, "retry_in", failWait)
			if failingSince.IsZero() {
				failingSince = time.Now()
			} else if time.Since(failingSince) > time.Minute {
				return fmt.Errorf("monitor: the queue cannot be read: %w", err)
			}
		case err == nil:
			failingSince, failWait = time.Time{}, m.opts.PollInterval
			if untilIdle && claimed == 0 && running == 0 && len(slots) == 0 && m.retryCursor == "" {
				return nil
			}
		}
		wait := m.opts.PollInterval
		if claimed > 0 || !m.refused {
			refusedPolls = 0
		} else {
			refusedPolls++
		}
		switch {
		case err != nil:
			wait, failWait = failWait, min(2*failWait, m.opts.MaxPollInterval) // back off: the store is struggling
		case (claimed > 0 || (m.refused && refusedPolls <= 3)) && len(slots) < cap(slots):
			wait = 0 // more may be waiting (a few refused polls in a row at most: then pause)
		case untilIdle && running > 0 && len(slots) == 0:
			wait = 0 // the last handler just finished: check for idle now
		case untilIdle && m.retryCursor != "":
			wait = 0 // finish the pass over the retrying worksets
		case err == nil && seen == 0 && len(slots) == 0:
			wait, idle = idle, min(2*idle, m.opts.MaxPollInterval) // nothing queued, nothing running: back off
			if !m.nextRetry.IsZero() {
				wait = max(min(wait, m.nextRetry.Sub(m.opts.Clock.Now())), m.opts.PollInterval)
			}
		}
		if seen > 0 || len(slots) > 0 {
			idle = m.opts.PollInterval
		}
		select {
		case <-ctx.Done():
			if untilIdle {
				return ctx.Err()
			}
			return nil
		case <-done:
		case <-m.wake:
			idle = m.opts.PollInterval
		case <-time.After(wait):
		}
	}
}

// claimWindow is how many ready worksets a poll reads at least: claiming at
// random among them (within a priority) keeps monitors that poll at once from
// racing for the same few at the head of the queue. A claim another monitor
// beat ends the poll, and the next one starts at once from a fresh listing
// (a stale one only leads to more refusals: BENCHMARKS.md, contention).
const claimWindow = 64

// poll claims up to the free slots' worth of worksets: ready ones in
// priority order, then retrying ones whose time has come (one page of the
// retrying worksets per poll, in turn). It costs two list requests plus one
// claim (workset.Claim: one write on DynamoDB) per attempt.
func (m *Monitor) poll(ctx, hctx context.Context, slots, done chan struct{}, wg *sync.WaitGroup) (claimed, seen int, err error) {
	free := cap(slots) - len(slots)
	m.refused = false
	if free == 0 || ctx.Err() != nil {
		return 0, 0, nil
	}
	var candidates []*workset.Workset
	limit := max(2*free, claimWindow)
	if m.opts.Order == OldestFirst {
		limit = workset.MaxPageSize // the store's order within a priority is its own: read the window, then sort
	}
	page, err := m.store.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: limit})
	if err != nil {
		return 0, 0, err
	}
	candidates = append(candidates, page.Worksets...)
	retrying, err := m.store.List(ctx, workset.ListQuery{State: workset.StateRetrying, Limit: 100, Cursor: m.retryCursor})
	if err != nil {
		return 0, 0, err
	}
	m.retryCursor = retrying.Cursor // "" at the end: start over next time
	now := m.opts.Clock.Now()
	m.nextRetry = time.Time{}
	for _, w := range retrying.Worksets {
		switch {
		case !w.RetryAfter.After(now) && !m.heldBack(w.ID, now):
			candidates = append(candidates, w)
		case w.RetryAfter.After(now) && (m.nextRetry.IsZero() || w.RetryAfter.Before(m.nextRetry)):
			m.nextRetry = w.RetryAfter
		}
	}
	m.sweepOrphans(ctx, now)
	if m.opts.Order == OldestFirst {
		oldestFirst(candidates)
	} else {
		spread(candidates)
	}
	seen = len(candidates)
	for _, w := range candidates {
		if len(slots) == cap(slots) || ctx.Err() != nil {
			break
		}
		if w.Lease != nil && !w.Lease.Expired(m.opts.Clock.Now(), 0) {
			continue // someone is on it
		}
		cw, err := m.claim(ctx, w.ID)
		if err != nil {
			if !errors.Is(err, workset.ErrLeaseHeld) && !errors.Is(err, workset.ErrNotLeasable) && !errors.Is(err, workset.ErrConflict) {
				m.opts.Logger.WarnContext(ctx, "monitor: claiming failed", "workset", w.ID, "err", err)
				continue
			}
			// Another monitor was first: the rest of this listing is going
			// stale as fast. Poll again at once instead of chasing it.
			m.refused = true
			break
		}
		slots <- struct{}{}
		claimed++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				<-slots
				select { // wake Run; never block (Run may have returned and be waiting for us)
				case done <- struct{}{}:
				default:
				}
			}()
			m.process(hctx, cw)
		}()
	}
	return claimed, seen, nil
}

// claim claims id under a fresh idempotency key, and asks again with the same
// key (at most twice) after an error that does not say the claim was refused:
// a claim whose reply was lost is then recognised as applied and run now,
// instead of sitting in_progress until the sweep.
func (m *Monitor) claim(ctx context.Context, id string) (*workset.Workset, error) {
	req := workset.ClaimRequest{ID: id, Owner: m.opts.Owner, TTL: m.opts.LeaseTTL, IdempotencyKey: rand.Text()}
	w, err := workset.Claim(ctx, m.store, req)
	for try := 1; err != nil && !refusal(err) && try < 3 && ctx.Err() == nil; try++ {
		m.opts.Logger.DebugContext(ctx, "monitor: claim failed without a refusal; asking again with its key", "workset", id, "err", err)
		w, err = workset.Claim(ctx, m.store, req)
	}
	return w, err
}

// refusal reports whether err says a store refused a request (so nothing was
// written), as opposed to a failure that leaves its outcome unknown.
func refusal(err error) bool {
	for _, k := range []error{workset.ErrLeaseHeld, workset.ErrNotLeasable, workset.ErrConflict, workset.ErrNotFound,
		workset.ErrInvalidInput, workset.ErrUnsupported, workset.ErrMisconfigured} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// drain waits for the running handlers: for ShutdownGrace, then it cancels
// those still running (cause ErrShutdown) and waits for them to hand their
// worksets back.
func (m *Monitor) drain(wg *sync.WaitGroup, stop context.CancelCauseFunc) {
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	if m.opts.ShutdownGrace > 0 {
		select {
		case <-finished:
			stop(nil)
			return
		case <-time.After(m.opts.ShutdownGrace):
		}
	}
	stop(ErrShutdown)
	<-finished
}

// spread shuffles candidates within each run of equal priority, keeping
// dispatch order between priorities, so that monitors polling the same queue
// do not all race for the same workset first.
func spread(ws []*workset.Workset) {
	for start := 0; start < len(ws); {
		end := start + 1
		for end < len(ws) && ws[end].Priority == ws[start].Priority && ws[end].State == ws[start].State {
			end++
		}
		group := ws[start:end]
		mathrand.Shuffle(len(group), func(i, j int) { group[i], group[j] = group[j], group[i] })
		start = end
	}
}

// oldestFirst sorts each run of equal priority and state by CreatedAt.
func oldestFirst(ws []*workset.Workset) {
	for start := 0; start < len(ws); {
		end := start + 1
		for end < len(ws) && ws[end].Priority == ws[start].Priority && ws[end].State == ws[start].State {
			end++
		}
		slices.SortStableFunc(ws[start:end], func(a, b *workset.Workset) int { return a.CreatedAt.Compare(b.CreatedAt) })
		start = end
	}
}

// process runs the handler for one claimed workset and records the outcome.
// Writes after the handler use a context that survives shutdown, so leases are
// released even when Run's context is done.
func (m *Monitor) process(runCtx context.Context, w *workset.Workset) {
	out := m.work(runCtx, w)
	if m.opts.OnDone != nil {
		m.opts.OnDone(out)
	}
}

// work runs the handler on a claimed workset (in_progress, under its lease),
// records the outcome and releases the lease.
func (m *Monitor) work(runCtx context.Context, w *workset.Workset) Outcome {
	bg, cancelBG := context.WithTimeout(context.WithoutCancel(runCtx), time.Minute)
	defer cancelBG()
	id, lease := w.ID, w.Lease
	log := m.opts.Logger.With("workset", id, "owner", m.opts.Owner)
	if lease == nil { // a Claimer that broke the contract: nothing is ours to write
		err := fmt.Errorf("monitor: the store returned workset %s claimed without its lease", id)
		log.ErrorContext(bg, err.Error())
		return Outcome{WorksetID: id, Err: err}
	}
	var err error
	workCtx, cancel := context.WithCancelCause(runCtx)
	defer cancel(nil)
	var mu sync.Mutex
	current := lease
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		m.keepAlive(workCtx, cancel, &mu, &current, log)
	}()
	herr := m.handler(workCtx, w)
	cause := context.Cause(workCtx)
	cancel(nil)
	<-renewed
	mu.Lock()
	l := current
	mu.Unlock()

	out := Outcome{WorksetID: id, HandlerErr: herr}
	var rec *workset.Workset
	shutdown := errors.Is(context.Cause(runCtx), ErrShutdown)
	switch {
	case errors.Is(cause, ErrLeaseTakenOver), errors.Is(cause, ErrStoreUnreachable):
		m.opts.Observer.Observe(bg, observe.Event{Kind: observe.LeaseLost, WorksetID: id, Owner: m.opts.Owner, Err: cause, At: m.opts.Clock.Now()})
		log.WarnContext(bg, "monitor: work stopped: the lease was lost", "cause", cause)
		out.Err = cause
		return out // no longer ours to write
	case herr == nil: // a success is a success, shutdown or not
		rec, err = m.store.Transition(bg, workset.TransitionRequest{ID: id, To: workset.StateComplete, Lease: l, Reason: "completed by " + m.opts.Owner})
	case shutdown:
		// Cut short by the shutdown: hand the workset back, due at once, count unchanged.
		rec, err = m.store.Transition(bg, workset.TransitionRequest{ID: id, To: workset.StateRetrying, Lease: l,
			Reason: "monitor " + m.opts.Owner + " shut down", Retry: &workset.RetryInfo{Count: w.RetryCount, After: m.opts.Clock.Now()}})
	default:
		f := &HandlerError{Category: workset.CategoryTransient, Err: herr}
		errors.As(herr, &f)
		rec, err = retry.Record(bg, m.store, retry.Request{ID: id, Lease: l, Category: f.Category, Step: f.Step,
			Details: herr.Error(), MaxRetries: m.opts.MaxRetries, Backoff: m.opts.Backoff, PriorFailures: m.failed(id)}, m.opts.Clock.Now())
	}
	if herr == nil || shutdown {
		m.forget(id)
	}
	if err != nil {
		log.WarnContext(bg, "monitor: recording the outcome failed", "err", err)
		out.Err = err
	} else {
		out.State = rec.State
	}
	if err := m.store.ReleaseLease(bg, *l); err != nil && !errors.Is(err, workset.ErrLeaseLost) {
		log.WarnContext(bg, "monitor: releasing the lease failed", "err", err)
	}
	return out
}

// sweepOrphans hands back to the queue, one page per sweep, the active
// worksets that hold no live lease and were not written for OrphanAfter, and
// leaves those other tools work on alone unless ForeignAfter allows it. Each
// hand-back is one conditional transition (expected state and version), so it
// never races the worker it presumes dead: any write of that worker's wins.
func (m *Monitor) sweepOrphans(ctx context.Context, now time.Time) {
	if m.opts.OrphanAfter < 0 || now.Sub(m.lastSweep) < m.opts.OrphanAfter/4 {
		return
	}
	m.lastSweep = now
	for _, st := range []workset.State{workset.StateInProgress, workset.StateLocked} {
		q := workset.ListQuery{State: st, Limit: 100}
		if st == workset.StateInProgress {
			q.Cursor = m.orphanCursor
		}
		page, err := m.store.List(ctx, q)
		if err != nil {
			m.opts.Logger.WarnContext(ctx, "monitor: listing active worksets for orphans failed", "err", err)
			return
		}
		if st == workset.StateInProgress {
			m.orphanCursor = page.Cursor
		}
		for _, w := range page.Worksets {
			if w.Lease != nil && !w.Lease.Expired(now, 0) {
				continue
			}
			reason := fmt.Sprintf("orphaned: no live lease and no write since %s; handed back by %s", storekit.FormatTime(w.UpdatedAt), m.opts.Owner)
			if w.ForeignWork() {
				if m.opts.ForeignAfter <= 0 || now.Sub(w.UpdatedAt) < m.opts.ForeignAfter {
					m.opts.Logger.DebugContext(ctx, "monitor: left alone: another tool works on it", "workset", w.ID, "state", w.State, "updated", w.UpdatedAt)
					continue
				}
				reason = fmt.Sprintf("foreign work silent since %s, past ForeignAfter %v; handed back by %s", storekit.FormatTime(w.UpdatedAt), m.opts.ForeignAfter, m.opts.Owner)
			} else if now.Sub(w.UpdatedAt) < m.opts.OrphanAfter {
				continue
			}
			req := workset.TransitionRequest{ID: w.ID, To: workset.StateRetrying, ExpectedState: w.State,
				Reason: reason, Retry: &workset.RetryInfo{Count: w.RetryCount, After: now}}
			if w.State == workset.StateLocked { // the graph hands a claim back to ready
				req.To, req.Retry = workset.StateReady, nil
			}
			if m.store.Capabilities().Kept.Versions {
				req.ExpectedVersion = w.Version
			}
			if _, err := m.store.Transition(ctx, req); err != nil {
				m.opts.Logger.DebugContext(ctx, "monitor: orphan not handed back", "workset", w.ID, "err", err)
				continue
			}
			m.opts.Logger.WarnContext(ctx, "monitor: handed an orphaned workset back to the queue", "workset", w.ID, "state", w.State)
		}
	}
}

// failed notes a failure of id and returns how many came before it; it keeps
// nothing when the store keeps retry counts itself.
func (m *Monitor) failed(id string) int {
	if m.store.Capabilities().Kept.Retries {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failures == nil {
		m.failures = make(map[string]localRetry)
	}
	r := m.failures[id]
	prior := r.count
	r.count++
	r.notBefore = m.opts.Clock.Now().Add(m.opts.Backoff(r.count))
	m.failures[id] = r
	return prior
}

func (m *Monitor) forget(id string) {
	m.mu.Lock()
	delete(m.failures, id)
	m.mu.Unlock()
}

// heldBack reports whether id failed here and its backoff has not passed.
func (m *Monitor) heldBack(id string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.failures[id]
	return ok && now.Before(r.notBefore)
}

// keepAlive renews the lease every RenewEvery until ctx is done; it cancels
// the work with ErrLeaseTakenOver when the store says the lease is gone, or
// with ErrStoreUnreachable when renewals keep failing until the lease expires.
func (m *Monitor) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, mu *sync.Mutex, current **workset.Lease, log *slog.Logger) {
	t := time.NewTicker(m.opts.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mu.Lock()
		l := *current
		mu.Unlock()
		// A renewal in flight is let finish, not abandoned when the handler
		// ends: an abandoned request can still reach the store after the
		// outcome's write has read the lock, and make that write fail (the
		// sentinel store's lock object changed under it). work waits for it.
		rctx, rcancel := context.WithDeadline(context.WithoutCancel(ctx), l.ExpiresAt)
		nl, err := m.store.RenewLease(rctx, *l, m.opts.LeaseTTL)
		rcancel()
		switch {
		case err == nil:
			mu.Lock()
			*current = nl
			mu.Unlock()
		case errors.Is(err, workset.ErrLeaseLost), errors.Is(err, workset.ErrNotFound):
			cancel(ErrLeaseTakenOver)
			return
		case ctx.Err() != nil:
			return
		default:
			log.WarnContext(ctx, "monitor: renewing the lease failed", "err", err)
			if !m.opts.Clock.Now().Add(m.opts.RenewEvery).Before(l.ExpiresAt) {
				cancel(ErrStoreUnreachable) // the next try would be too late
				return
			}
		}
	}
}
