package transport

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"
)

// Faults injects the failures a migration meets in the wild, each with its own
// probability, from a seeded generator: the same seed gives the same sequence
// of decisions.
type Faults struct {
	Next http.RoundTripper
	// Probabilities, each in [0, 1], tried in this order for every request.
	InternalError    float64 // 500
	SlowDown         float64 // 503 SlowDown (S3) / 503 ServiceUnavailable
	Throttling       float64 // DynamoDB ThrottlingException (S3: 503 SlowDown)
	ProvisionedLimit float64 // DynamoDB ProvisionedThroughputExceededException (S3: 503 SlowDown)
	ResetBefore      float64 // connection reset before the request is sent
	ResetAfter       float64 // reset after the server processed it: an ambiguous write
	Spike            float64 // latency spike of SpikeDelay, then the request
	SpikeDelay       time.Duration

	mu     sync.Mutex
	rng    *rand.Rand
	counts map[string]int
}

// NewFaults returns a Faults seeded with seed, every fault at rate.
func NewFaults(next http.RoundTripper, seed uint64, rate float64) *Faults {
	r := rate / 7
	return &Faults{Next: next, InternalError: r, SlowDown: r, Throttling: r, ProvisionedLimit: r,
		ResetBefore: r, ResetAfter: r, Spike: r, SpikeDelay: 50 * time.Millisecond, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9))}
}

// Counts returns how many of each fault fired.
func (f *Faults) Counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.counts))
	for k, v := range f.counts {
		out[k] = v
	}
	return out
}

// SetRate changes every probability at once (0 turns faults off).
func (f *Faults) SetRate(rate float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := rate / 7
	f.InternalError, f.SlowDown, f.Throttling, f.ProvisionedLimit, f.ResetBefore, f.ResetAfter, f.Spike = r, r, r, r, r, r, r
}

func (f *Faults) pick() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(1, 2))
	}
	x := f.rng.Float64()
	for _, c := range []struct {
		name string
		p    float64
	}{{"500", f.InternalError}, {"503", f.SlowDown}, {"throttle", f.Throttling}, {"provisioned", f.ProvisionedLimit},
		{"reset-before", f.ResetBefore}, {"reset-after", f.ResetAfter}, {"spike", f.Spike}} {
		if x < c.p {
			if f.counts == nil {
				f.counts = map[string]int{}
			}
			f.counts[c.name]++
			return c.name
		}
		x -= c.p
	}
	return ""
}

var errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}

// RoundTrip implements http.RoundTripper.
func (f *Faults) RoundTrip(r *http.Request) (*http.Response, error) {
	next := f.Next
	if next == nil {
		next = http.DefaultTransport
	}
	dynamo := r.Header.Get("X-Amz-Target") != ""
	switch f.pick() {
	case "500":
		if dynamo {
			return synth(r, 500, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected"}`), nil
		}
		return synth(r, 500, `<Error><Code>InternalError</Code><Message>injected</Message></Error>`), nil
	case "503":
		if dynamo {
			return synth(r, 503, `{"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailable","message":"injected"}`), nil
		}
		return synth(r, 503, `<Error><Code>SlowDown</Code><Message>injected</Message></Error>`), nil
	case "throttle":
		if dynamo {
			return synth(r, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"injected"}`), nil
		}
		return synth(r, 503, `<Error><Code>SlowDown</Code><Message>injected</Message></Error>`), nil
	case "provisioned":
		if dynamo {
			return synth(r, 400, `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}`), nil
		}
		return synth(r, 503, `<Error><Code>SlowDown</Code><Message>injected</Message></Error>`), nil
	case "reset-before":
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errReset
	case "reset-after":
		resp, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil, errReset
	case "spike":
		select {
		case <-time.After(f.SpikeDelay):
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	return next.RoundTrip(r)
}

func synth(r *http.Request, code int, body string) *http.Response {
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	h := http.Header{}
	if body[0] == '{' {
		h.Set("Content-Type", "application/x-amz-json-1.0")
	} else {
		h.Set("Content-Type", "application/xml")
	}
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Header: h, Body: io.NopCloser(bytes.NewBufferString(body)),
		ContentLength: int64(len(body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}
