package transport

import (
	"net/http"
	"time"
)

// Delay adds a fixed round-trip time to every request before forwarding it, so
// loopback servers behave like a network away. Every contender of a benchmark
// goes through the same Delay.
type Delay struct {
	Next http.RoundTripper
	RTT  time.Duration
}

// RoundTrip implements http.RoundTripper.
func (d *Delay) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.RTT > 0 {
		t := time.NewTimer(d.RTT)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return nil, r.Context().Err()
		}
	}
	next := d.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}
