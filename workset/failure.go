package workset

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// DefaultMaxRetries is the deployed retry limit.
const DefaultMaxRetries = 3

// Retry delays: the n-th retry waits RetryBaseDelay × 2^(n-1), at most RetryMaxDelay.
const (
	RetryBaseDelay = 30 * time.Second
	RetryMaxDelay  = time.Hour
)

// RetryDelay is how long the n-th retry (n ≥ 1) waits.
func RetryDelay(n int) time.Duration {
	d := RetryBaseDelay
	for i := 1; i < n && d < RetryMaxDelay; i++ {
		d *= 2
	}
	return min(d, RetryMaxDelay)
}

// FailureRequest records a failed run of a workset.
type FailureRequest struct {
	ID       string
	Lease    *Lease // the monitor's lease, for a fenced write
	Category ErrorCategory
	Step     string // the pipeline step that failed (failed_step)
	Details  string // error_details
	Reason   string // history reason (default "<category> failure")
	// MaxRetries overrides the workset's limit (Workset.MaxRetries, else
	// DefaultMaxRetries) when positive.
	MaxRetries int
	// Backoff is the delay before the n-th retry (default RetryDelay).
	Backoff func(n int) time.Duration
	// PriorFailures is how many failures the caller already recorded for this
	// workset. A store that cannot keep retry_count (Capabilities.Retries
	// false) reads every workset as never retried; the caller's own count then
	// decides between retrying and failed. Ignored when the store keeps counts.
	PriorFailures int
}

// Retryable reports whether failures of category c are retried.
func (c ErrorCategory) Retryable() bool { return c == CategoryTransient || c == CategoryResource }

// RecordFailure records a failure: a transient or resource failure under the
// retry limit moves the workset to retrying, increments retry_count and sets
// retry_after (exponential backoff, capped); any other failure, or one past
// the limit, moves it to failed. The increment is atomic: the write is
// conditioned on the version read (or, on a store without versions, the
// state), and retried if another write came in between, so no count is lost.
// On a store without Capabilities.Retries the count cannot be kept and every
// retryable failure goes to retrying.
func RecordFailure(ctx context.Context, s StateStore, req FailureRequest, now time.Time) (*Workset, error) {
	if err := ValidateID(req.ID); err != nil {
		return nil, err
	}
	if req.Category == "" || !req.Category.Valid() {
		return nil, invalid("workset %s: unknown error category %q (valid: transient, resource, configuration, data, permanent)", req.ID, req.Category)
	}
	if req.MaxRetries < 0 {
		return nil, invalid("workset %s: negative MaxRetries %d", req.ID, req.MaxRetries)
	}
	caps := s.Capabilities()
	backoff := req.Backoff
	if backoff == nil {
		backoff = RetryDelay
	}
	for attempt := 0; ; attempt++ {
		w, err := s.Get(ctx, req.ID)
		if err != nil {
			return nil, err
		}
		limit := req.MaxRetries
		if limit == 0 {
			limit = w.MaxRetries
		}
		if limit <= 0 {
			limit = DefaultMaxRetries
		}
		if !caps.Retries && req.PriorFailures > w.RetryCount {
			w.RetryCount = req.PriorFailures
		}
		tr := TransitionRequest{ID: req.ID, Lease: req.Lease, ErrorDetails: req.Details, ErrorCategory: req.Category,
			FailedStep: req.Step, Reason: req.Reason, ExpectedState: w.State}
		if caps.Versioning {
			tr.ExpectedVersion = w.Version
		}
		if req.Category.Retryable() && w.RetryCount < limit {
			n := w.RetryCount + 1
			tr.To, tr.Retry = StateRetrying, &RetryInfo{Count: n, After: now.Add(backoff(n))}
		} else {
			tr.To = StateFailed
		}
		if tr.Reason == "" {
			tr.Reason = fmt.Sprintf("%s failure", req.Category)
			if tr.To == StateRetrying {
				tr.Reason += fmt.Sprintf(" (retry %d of %d)", tr.Retry.Count, limit)
			}
		}
		out, err := s.Transition(ctx, tr)
		if errors.Is(err, ErrConflict) && attempt < 10 {
			continue // another write came in between: read again
		}
		return out, err
	}
}

// DueRetries returns the retrying worksets whose retry time has come at now,
// following every page.
func DueRetries(ctx context.Context, s StateStore, now time.Time) iter.Seq2[*Workset, error] {
	return func(yield func(*Workset, error) bool) {
		for w, err := range All(ctx, s, ListQuery{State: StateRetrying, Limit: MaxPageSize}) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !w.RetryAfter.After(now) && !yield(w, nil) {
				return
			}
		}
	}
}
