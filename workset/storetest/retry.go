package storetest

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/workset"
)

func testRecordFailure(e *env) {
	e.skipUnless(e.caps.Kept.Retries, "retry counts are not stored")
	e.register("ws-f", "")
	e.register("ws-p", "")
	l, err := e.s.AcquireLease(e.ctx, "ws-f", "m", time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	var last time.Time
	for i := 1; i <= 4; i++ {
		e.transition(workset.TransitionRequest{ID: "ws-f", To: workset.StateInProgress, Lease: l})
		w, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-f", Lease: l, Category: workset.CategoryTransient, Step: "align", Details: "exit 137"}, e.clock.Now())
		if err != nil {
			e.t.Fatalf("failure %d: %v", i, err)
		}
		if i <= retry.DefaultMaxRetries {
			if w.State != workset.StateRetrying || w.RetryCount != i || !w.RetryAfter.After(last) || w.FailedStep != "align" || w.ErrorCategory != workset.CategoryTransient {
				e.t.Fatalf("failure %d: %s count %d after %v step %q", i, w.State, w.RetryCount, w.RetryAfter, w.FailedStep)
			}
			last = w.RetryAfter
			// Not due before its time; due after.
			for w, err := range retry.Due(e.ctx, e.s, e.clock.Now()) {
				if err != nil || w.ID == "ws-f" {
					e.t.Fatalf("ws-f due before its retry time (%v)", err)
				}
			}
			e.clock.Advance(retry.Delay(i) + time.Second)
			due := 0
			for w, err := range retry.Due(e.ctx, e.s, e.clock.Now()) {
				if err != nil {
					e.t.Fatal(err)
				}
				if w.ID == "ws-f" {
					due++
				}
			}
			if due != 1 {
				e.t.Fatalf("ws-f not due after its retry time")
			}
		} else if w.State != workset.StateFailed || w.RetryCount != retry.DefaultMaxRetries {
			e.t.Fatalf("past the limit: %s count %d, want failed", w.State, w.RetryCount)
		}
	}
	before := e.get("ws-p")
	_, err = retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: workset.CategoryPermanent}, e.clock.Now())
	wantErr(e.t, err, workset.ErrInvalidTransition, "a failure recorded on a ready workset (ready -> failed)")
	e.unchanged(before, "a refused failure")
	var w *workset.Workset
	e.transition(workset.TransitionRequest{ID: "ws-p", To: workset.StateInProgress})
	if w, err = retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: workset.CategoryPermanent}, e.clock.Now()); err != nil || w.State != workset.StateFailed || w.RetryCount != 0 {
		e.t.Fatalf("permanent failure: %+v, %v", w, err)
	}
	_, err = retry.Record(e.ctx, e.s, retry.Request{ID: "ws-p", Category: "cosmic"}, e.clock.Now())
	wantErr(e.t, err, workset.ErrInvalidInput, "unknown category")
}

// testRecordFailureRace: concurrent failures of one workset never lose an
// increment.
func testRecordFailureRace(e *env) {
	e.skipUnless(e.caps.Kept.Retries && e.caps.Kept.Versions, "retry counts are not stored")
	e.register("ws-fr", "")
	e.transition(workset.TransitionRequest{ID: "ws-fr", To: workset.StateInProgress})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-fr", Category: workset.CategoryTransient}, e.clock.Now()); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	// in_progress -> retrying once; retrying -> retrying is refused by the graph,
	// so exactly one failure applies and the count is 1.
	if w := e.get("ws-fr"); ok.Load() != 1 || w.RetryCount != 1 {
		e.t.Fatalf("%d failures applied, count %d; want 1 and 1", ok.Load(), w.RetryCount)
	}
}

// testHugeDetails: a handler's error of megabytes is stored cut to
// workset.MaxErrorDetails with the marker (reasons to MaxReason), the same on
// every store, and the record around it survives: retry counts go on, the
// workset fails at the limit, and a keyed retry of the applied write succeeds.
func testHugeDetails(e *env) {
	e.skipUnless(e.caps.Kept.Retries, "retry counts are not stored")
	e.register("ws-h", "")
	l, err := e.s.AcquireLease(e.ctx, "ws-h", "m", time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	huge := strings.Repeat("stack frame é\t\"quoted\"\n\x01", 40000) // ~1 MB, escapes and multi-byte runes
	for i := 1; i <= retry.DefaultMaxRetries+1; i++ {
		e.transition(workset.TransitionRequest{ID: "ws-h", To: workset.StateInProgress, Lease: l, Reason: huge})
		_, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-h", Lease: l, Category: workset.CategoryTransient, Step: "align", Details: huge}, e.clock.Now())
		if err != nil {
			e.t.Fatalf("failure %d with huge details: %v", i, err)
		}
		want, wantState := i, workset.StateRetrying
		if i > retry.DefaultMaxRetries {
			want, wantState = retry.DefaultMaxRetries, workset.StateFailed
		}
		if got := e.get("ws-h"); got.State != wantState || got.RetryCount != want {
			e.t.Fatalf("failure %d: reads %s count %d, want %s count %d (the record was lost)", i, got.State, got.RetryCount, wantState, want)
		}
		e.clock.Advance(retry.Delay(i) + time.Second)
	}
	got := e.get("ws-h")
	if n := len(got.ErrorDetails); n > workset.MaxErrorDetails || (n > 0 && (!strings.HasSuffix(got.ErrorDetails, "bytes]") || !utf8.ValidString(got.ErrorDetails))) {
		e.t.Errorf("stored details are %d bytes ending %q; want at most %d, valid UTF-8, ending in the truncation marker", n, got.ErrorDetails[max(0, n-40):], workset.MaxErrorDetails)
	}
	for _, h := range got.History {
		if len(h.Reason) > workset.MaxReason {
			e.t.Errorf("a history reason is %d bytes, want at most %d", len(h.Reason), workset.MaxReason)
		}
	}
	// A keyed write with huge details, retried with its key, applied once.
	e.register("ws-hk", "")
	req := workset.TransitionRequest{ID: "ws-hk", To: workset.StateIgnored, Reason: huge, ErrorDetails: huge, IdempotencyKey: "huge-1"}
	e.transition(req)
	if _, err := e.s.Transition(e.ctx, req); err != nil {
		e.t.Errorf("keyed retry of an applied write with huge details: %v", err)
	}
}

// testSuccessAfterFailure: a workset that failed and then completed reads
// the same on every store (issue 26, 6): the retry fields are cleared on
// success (the history keeps the failure).
func testSuccessAfterFailure(e *env) {
	e.skipUnless(e.caps.Kept.Retries, "retry counts are not stored")
	e.register("ws-s", "")
	e.transition(workset.TransitionRequest{ID: "ws-s", To: workset.StateInProgress})
	if _, err := retry.Record(e.ctx, e.s, retry.Request{ID: "ws-s", Category: workset.CategoryTransient, Step: "align", Details: "exit 137"}, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	e.transition(workset.TransitionRequest{ID: "ws-s", To: workset.StateInProgress})
	done := e.transition(workset.TransitionRequest{ID: "ws-s", To: workset.StateComplete})
	for _, w := range []*workset.Workset{done, e.get("ws-s")} {
		if w.RetryCount != 0 || !w.RetryAfter.IsZero() || w.FailedStep != "" || w.ErrorCategory != "" {
			e.t.Errorf("complete after a failure reads count %d after %v step %q category %q; want all cleared",
				w.RetryCount, w.RetryAfter, w.FailedStep, w.ErrorCategory)
		}
	}
}
