package transport

import (
	"net/http"
	"strings"
	"sync"
	"time"
)

// RateLimit throttles DynamoDB write requests above Rate a second, as a table
// does past its capacity: a request beyond the rate (a token bucket holding
// one second's worth) gets ProvisionedThroughputExceededException and never
// reaches the server. Reads and other services pass.
type RateLimit struct {
	Next http.RoundTripper
	Rate float64

	mu        sync.Mutex
	tokens    float64
	last      time.Time
	passed    int
	throttled int
}

// Counts returns the write requests passed and throttled so far.
func (l *RateLimit) Counts() (passed, throttled int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.passed, l.throttled
}

func (l *RateLimit) allow() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.last.IsZero() {
		l.tokens, l.last = l.Rate, now
	}
	l.tokens = min(l.Rate, l.tokens+now.Sub(l.last).Seconds()*l.Rate)
	l.last = now
	if l.tokens < 1 {
		l.throttled++
		return false
	}
	l.tokens--
	l.passed++
	return true
}

// RoundTrip implements http.RoundTripper.
func (l *RateLimit) RoundTrip(r *http.Request) (*http.Response, error) {
	next := l.Next
	if next == nil {
		next = http.DefaultTransport
	}
	op := r.Header.Get("X-Amz-Target")
	write := strings.HasSuffix(op, ".PutItem") || strings.HasSuffix(op, ".UpdateItem") || strings.HasSuffix(op, ".DeleteItem")
	if write && !l.allow() {
		return synth(r, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}`), nil
	}
	return next.RoundTrip(r)
}
