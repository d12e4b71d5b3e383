// Package retry is the retry policy of failed worksets: Record decides between
// retrying (a transient or resource failure under the limit, with exponential
// backoff) and failed, in one atomic transition; Due lists the retries whose
// time has come. monitor uses it for every failed run; call it directly when
// a worker of your own records failures.
package retry

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// DefaultMaxRetries is the deployed retry limit.
const DefaultMaxRetries = 3

// Retry delays: the n-th retry waits BaseDelay × 2^(n-1), at most MaxDelay.
const (
	BaseDelay = 30 * time.Second
	MaxDelay  = time.Hour
)

// Delay is how long the n-th retry (n ≥ 1) waits.
func Delay(n int) time.Duration {
	d := BaseDelay
	for i := 1; i < n && d < MaxDelay; i++ {
		d *= 2
	}
	return min(d, MaxDelay)
}

// Request describes a failed run of a workset, for Record.
type Request struct {
	ID       string
	Lease    *workset.Lease // the monitor's lease, for a fenced write
	Category workset.ErrorCategory
	Step     string // the pipeline step that failed (failed_step)
	Details  string // error_details
	Reason   string // history reason (default "<category> failure")
	// MaxRetries overrides the workset's limit (Workset.MaxRetries, else
	// DefaultMaxRetries) when positive.
	MaxRetries int
	// Backoff is the delay before the n-th retry (default Delay).
	Backoff func(n int) time.Duration
	// PriorFailures is how many failures the caller already recorded for this
	// workset. A store that cannot keep retry_count (Capabilities.Kept.Retries
	// false) reads every workset as never retried; the caller's own count then
	// decides between retrying and failed. Ignored when the store keeps counts.
	PriorFailures int
}

// Record records a failure: a transient or resource failure under the
// retry limit moves the workset to retrying, increments retry_count and sets
// retry_after (exponential backoff, capped); any other failure, or one past
// the limit, moves it to failed. The increment is atomic: the write is
// conditioned on the version read (or, on a store without versions, the
// state), and retried if another write came in between, so no count is lost.
// On a store without Capabilities.Kept.Retries the count cannot be kept and every
// retryable failure goes to retrying.
func Record(ctx context.Context, s workset.StateStore, req Request, now time.Time) (*workset.Workset, error) {
	if err := workset.ValidateID(req.ID); err != nil {
		return nil, err
	}
	if req.Category == "" || !req.Category.Valid() {
		return nil, invalid(req.ID, "unknown error category %q (valid: transient, resource, configuration, data, permanent)", req.Category)
	}
	if req.MaxRetries < 0 {
		return nil, invalid(req.ID, "negative MaxRetries %d", req.MaxRetries)
	}
	caps := s.Capabilities()
	backoff := req.Backoff
	if backoff == nil {
		backoff = Delay
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
		if !caps.Kept.Retries && req.PriorFailures > w.RetryCount {
			w.RetryCount = req.PriorFailures
		}
		tr := workset.TransitionRequest{ID: req.ID, Lease: req.Lease, ErrorDetails: req.Details, ErrorCategory: req.Category,
			FailedStep: req.Step, Reason: req.Reason, ExpectedState: w.State}
		if caps.Kept.Versions {
			tr.ExpectedVersion = w.Version
		}
		if req.Category.Retryable() && w.RetryCount < limit {
			n := w.RetryCount + 1
			tr.To, tr.Retry = workset.StateRetrying, &workset.RetryInfo{Count: n, After: now.Add(backoff(n))}
		} else {
			tr.To = workset.StateFailed
		}
		if tr.Reason == "" {
			tr.Reason = fmt.Sprintf("%s failure", req.Category)
			if tr.To == workset.StateRetrying {
				tr.Reason += fmt.Sprintf(" (retry %d of %d)", tr.Retry.Count, limit)
			}
		}
		out, err := s.Transition(ctx, tr)
		if errors.Is(err, workset.ErrConflict) && attempt < 10 {
			continue // another write came in between: read again
		}
		return out, err
	}
}

// Due returns the retrying worksets whose retry time has come at now,
// following every page.
func Due(ctx context.Context, s workset.StateStore, now time.Time) iter.Seq2[*workset.Workset, error] {
	return func(yield func(*workset.Workset, error) bool) {
		for w, err := range workset.All(ctx, s, workset.ListQuery{State: workset.StateRetrying, Limit: workset.MaxPageSize}) {
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

func invalid(id, format string, args ...any) error {
	return &workset.Error{ID: id, Kind: workset.ErrInvalidInput, Detail: fmt.Sprintf(format, args...)}
}
