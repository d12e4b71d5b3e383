package storetest

import (
	"sync"
	"sync/atomic"
	"time"

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
