package sentinel

import (
	"context"
	"errors"
	"fmt"

	"github.com/daylily-informatics/worksetstate/workset"
)

// ProbeResult says which conditional writes an endpoint honours.
type ProbeResult struct {
	// CreateIfAbsent: a second If-None-Match: * write is refused.
	CreateIfAbsent bool
	// CompareAndSwap: an If-Match write with a stale ETag is refused.
	CompareAndSwap bool
	// ConditionalDelete: an If-Match delete with a stale ETag is refused.
	ConditionalDelete bool
}

// Atomic reports whether the store's writes can be atomic on the endpoint:
// registration and leases need create-if-absent, transitions and renewals
// compare-and-swap, releases and cleanup conditional deletes.
func (p ProbeResult) Atomic() bool {
	return p.CreateIfAbsent && p.CompareAndSwap && p.ConditionalDelete
}

// Probe checks, with a scratch object at the root level (never inside a
// workset folder), whether the endpoint honours conditional writes: some
// S3-compatible servers silently overwrite. The result is kept and reported
// by Capabilities.
// probeError says that the probe failed doing what, keeping an infrastructure
// error's kind and shape (a store method then names its workset in it).
func probeError(what string, err error) error {
	if what != "" {
		what += ": "
	}
	if we, ok := err.(*workset.Error); ok && we.ID == "" {
		e := *we
		e.Detail = "sentinel: probe: " + what + e.Detail
		return &e
	}
	return fmt.Errorf("sentinel: probe: %s%w", what, err)
}

func (s *Store) Probe(ctx context.Context) (ProbeResult, error) {
	var r ProbeResult
	key := s.opts.Root + "_worksetstate_probe_" + newNonce()
	const stale = `"00000000000000000000000000000000"`
	body := func() Content { b, _, _ := Body{Reason: "conditional-write probe"}.encode(); return b }
	if _, err := s.bucket.Create(ctx, key, body()); err != nil {
		return r, probeError("creating "+key, err)
	}
	defer s.bucket.Delete(context.WithoutCancel(ctx), key, "")
	check := func(ok *bool, err error) error {
		if errors.Is(err, ErrPreconditionFailed) {
			*ok = true
			return nil
		}
		if err != nil {
			return probeError("", err)
		}
		return nil // the write applied: the condition was ignored
	}
	_, err := s.bucket.Create(ctx, key, body())
	if err := check(&r.CreateIfAbsent, err); err != nil {
		return r, err
	}
	_, err = s.bucket.Replace(ctx, key, body(), stale)
	if err := check(&r.CompareAndSwap, err); err != nil {
		return r, err
	}
	if err := check(&r.ConditionalDelete, s.bucket.Delete(ctx, key, stale)); err != nil {
		return r, err
	}
	s.probeMu.Lock()
	s.probe = &r
	s.probeMu.Unlock()
	return r, nil
}

// requireAtomic probes once, and refuses every write (registration,
// transitions, imports, leases, deletes) on an endpoint without conditional
// writes unless AllowRacyWrites is set.
func (s *Store) requireAtomic(ctx context.Context) error {
	if s.opts.AllowRacyWrites {
		return nil
	}
	s.probeMu.Lock()
	p := s.probe
	s.probeMu.Unlock()
	if p == nil {
		r, err := s.Probe(ctx)
		if err != nil {
			return err
		}
		p = &r
	}
	if !p.Atomic() {
		return fmt.Errorf("%w: bucket %s does not honour conditional writes (If-None-Match/If-Match: %+v), so registrations, transitions, leases and deletes cannot be atomic; set Options.AllowRacyWrites to accept the legacy, racy behaviour", workset.ErrUnsupported, s.bucket.Name(), *p)
	}
	return nil
}
