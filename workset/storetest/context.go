package storetest

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// A call made with a canceled context fails with an error that matches
// context.Canceled and reads "workset <ID>: context canceled..." (or
// "workset: context canceled..." for a list; a call about many worksets may
// name the one it was reading), and writes nothing.
func testCanceledContext(e *env) {
	e.register("ws-cx", workset.PriorityNormal)
	lease, err := e.s.AcquireLease(e.ctx, "ws-cx", "holder", time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	before := e.get("ws-cx")
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	check := func(what, id string, err error) {
		e.t.Helper()
		want := "workset: context canceled"
		if id != "" {
			want = "workset " + id + ": context canceled"
		}
		ok := errors.Is(err, context.Canceled) && strings.HasPrefix(err.Error(), want)
		if id == "*" { // a call about many worksets may name the one it was reading
			want = "workset"
			ok = errors.Is(err, context.Canceled) && strings.HasPrefix(err.Error(), "workset") && strings.Contains(err.Error(), ": context canceled")
		}
		if !ok {
			e.t.Errorf("%s with a canceled context: %v; want an error matching context.Canceled that starts %q", what, err, want)
		}
	}
	_, err = e.s.Register(ctx, workset.RegisterRequest{ID: "ws-cx-new"})
	check("Register", "ws-cx-new", err)
	_, err = e.s.Get(ctx, "ws-cx")
	check("Get", "ws-cx", err)
	_, err = e.s.Transition(ctx, workset.TransitionRequest{ID: "ws-cx", To: workset.StateInProgress, Lease: lease})
	check("Transition", "ws-cx", err)
	_, err = e.s.List(ctx, workset.ListQuery{})
	check("List", "", err)
	_, err = e.s.AcquireLease(ctx, "ws-cx", "other", time.Minute)
	check("AcquireLease", "ws-cx", err)
	_, err = e.s.RenewLease(ctx, *lease, time.Hour)
	check("RenewLease", "ws-cx", err)
	check("ReleaseLease", "ws-cx", e.s.ReleaseLease(ctx, *lease))
	if im, ok := e.s.(workset.Importer); ok && workset.Has[workset.Importer](e.s) {
		_, err = im.Import(ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "ws-cx-imp", State: workset.StateComplete}, IfAbsent: true})
		check("Import", "ws-cx-imp", err)
	}
	if d, ok := e.s.(workset.Deleter); ok && workset.Has[workset.Deleter](e.s) {
		check("Delete", "ws-cx", d.Delete(ctx, "ws-cx", 0))
	}
	if bg, ok := e.s.(workset.BatchGetter); ok {
		_, err = bg.GetMany(ctx, []string{"ws-cx"})
		check("GetMany", "*", err)
	}
	if sc, ok := e.s.(workset.Scanner); ok {
		for _, err := range sc.Scan(ctx, workset.ListQuery{}) {
			check("Scan", "*", err)
			break
		}
	}
	e.unchanged(before, "calls with a canceled context")
	for _, id := range []string{"ws-cx-new", "ws-cx-imp"} {
		if _, err := e.s.Get(e.ctx, id); !errors.Is(err, workset.ErrNotFound) {
			e.t.Errorf("a call with a canceled context created %s: %v", id, err)
		}
	}
	if _, err := e.s.RenewLease(e.ctx, *lease, time.Minute); err != nil {
		e.t.Errorf("the lease did not survive the canceled calls: %v", err)
	}
}
