// Package adaptive bounds requests in flight and finds the bound itself: the
// Migrator's writes and the sentinel store's folder listings share it.
package adaptive

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go"
)

// Limiter bounds requests in flight (the Migrator's writes, the sentinel
// store's folder listings) and finds the bound itself,
// between 1 and max. It watches each window of completed writes: while the
// latency stays near the best seen it grows the bound (by its square root a
// window, so quickly from a small start), as the median latency rises past 2×
// the best it shrinks in proportion (more requests in flight would only queue
// at the server), and it halves when the server throttles more than the odd
// request (5% of a window, or 4 requests). This is how a run
// with default options reaches what the table allows from a laptop at 25 ms
// as well as beside the table at 1 ms, without a storm of throttling errors
// (an on-demand table throttles a jump above twice its previous peak).
type Limiter struct {
	mu       sync.Mutex
	cond     *sync.Cond
	fixed    bool
	max      float64
	limit    float64
	inflight int

	winStart  time.Time
	winLat    []time.Duration // latencies of the window's writes
	throttled int             // of the window's writes, how many were throttled
	best      time.Duration   // the lowest window median latency seen
	peak      float64         // the highest limit reached
	probing   bool            // slow start: double each window until latency rises or the server throttles
	// gap spaces the starts of writes once the bound is down to one and the
	// server still throttles: below one write in flight, the rate is what
	// gives. It doubles while throttling goes on and shrinks by a quarter a
	// window after.
	gap       time.Duration
	lastStart time.Time
}

// New returns a Limiter with a bound between 1 and max: fixed at max, or
// adapting from a slow start at 8.
func New(max int, fixed bool) *Limiter {
	return NewFrom(max, min(8, max), fixed)
}

// NewFrom is New starting at start (for requests cheap enough to begin at
// full width and back off, such as listings).
func NewFrom(max, start int, fixed bool) *Limiter {
	l := &Limiter{fixed: fixed, max: float64(max), limit: math.Min(math.Max(float64(start), 1), float64(max)), winStart: time.Now()}
	if fixed {
		l.limit = float64(max)
	}
	l.peak, l.probing = l.limit, !fixed
	l.cond = sync.NewCond(&l.mu)
	return l
}

// Acquire waits for a slot (and, while the bound spaces writes, for the
// write's turn); it returns early with the context's error.
func (l *Limiter) Acquire(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	for l.inflight >= int(l.limit) {
		if err := ctx.Err(); err != nil {
			l.mu.Unlock()
			return err
		}
		l.cond.Wait()
	}
	l.inflight++
	var wait time.Duration
	if now := time.Now(); l.gap > 0 {
		next := l.lastStart.Add(l.gap)
		if next.After(now) {
			wait, l.lastStart = next.Sub(now), next
		} else {
			l.lastStart = now
		}
	}
	l.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			l.mu.Lock()
			l.inflight--
			l.cond.Broadcast()
			l.mu.Unlock()
			return ctx.Err()
		}
	}
	return nil
}

// Release ends a write that took lat and failed with err (nil on success), and
// adapts the bound at the end of a window.
func (l *Limiter) Release(lat time.Duration, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	defer l.cond.Broadcast()
	if l.fixed {
		return
	}
	if isThrottle(err) {
		l.throttled++
	}
	l.winLat = append(l.winLat, lat)
	n := len(l.winLat)
	if n < max(32, int(l.limit)) && time.Since(l.winStart) < 500*time.Millisecond {
		return
	}
	// The window's median: a few slow requests (a retried one, a network
	// hiccup) do not move it; a server that queues does.
	slices.Sort(l.winLat)
	med := l.winLat[n/2]
	throttling := l.throttled*20 > n || l.throttled >= 4
	switch {
	case throttling && l.limit <= 1:
		l.gap = min(max(2*l.gap, time.Millisecond), time.Second) // one at a time is still too many: space them
		l.probing = false
	case throttling:
		l.limit = math.Max(1, l.limit/2) // the server asks to slow down (throttled, 5xx)
		l.probing = false
	case l.gap > 0:
		// Close the gap slowly (and open it fast, above): the spacing that
		// holds is near the table's rate, and probing past it costs throttles.
		if l.gap -= l.gap / 4; l.gap < 100*time.Microsecond {
			l.gap = 0
		}
	case l.probing && (l.best == 0 || med < 3*l.best/2):
		// Slow start: while latency holds, double (so a run reaches its level
		// in a handful of windows, not dozens).
		l.best = min(cmp.Or(l.best, med), med)
		l.limit = math.Min(l.max, 2*l.limit)
	case l.probing:
		l.probing = false // latency rose: the server's level is near; adapt from here
		l.limit = math.Max(1, l.limit*2*float64(l.best)/float64(med))
	case l.best == 0 || med < l.best:
		l.best = med
		l.limit = math.Min(l.max, l.limit+math.Sqrt(l.limit))
	default:
		g := math.Min(1, 2*float64(l.best)/float64(med)) // 1 while latency holds, below as it rises
		l.limit = math.Max(1, math.Min(l.max, l.limit*g+math.Sqrt(l.limit)*g))
		// The best latency drifts up slowly, so that a server that got slower
		// for good is not judged against a moment long gone.
		l.best += l.best / 100
	}
	l.peak = math.Max(l.peak, l.limit)
	l.winStart, l.winLat, l.throttled = time.Now(), l.winLat[:0], 0
}

// Current is the bound now and the highest it reached.
func (l *Limiter) Current() (now, peak int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit), int(l.peak)
}

// isThrottle reports a server asking the client to slow down: DynamoDB's
// throttling errors, or a 5xx.
func isThrottle(err error) bool {
	if err == nil {
		return false
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch code := api.ErrorCode(); {
		case code == "ProvisionedThroughputExceededException", code == "ThrottlingException",
			code == "RequestLimitExceeded", code == "SlowDown", strings.HasSuffix(code, "ThrottledException"):
			return true
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() >= 500 {
		return true
	}
	return false
}
