package transport

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
)

// AmbiguousFailure lets a request reach the server and be processed, then
// discards the response and reports a connection reset, as a network failure
// after sending would. Only requests for which Match returns true are hit, and
// only the first Times of them (1 when zero).
type AmbiguousFailure struct {
	Next  http.RoundTripper
	Match func(*http.Request) bool
	Times int

	mu  sync.Mutex
	hit int
}

// RoundTrip implements http.RoundTripper.
func (a *AmbiguousFailure) RoundTrip(r *http.Request) (*http.Response, error) {
	next := a.Next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err != nil || a.Match == nil || !a.Match(r) {
		return resp, err
	}
	a.mu.Lock()
	times := max(a.Times, 1)
	fire := a.hit < times
	if fire {
		a.hit++
	}
	a.mu.Unlock()
	if !fire {
		return resp, nil
	}
	resp.Body.Close()
	return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
}

// Hits reports how many responses were discarded.
func (a *AmbiguousFailure) Hits() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hit
}

// IsOp matches requests of one API operation.
func IsOp(op string) func(*http.Request) bool {
	return func(r *http.Request) bool { return Operation(r) == op }
}

// Outage refuses every request as a closed port would while Down is set, and
// passes them on otherwise: a store that goes away for a while, then comes back.
type Outage struct {
	Next http.RoundTripper
	Down atomic.Bool
	// Refused counts the requests refused while Down.
	Refused atomic.Int64
}

// RoundTrip implements http.RoundTripper.
func (o *Outage) RoundTrip(r *http.Request) (*http.Response, error) {
	if o.Down.Load() {
		o.Refused.Add(1)
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	next := o.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
