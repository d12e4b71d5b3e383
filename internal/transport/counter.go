// Package transport holds http.RoundTrippers that wrap the AWS SDK clients in
// tests and benchmarks: counting requests per API operation.
package transport

import (
	"maps"
	"net/http"
	"strings"
	"sync"
)

// Counter counts requests per API operation (DynamoDB's X-Amz-Target, or the
// S3 operation inferred from method and query). It is safe for concurrent use.
type Counter struct {
	// Next is the wrapped transport (http.DefaultTransport when nil).
	Next http.RoundTripper

	mu     sync.Mutex
	counts map[string]int
}

// RoundTrip implements http.RoundTripper.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	op := Operation(r)
	c.mu.Lock()
	if c.counts == nil {
		c.counts = make(map[string]int)
	}
	c.counts[op]++
	c.mu.Unlock()
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Counts returns a copy of the counts so far.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Total returns the number of requests so far.
func (c *Counter) Total() int {
	n := 0
	for _, v := range c.Counts() {
		n += v
	}
	return n
}

// Reset zeroes the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts = nil
}

// Operation names the API operation of an SDK request.
func Operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if _, op, ok := strings.Cut(t, "."); ok {
			return op
		}
		return t
	}
	q := r.URL.Query()
	path := strings.Trim(r.URL.Path, "/")
	objectLevel := strings.Contains(path, "/")
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Has("list-type"):
			return "ListObjectsV2"
		case !objectLevel:
			return "ListObjects"
		default:
			return "GetObject"
		}
	case http.MethodHead:
		if objectLevel {
			return "HeadObject"
		}
		return "HeadBucket"
	case http.MethodPut:
		if objectLevel {
			return "PutObject"
		}
		return "CreateBucket"
	case http.MethodDelete:
		if objectLevel {
			return "DeleteObject"
		}
		return "DeleteBucket"
	case http.MethodPost:
		if q.Has("delete") {
			return "DeleteObjects"
		}
	}
	return r.Method
}
