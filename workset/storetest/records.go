package storetest

import (
	"errors"
	"math"
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
	"github.com/google/go-cmp/cmp"
)

func testMetadata(e *env) {
	e.skipUnless(e.caps.Kept.Metadata, "metadata and extra attributes are not stored")
	meta := map[string]any{"samples": float64(12), "name": "run 7", "nested": map[string]any{"ok": true, "list": []any{"a", float64(2)}}}
	attrs := map[string]any{"customer_id": "cust-9", "sample_count": float64(2)}
	w, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-m", Metadata: meta, Attributes: attrs})
	if err != nil {
		e.t.Fatal(err)
	}
	if d := cmp.Diff(meta, w.Metadata); d != "" {
		e.t.Errorf("metadata (-want +got):\n%s", d)
	}
	metrics := map[string]any{"cpu_hours": 1.5}
	e.transition(workset.TransitionRequest{ID: "ws-m", To: workset.StateInProgress, Metrics: metrics})
	got := e.get("ws-m")
	if d := cmp.Diff(meta, got.Metadata); d != "" {
		e.t.Errorf("metadata after transition (-want +got):\n%s", d)
	}
	if d := cmp.Diff(attrs, got.Attributes); d != "" {
		e.t.Errorf("attributes after transition (-want +got):\n%s", d)
	}
	if d := cmp.Diff(metrics, got.Metrics); d != "" {
		e.t.Errorf("metrics (-want +got):\n%s", d)
	}
	// The caller's maps are not aliased.
	meta["name"] = "changed"
	got.Metadata["samples"] = float64(0)
	if again := e.get("ws-m"); again.Metadata["name"] != "run 7" || again.Metadata["samples"] != float64(12) {
		e.t.Errorf("store aliases caller maps: %v", again.Metadata)
	}
}

// Metadata round-trips to the same normalised value on every store that keeps
// it (numbers as float64), and values outside the model are refused with
// ErrInvalidInput naming their path, with nothing stored.
func testValueModel(e *env) {
	in := map[string]any{"int": 7, "int64": int64(1) << 40, "uint8": uint8(3), "float": 2.5, "f32": float32(0.5),
		"strs": []string{"a", "b"}, "smap": map[string]string{"k": "v"}, "nested": map[string]any{"list": []any{1, "x", nil, true}},
		"null": nil}
	want, err := storekit.NormalizeValues("ws-vm", "metadata", in)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: "ws-vm", Metadata: in}); err != nil {
		e.t.Fatal(err)
	}
	if e.caps.Kept.Metadata {
		if d := cmp.Diff(want, e.get("ws-vm").Metadata); d != "" {
			e.t.Errorf("metadata read back (-want +got):\n%s", d)
		}
	}
	deep := map[string]any{}
	cur := deep
	for range storekit.MaxValueDepth {
		next := map[string]any{}
		cur["d"] = next
		cur = next
	}
	for name, md := range map[string]map[string]any{
		"func": {"f": func() {}}, "chan": {"c": make(chan int)}, "time": {"t": time.Now()}, "nan": {"n": math.NaN()},
		"deep": deep, "struct": {"s": struct{ A int }{1}},
	} {
		id := "ws-vm-" + name
		_, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Metadata: md})
		wantErr(e.t, err, workset.ErrInvalidInput, "metadata with a "+name)
		if _, err := e.s.Get(e.ctx, id); !errors.Is(err, workset.ErrNotFound) {
			e.t.Errorf("refused %s metadata left a record: %v", name, err)
		}
	}
	_, err = e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-vm", To: workset.StateInProgress, Metrics: map[string]any{"bad": []any{func() {}}}})
	wantErr(e.t, err, workset.ErrInvalidInput, "metrics with a func")
	if !strings.Contains(err.Error(), "metrics.bad[0]") {
		e.t.Errorf("error %q does not name the path metrics.bad[0]", err)
	}
	if got := e.get("ws-vm"); got.State != workset.StateReady {
		e.t.Errorf("a refused transition moved the workset to %s", got.State)
	}
}

func testImport(e *env) {
	imp, ok := e.s.(workset.Importer)
	ok = ok && workset.Has[workset.Importer](e.s)
	e.skipUnless(ok, "store does not implement workset.Importer")
	created := Start.Add(-48 * time.Hour)
	in := &workset.Workset{
		ID: "ws-imp", State: workset.StateError, Priority: workset.PriorityLow, Bucket: "b", Prefix: "worksets/ws-imp/",
		CreatedAt: created, UpdatedAt: created.Add(time.Hour),
		History: []workset.HistoryEntry{
			{State: workset.StateReady, Timestamp: created, Reason: "Initial registration"},
			{State: workset.StateError, Timestamp: created.Add(time.Hour), Reason: "failed"},
		},
		Metadata: map[string]any{"migrated_from_s3": true},
	}
	got, err := imp.Import(e.ctx, workset.ImportRequest{Workset: in, IfAbsent: true})
	if err != nil {
		e.t.Fatal(err)
	}
	stored := e.get("ws-imp")
	if d := cmp.Diff(got, stored); d != "" {
		e.t.Errorf("Import result differs from Get:\n%s", d)
	}
	if stored.State != workset.StateError {
		e.t.Errorf("imported state %s", stored.State)
	}
	if e.caps.Kept.Priority && stored.Priority != workset.PriorityLow {
		e.t.Errorf("imported priority %s", stored.Priority)
	}
	if e.caps.Kept.Timestamps && !stored.CreatedAt.Equal(created) {
		e.t.Errorf("imported created_at %v, want %v", stored.CreatedAt, created)
	}
	if e.caps.Kept.History {
		if d := cmp.Diff(in.History, stored.History); d != "" {
			e.t.Errorf("imported history (-want +got):\n%s", d)
		}
	}
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in, IfAbsent: true})
	wantErr(e.t, err, workset.ErrAlreadyExists, "second IfAbsent import")
	if e.caps.Kept.Versions {
		in2 := in.Clone()
		in2.State = workset.StateReady
		_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in2, ExpectedVersion: stored.Version + 5})
		wantErr(e.t, err, workset.ErrConflict, "import at a stale version")
		e.unchanged(stored, "refused import")
		got, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in2, ExpectedVersion: stored.Version, Reason: "rolled back"})
		if err != nil || got.State != workset.StateReady {
			e.t.Fatalf("import replace: %+v, %v", got, err)
		}
	}
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: in, ExpectedState: workset.StateComplete})
	wantErr(e.t, err, workset.ErrConflict, "import over an unexpected state")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "never-there", State: workset.StateReady}})
	wantErr(e.t, err, workset.ErrNotFound, "import-replace of a missing record")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "bad/id", State: workset.StateReady}, IfAbsent: true})
	wantErr(e.t, err, workset.ErrInvalidInput, "import invalid id")
	_, err = imp.Import(e.ctx, workset.ImportRequest{Workset: &workset.Workset{ID: "ok", State: "weird"}, IfAbsent: true})
	wantErr(e.t, err, workset.ErrInvalidInput, "import unknown state")
}

func testDelete(e *env) {
	d, ok := e.s.(workset.Deleter)
	ok = ok && workset.Has[workset.Deleter](e.s)
	e.skipUnless(ok, "store does not implement workset.Deleter")
	w := e.register("ws-del", "")
	if e.caps.Kept.Versions {
		wantErr(e.t, d.Delete(e.ctx, "ws-del", w.Version+1), workset.ErrConflict, "delete at wrong version")
	}
	if err := d.Delete(e.ctx, "ws-del", 0); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.s.Get(e.ctx, "ws-del")
	wantErr(e.t, err, workset.ErrNotFound, "Get after delete")
	wantErr(e.t, d.Delete(e.ctx, "ws-del", 0), workset.ErrNotFound, "second delete")
	if got := e.collect(workset.ListQuery{Limit: 10}); len(got) != 0 {
		e.t.Errorf("deleted workset still listed: %d", len(got))
	}
}

// testNote: a note (workset.Noter) appends one entry with the current state
// and the reason, counts the write, and leaves the state and the lease as
// they were; a blank reason and a missing ID are refused.
func testNote(e *env) {
	n, ok := e.s.(workset.Noter)
	ok = ok && workset.Has[workset.Noter](e.s)
	e.skipUnless(ok, "store does not implement workset.Noter")
	e.register("ws-note", "")
	l, err := e.s.AcquireLease(e.ctx, "ws-note", "m1", time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	e.transition(workset.TransitionRequest{ID: "ws-note", To: workset.StateInProgress, Lease: l})
	before := e.get("ws-note")
	e.clock.Advance(time.Second)
	w, err := n.Note(e.ctx, "ws-note", "lease of m1 looked at by hand")
	if err != nil {
		e.t.Fatal(err)
	}
	after := e.get("ws-note")
	last := after.History[len(after.History)-1]
	switch {
	case len(after.History) != len(before.History)+1 || last.State != workset.StateInProgress || last.Reason != "lease of m1 looked at by hand" || last.Forced:
		e.t.Errorf("history after a note: %+v", after.History)
	case after.State != before.State || after.Lease == nil || after.Lease.Owner != "m1" || after.Lease.Token != before.Lease.Token || after.Foreign != before.Foreign:
		e.t.Errorf("a note changed the record: before %+v after %+v", before, after)
	case e.caps.Kept.Versions && after.Version != before.Version+1:
		e.t.Errorf("a note did not count as a write: version %d -> %d", before.Version, after.Version)
	case !after.UpdatedAt.After(before.UpdatedAt):
		e.t.Errorf("a note left UpdatedAt at %v", after.UpdatedAt)
	case w.Version != after.Version:
		e.t.Errorf("Note returned version %d, the store holds %d", w.Version, after.Version)
	}
	if _, err := e.s.Transition(e.ctx, workset.TransitionRequest{ID: "ws-note", To: workset.StateComplete, Lease: l}); err != nil {
		e.t.Errorf("the lease is not current after a note: %v", err)
	}
	// Another tool's work stays another tool's (where the store can hold it).
	if imp, ok := e.s.(workset.Importer); ok && workset.Has[workset.Importer](e.s) {
		rec := &workset.Workset{ID: "ws-note-f", State: workset.StateInProgress, Priority: workset.PriorityNormal, Foreign: true,
			CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(), History: []workset.HistoryEntry{{State: workset.StateInProgress, Timestamp: e.clock.Now()}}}
		if _, err := imp.Import(e.ctx, workset.ImportRequest{Workset: rec, IfAbsent: true}); err != nil {
			e.t.Fatal(err)
		}
		if before := e.get("ws-note-f"); before.Foreign {
			if _, err := n.Note(e.ctx, "ws-note-f", "checked by hand"); err != nil {
				e.t.Fatal(err)
			}
			if after := e.get("ws-note-f"); !after.Foreign || after.State != workset.StateInProgress {
				e.t.Errorf("a note on another tool's work made it this SDK's: %+v", after)
			}
		}
	}
	_, err = n.Note(e.ctx, "ws-note", "  ")
	wantErr(e.t, err, workset.ErrInvalidInput, "blank note")
	_, err = n.Note(e.ctx, "ws-none", "x")
	wantErr(e.t, err, workset.ErrNotFound, "note on a missing workset")
}

// testAbilitiesTellTheTruth: what a store reports of its optional abilities
// (workset.Has, through every wrapper) is what it does: an ability it has
// works, one it lacks is refused with ErrUnsupported by the helpers.
func testAbilitiesTellTheTruth(e *env) {
	e.register("ws-ab", "")
	rec := e.get("ws-ab")
	_, err := workset.Import(e.ctx, e.s, workset.ImportRequest{Workset: rec})
	if got := !errors.Is(err, workset.ErrUnsupported); got != workset.Has[workset.Importer](e.s) {
		e.t.Errorf("Has[Importer] = %v, but Import answered %v", workset.Has[workset.Importer](e.s), err)
	}
	e.register("ws-ab-del", "")
	err = workset.Delete(e.ctx, e.s, "ws-ab-del", 0)
	if got := !errors.Is(err, workset.ErrUnsupported); got != workset.Has[workset.Deleter](e.s) {
		e.t.Errorf("Has[Deleter] = %v, but Delete answered %v", workset.Has[workset.Deleter](e.s), err)
	}
	_, err = workset.Note(e.ctx, e.s, "ws-ab", "x")
	if got := !errors.Is(err, workset.ErrUnsupported); got != workset.Has[workset.Noter](e.s) {
		e.t.Errorf("Has[Noter] = %v, but Note answered %v", workset.Has[workset.Noter](e.s), err)
	}
	if c, ok := e.s.(workset.Claimer); ok && workset.Has[workset.Claimer](e.s) {
		e.register("ws-ab-cl", "")
		if w, err := c.Claim(e.ctx, workset.ClaimRequest{ID: "ws-ab-cl", Owner: "m", TTL: time.Minute}); err != nil || w.State != workset.StateInProgress || w.Lease == nil {
			e.t.Errorf("a store that has Claimer could not claim: %v, %v", w, err)
		}
	}
}
