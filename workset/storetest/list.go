package storetest

import (
	"fmt"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
	"github.com/google/go-cmp/cmp"
)

// seed registers n worksets spread over priorities and moves some along, and
// returns the expected state and priority of each.
func (e *env) seed(n int) map[string]*workset.Workset {
	want := make(map[string]*workset.Workset, n)
	prios := workset.Priorities()
	for i := range n {
		id := fmt.Sprintf("ws-%04d", i)
		p := prios[i%3]
		if !e.caps.Kept.Priority {
			p = workset.PriorityNormal
		}
		w := e.register(id, p)
		if i%4 == 1 {
			w = e.transition(workset.TransitionRequest{ID: id, To: workset.StateInProgress})
		}
		want[id] = w
	}
	return want
}

func (e *env) collect(q workset.ListQuery) []*workset.Workset {
	e.t.Helper()
	out, _ := e.collectPages(q)
	return out
}

// collectPages follows every page of q and returns the worksets and the number of pages.
func (e *env) collectPages(q workset.ListQuery) ([]*workset.Workset, int) {
	e.t.Helper()
	var out []*workset.Workset
	pages := 0
	for {
		p, err := e.s.List(e.ctx, q)
		if err != nil {
			e.t.Fatalf("List(%+v): %v", q, err)
		}
		if len(p.Worksets) > q.Limit {
			e.t.Fatalf("page of %d for limit %d", len(p.Worksets), q.Limit)
		}
		pages++
		out = append(out, p.Worksets...)
		if p.Cursor == "" {
			return out, pages
		}
		if pages > 1000 {
			e.t.Fatal("List never ends")
		}
		q.Cursor = p.Cursor
	}
}

func testListPaging(e *env) {
	want := e.seed(90)
	for _, q := range []workset.ListQuery{
		{Limit: 7},
		{Limit: 1000},
		{State: workset.StateReady, Limit: 10},
		{State: workset.StateInProgress, Limit: 5},
		{Priority: workset.PriorityLow, Limit: 6},
		{State: workset.StateReady, Priority: workset.PriorityUrgent, Limit: 4},
		{State: workset.StateComplete, Limit: 3},
	} {
		if q.Priority != "" && !e.caps.Kept.Priority {
			continue
		}
		got, pages := e.collectPages(q)
		seen := map[string]bool{}
		for _, w := range got {
			if seen[w.ID] {
				e.t.Errorf("List(%+v) repeated %s", q, w.ID)
			}
			seen[w.ID] = true
			if (q.State != "" && w.State != q.State) || (q.Priority != "" && w.Priority != q.Priority) {
				e.t.Errorf("List(%+v) returned %s in %s/%s", q, w.ID, w.State, w.Priority)
			}
		}
		n := 0
		for id, w := range want {
			if (q.State == "" || w.State == q.State) && (q.Priority == "" || w.Priority == q.Priority) {
				n++
				if !seen[id] {
					e.t.Errorf("List(%+v) lost %s", q, id)
				}
			}
		}
		if len(got) != n {
			e.t.Errorf("List(%+v) returned %d worksets, want %d", q, len(got), n)
		}
		if min := (n + q.Limit - 1) / q.Limit; pages < min {
			e.t.Errorf("List(%+v) returned %d worksets in %d pages; pages of at most %d need at least %d", q, n, pages, q.Limit, min)
		}
	}
	// workset.All follows every cursor too.
	n := 0
	for w, err := range workset.All(e.ctx, e.s, workset.ListQuery{Limit: 9}) {
		if err != nil {
			e.t.Fatal(err)
		}
		if want[w.ID] == nil {
			e.t.Errorf("All returned unknown %s", w.ID)
		}
		n++
	}
	if n != len(want) {
		e.t.Errorf("All returned %d, want %d", n, len(want))
	}
}

func testReadyQueue(e *env) {
	e.skipUnless(e.caps.Kept.Priority, "priorities are not stored")
	want := e.seed(40)
	got := e.collect(workset.ListQuery{State: workset.StateReady, Limit: 4})
	last := 0
	for _, w := range got {
		if r := w.Priority.Rank(); r < last {
			e.t.Fatalf("ready queue out of priority order: %s (%s) after rank %d", w.ID, w.Priority, last)
		} else {
			last = r
		}
	}
	n := 0
	for _, w := range want {
		if w.State == workset.StateReady {
			n++
		}
	}
	if len(got) != n {
		e.t.Errorf("ready queue has %d, want %d", len(got), n)
	}
	if len(got) > 0 && got[0].Priority != workset.PriorityUrgent {
		e.t.Errorf("first in queue is %s, want urgent", got[0].Priority)
	}
}

func testListInvalid(e *env) {
	for _, q := range []workset.ListQuery{
		{State: "bogus"},
		{Priority: "high"},
		{Limit: -1},
		{Cursor: "!!not a cursor!!"},
	} {
		_, err := e.s.List(e.ctx, q)
		wantErr(e.t, err, workset.ErrInvalidInput, fmt.Sprintf("List(%+v)", q))
	}
}

// A list by customer returns exactly that customer's worksets, every page
// followed, with and without a state; stores without attributes refuse it.
func testListByCustomer(e *env) {
	if !e.caps.Kept.Metadata {
		_, err := e.s.List(e.ctx, workset.ListQuery{Customer: "c1"})
		wantErr(e.t, err, workset.ErrUnsupported, "list by customer on a store without attributes")
		return
	}
	want := map[string]map[string]bool{}
	for i := range 13 {
		id, cust := fmt.Sprintf("ws-cu-%02d", i), fmt.Sprintf("c%d", i%3)
		attrs := map[string]any{storekit.AttrCustomerID: cust}
		if i == 12 {
			attrs = nil // no customer at all
		}
		if _, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Attributes: attrs}); err != nil {
			e.t.Fatal(err)
		}
		if attrs != nil {
			if want[cust] == nil {
				want[cust] = map[string]bool{}
			}
			want[cust][id] = true
		}
	}
	e.transition(workset.TransitionRequest{ID: "ws-cu-00", To: workset.StateInProgress})
	for _, q := range []workset.ListQuery{{Customer: "c0", Limit: 2}, {Customer: "c1", Limit: 1}, {Customer: "c0", State: workset.StateReady, Limit: 2}, {Customer: "nobody", Limit: 5}} {
		got := map[string]bool{}
		for _, w := range e.collect(q) {
			if got[w.ID] {
				e.t.Errorf("%+v: %s listed twice", q, w.ID)
			}
			got[w.ID] = true
		}
		exp := map[string]bool{}
		for id := range want[q.Customer] {
			if q.State == "" || id != "ws-cu-00" {
				exp[id] = true
			}
		}
		if d := cmp.Diff(exp, got); d != "" {
			e.t.Errorf("list %+v (-want +got):\n%s", q, d)
		}
	}
}

// Scan (the store's own, or List pages) visits every matching workset exactly
// once, with and without a filter.
func testScan(e *env) {
	want := e.seed(37)
	for _, q := range []workset.ListQuery{{}, {State: workset.StateInProgress}, {State: workset.StateReady}} {
		seen := map[string]bool{}
		for w, err := range workset.Scan(e.ctx, e.s, q) {
			if err != nil {
				e.t.Fatalf("Scan(%+v): %v", q, err)
			}
			if seen[w.ID] {
				e.t.Errorf("Scan(%+v) repeated %s", q, w.ID)
			}
			seen[w.ID] = true
			if q.State != "" && w.State != q.State {
				e.t.Errorf("Scan(%+v) returned %s in %s", q, w.ID, w.State)
			}
		}
		for id, w := range want {
			if (q.State == "" || w.State == q.State) != seen[id] {
				e.t.Errorf("Scan(%+v): %s (in %s) seen=%v", q, id, w.State, seen[id])
			}
		}
	}
}

// GetMany (the store's own, or Get) returns exactly the present IDs, each as
// Get reads it, whatever the order and repetition of the request.
func testGetMany(e *env) {
	e.seed(5)
	ids := []string{"ws-0003", "missing-1", "ws-0000", "ws-0003", "ws-0001", "missing-2"}
	got, err := workset.GetMany(e.ctx, e.s, ids)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(got) != 3 {
		e.t.Errorf("GetMany(%v) returned %d records, want the 3 present ones", ids, len(got))
	}
	for _, id := range []string{"ws-0000", "ws-0001", "ws-0003"} {
		if d := cmp.Diff(e.get(id), got[id]); d != "" {
			e.t.Errorf("GetMany's %s differs from Get's (-get +getmany):\n%s", id, d)
		}
	}
	if empty, err := workset.GetMany(e.ctx, e.s, nil); err != nil || len(empty) != 0 {
		e.t.Errorf("GetMany(nil): %v, %v", empty, err)
	}
}
