package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// testFaultKinds: with its server gone or its configuration wrong, every call
// of a store fails with ErrUnavailable or ErrMisconfigured, reads
// "workset <ID>: <kind>: ..." where it is about one workset, and
// workset.Retryable says whether to retry (issue 26, errors).
func testFaultKinds(e *env) {
	e.skipUnless(e.h != nil && e.h.Faulty != nil, "the harness injects no infrastructure faults (Harness.Faulty)")
	tt, ok := e.t.(*testing.T)
	e.skipUnless(ok, "not a *testing.T")
	for _, kind := range []error{workset.ErrUnavailable, workset.ErrMisconfigured} {
		s := e.h.Faulty(tt, kind)
		calls := map[string]func() error{
			"Get":  func() error { _, err := s.Get(e.ctx, "ws-f1"); return err },
			"List": func() error { _, err := s.List(e.ctx, workset.ListQuery{State: workset.StateReady}); return err },
			"Register": func() error {
				_, err := s.Register(e.ctx, workset.RegisterRequest{ID: "ws-f1", Bucket: "b", Prefix: "worksets/ws-f1/"})
				return err
			},
			"Transition": func() error {
				_, err := s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-f1", To: workset.StateInProgress})
				return err
			},
			"AcquireLease": func() error { _, err := s.AcquireLease(e.ctx, "ws-f1", "m", time.Minute); return err },
		}
		for name, call := range calls {
			err := call()
			if !errors.Is(err, kind) {
				e.t.Errorf("%v: %s = %v; want %v", kind, name, err, kind)
				continue
			}
			if name != "List" && !strings.HasPrefix(err.Error(), "workset ws-f1: ") {
				e.t.Errorf("%v: %s = %q; want the format \"workset ws-f1: <kind>: <detail>\"", kind, name, err)
			}
			if workset.Retryable(err) != (kind == workset.ErrUnavailable) {
				e.t.Errorf("%v: Retryable(%s's %v) = %v", kind, name, err, workset.Retryable(err))
			}
		}
	}
}
