package workset

import (
	"slices"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/valuemodel"
)

// ErrorCategory classifies a failure (the deployed `error_category` values).
type ErrorCategory string

// The error categories of the deployed system.
const (
	CategoryTransient     ErrorCategory = "transient"     // network blips, throttling: retry soon
	CategoryResource      ErrorCategory = "resource"      // out of capacity: retry later
	CategoryConfiguration ErrorCategory = "configuration" // fix the setup, then restart
	CategoryData          ErrorCategory = "data"          // bad input data
	CategoryPermanent     ErrorCategory = "permanent"     // will never succeed
)

// Valid reports whether c is empty or one of the deployed categories.
func (c ErrorCategory) Valid() bool {
	switch c {
	case "", CategoryTransient, CategoryResource, CategoryConfiguration, CategoryData, CategoryPermanent:
		return true
	}
	return false
}

// Workset is the full record of one workset as a store holds it. Values returned by
// a store are the caller's own copies.
type Workset struct {
	ID       string
	State    State
	Priority Priority
	// Bucket and Prefix locate the workset's data in S3 (Prefix ends in "/").
	Bucket string
	Prefix string

	CreatedAt time.Time
	UpdatedAt time.Time

	// Metadata is free-form user data (a native map in DynamoDB).
	Metadata map[string]any
	// History is the audit trail, oldest first. Stores may bound its length
	// (oldest entries dropped first); see Capabilities.History.
	History []HistoryEntry

	// Lease is the current lease, if any (it may have expired: see Lease.Expired).
	Lease *Lease
	// FencingToken is the last fencing token issued for this workset (0 if none).
	// It only grows.
	FencingToken int64
	// Version counts the writes made to this record through this SDK. It starts
	// at 1 on registration; records written by other tools may read as 0.
	Version int64
	// Foreign is set when the current state was written by another tool than
	// this SDK (the deployed Python code, a legacy sentinel monitor) or
	// imported from a record that was. Those tools give no liveness signal
	// while they work (see ForeignWork), so nothing this SDK keeps tells
	// whether they still run the workset. Every write of this SDK that sets
	// the state clears it; an import keeps it as given.
	Foreign bool

	ErrorDetails  string
	ErrorCategory ErrorCategory
	ClusterName   string
	Metrics       map[string]any

	// RetryCount is how many retryable failures were recorded (retry_count).
	RetryCount int
	// RetryAfter is when a retrying workset may run again (zero: at once).
	RetryAfter time.Time
	// FailedStep names the pipeline step that failed last (failed_step).
	FailedStep string
	// MaxRetries overrides DefaultMaxRetries for this workset when positive
	// (the deployed max_retries attribute).
	MaxRetries int

	// Attributes holds attributes this SDK does not model (written by other tools,
	// such as customer_id or retry_count). Stores never drop them on update.
	// Values are JSON-like: string, float64/int64, bool, nil, []any, map[string]any.
	Attributes map[string]any
}

// HistoryEntry is one entry of the audit trail.
type HistoryEntry struct {
	State         State
	Timestamp     time.Time
	Reason        string
	ErrorCategory ErrorCategory // optional
	// Forced is set when the transition bypassed the graph (TransitionRequest.Force).
	Forced bool
}

// Clone returns a deep copy of w (nil for nil).
func (w *Workset) Clone() *Workset {
	if w == nil {
		return nil
	}
	c := *w
	c.Metadata = valuemodel.CloneMap(w.Metadata)
	c.Metrics = valuemodel.CloneMap(w.Metrics)
	c.Attributes = valuemodel.CloneMap(w.Attributes)
	c.History = slices.Clone(w.History)
	if w.Lease != nil {
		l := *w.Lease
		c.Lease = &l
	}
	return &c
}

// ForeignWork reports whether w is active (in_progress or locked) under
// another tool's hand: its state was written by another tool (Foreign), or the
// lock it holds is another tool's (Lease.Foreign). Such a worker may still be
// running it however long ago it wrote or however stale its lock looks: the
// legacy daylily monitor writes daylily.in_progress once and runs for hours,
// the deployed Python monitor never refreshes its lock. So no store takes an
// expired lease of such a workset over, and the monitor never hands one back
// on its own (monitor.Options.ForeignAfter is the explicit bound).
func (w *Workset) ForeignWork() bool {
	if w.State != StateInProgress && w.State != StateLocked {
		return false
	}
	return w.Foreign || (w.Lease != nil && w.Lease.Foreign())
}

// Lease is a time-bounded, exclusive claim on a workset. Token is the fencing
// token: it grows with every acquisition of the workset, and a write made under a
// lease whose token is no longer current fails with ErrLeaseLost. A lock that
// another tool wrote (the deployed Python code's lock_owner, a legacy lock
// file) reads as a Lease with Token 0 (see Foreign).
type Lease struct {
	WorksetID string
	Owner     string
	Token     int64
	// AcquiredAt is when the lease was acquired; on DynamoDB, when it was
	// acquired or last renewed (the deployed lock_acquired_at, which the
	// deployed refresh_lock also moves, and on which its takeovers condition).
	AcquiredAt time.Time
	ExpiresAt  time.Time
}

// Foreign reports whether the lease is a lock another tool wrote (Token 0):
// it carries no fencing token, and its expiry is that tool's own, which its
// worker may never refresh.
func (l Lease) Foreign() bool { return l.Token == 0 }

// Expired reports whether another owner may take the lease over at now: that is
// when now is at or past ExpiresAt plus the skew margin allowed for clocks that
// disagree.
func (l Lease) Expired(now time.Time, skew time.Duration) bool {
	return !now.Before(l.ExpiresAt.Add(skew))
}

// RegisterRequest registers a new workset in state ready.
type RegisterRequest struct {
	ID       string
	Priority Priority // empty means PriorityNormal
	Bucket   string
	Prefix   string
	Metadata map[string]any
	// Attributes are extra top-level attributes to store (e.g. customer_id).
	// Names this SDK models are refused.
	Attributes map[string]any
	// Reason is the first history entry's reason; empty means "Initial registration".
	Reason string
}

// TransitionRequest moves a workset to another state.
type TransitionRequest struct {
	ID     string
	To     State
	Reason string
	// ExpectedState, when set, must be the current state or the call fails with
	// ErrConflict.
	ExpectedState State
	// ExpectedVersion, when non-zero, must be the current version or the call
	// fails with ErrConflict.
	ExpectedVersion int64
	// Lease, when set, makes the write fenced: it applies only while this lease is
	// the workset's current lease, and fails with ErrLeaseLost otherwise. Without a
	// lease the write fails with ErrLeaseHeld while another owner's lease is live.
	Lease *Lease
	// Force bypasses the transition graph and any live lease (for operators and
	// migration). The history entry records it.
	Force bool

	// Optional fields set with the state. Empty values leave the stored ones
	// alone, except that a move to complete clears the retry fields (RetryCount,
	// RetryAfter, FailedStep, ErrorCategory) on every store: a success is not a
	// pending retry (the history keeps the failures).
	ErrorDetails  string
	ErrorCategory ErrorCategory
	ClusterName   string
	Metrics       map[string]any
	FailedStep    string
	// Retry, when set, sets the retry count and time (RecordFailure uses it).
	Retry *RetryInfo
	// IdempotencyKey, when set, makes a retry of this request safe: after an
	// ambiguous failure (a timeout, a lost response) the caller sends the same
	// request with the same key, and if the first attempt applied, the retry
	// reports success (with the record as it is) instead of an error such as
	// in_progress -> in_progress. The key must be unique per intended change
	// (a UUID); it is remembered until the workset's next write, so retry at
	// once. Every store and the DualWriter honour it.
	IdempotencyKey string
	// Actor names who asked for the transition. Archive, delete and restore
	// record it (archived_by, deleted_by, restored_by) with Reason and the time,
	// as the deployed code does; see Archive, Restore and Delete.
	Actor string
}

// RetryInfo is the retry bookkeeping a transition sets.
type RetryInfo struct {
	Count int
	After time.Time
}

// ListQuery selects worksets. Zero values mean "any".
type ListQuery struct {
	State    State
	Priority Priority
	// Customer, when set, keeps only the worksets whose customer_id attribute
	// (Workset.Attributes["customer_id"]) is this value. Stores that keep no
	// attributes refuse it with ErrUnsupported.
	Customer string
	// Limit is the page size; 0 means the store's default (100). Stores cap it at 1000.
	Limit int
	// Cursor continues a previous page ("" for the first page). Cursors are opaque
	// and only valid for the same query on the same store.
	Cursor string
}

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of a list. Cursor is empty on the last page.
type Page struct {
	Worksets []*Workset
	// Malformed lists the records of this page that could not be read (they
	// are not in Worksets; the store also logs them). One bad record never
	// fails a page.
	Malformed []*MalformedError
	Cursor    string
}

// Bounds on the free text a store keeps, the same on every store: a longer
// ErrorDetails, Reason or FailedStep is cut at a UTF-8 boundary and ends in
// " …[truncated N bytes]" (N counts what was cut), so the stored value is
// never longer than its bound. A handler's error can be megabytes; what is
// stored must still fit a sentinel body (read up to 64 KiB) and a DynamoDB
// item (400 KB, with the history's reasons), or the record would be lost.
const (
	MaxErrorDetails = 4 << 10
	MaxReason       = 1 << 10
)

// Retryable reports whether failures of category c are retried.
func (c ErrorCategory) Retryable() bool { return c == CategoryTransient || c == CategoryResource }
