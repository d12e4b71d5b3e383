package storetest

import (
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
	"github.com/google/go-cmp/cmp"
)

func testRegister(e *env) {
	w := e.register("ws-001", "")
	if w.ID != "ws-001" || w.State != workset.StateReady {
		e.t.Fatalf("Register returned %s in %q, want ws-001 in ready", w.ID, w.State)
	}
	if w.Priority != workset.PriorityNormal {
		e.t.Errorf("default priority = %q, want normal", w.Priority)
	}
	got := e.get("ws-001")
	if d := cmp.Diff(w, got); d != "" {
		e.t.Errorf("Get differs from Register's result (-register +get):\n%s", d)
	}
	if e.caps.Kept.Location && (got.Bucket != "bkt" || got.Prefix != "worksets/ws-001/") {
		e.t.Errorf("location = %s/%s, want bkt/worksets/ws-001/", got.Bucket, got.Prefix)
	}
	if e.caps.Kept.Timestamps && (!got.CreatedAt.Equal(Start) || !got.UpdatedAt.Equal(Start)) {
		e.t.Errorf("created/updated = %v/%v, want %v", got.CreatedAt, got.UpdatedAt, Start)
	}
	if e.caps.Kept.Versions && got.Version != 1 {
		e.t.Errorf("version = %d, want 1", got.Version)
	}
	if e.caps.Kept.History {
		want := []workset.HistoryEntry{{State: workset.StateReady, Timestamp: Start, Reason: storekit.DefaultRegisterReason}}
		if d := cmp.Diff(want, got.History); d != "" {
			e.t.Errorf("history (-want +got):\n%s", d)
		}
	}
	_, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-001", Priority: workset.PriorityUrgent})
	wantErr(e.t, err, workset.ErrAlreadyExists, "duplicate Register")
	e.unchanged(got, "duplicate Register")
}

func testRegisterInvalid(e *env) {
	for _, tc := range []struct {
		name string
		req  workset.RegisterRequest
	}{
		{"empty", workset.RegisterRequest{ID: ""}},
		{"dotdot", workset.RegisterRequest{ID: ".."}},
		{"slash", workset.RegisterRequest{ID: "a/b"}},
		{"escape", workset.RegisterRequest{ID: "../x"}},
		{"control", workset.RegisterRequest{ID: "a\nb"}},
		{"long", workset.RegisterRequest{ID: string(make([]byte, 256))}},
		{"priority", workset.RegisterRequest{ID: "ok", Priority: "high"}},
		{"attribute", workset.RegisterRequest{ID: "ok", Attributes: map[string]any{"state": "complete"}}},
	} {
		_, err := e.s.Register(e.ctx, tc.req)
		wantErr(e.t, err, workset.ErrInvalidInput, "Register "+tc.name)
	}
	_, err := e.s.Get(e.ctx, "ok")
	wantErr(e.t, err, workset.ErrNotFound, "Get after refused Register")
}

func testGetMissing(e *env) {
	_, err := e.s.Get(e.ctx, "nope")
	wantErr(e.t, err, workset.ErrNotFound, "Get missing")
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "nope", To: workset.StateInProgress})
	wantErr(e.t, err, workset.ErrNotFound, "Transition missing")
	_, err = e.s.AcquireLease(e.ctx, "nope", "me", time.Minute)
	wantErr(e.t, err, workset.ErrNotFound, "AcquireLease missing")
	_, err = e.s.Get(e.ctx, "bad/id")
	wantErr(e.t, err, workset.ErrInvalidInput, "Get invalid id")
}
