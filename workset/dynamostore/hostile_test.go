package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/retry"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// deployedItem is a ready item as the deployed code registers it.
func deployedItem(id string) map[string]av {
	return map[string]av{
		"workset_id": s(id), "state": s("ready"), "priority": s("normal"), "bucket": s("b"), "prefix": s("worksets/" + id + "/"),
		"created_at": s("2026-05-01T10:00:00Z"), "updated_at": s("2026-05-01T10:00:00Z"),
		"state_history": l(m(map[string]av{"state": s("ready"), "timestamp": s("2026-05-01T10:00:00Z"), "reason": s("Initial registration")})),
	}
}

// A later deployed version writes states this SDK does not model. Such records
// stay readable, listable and movable by force, are never dispatched, and
// never break a page, the ready queue or a monitor.
func TestUnknownStatesAreKept(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, _, c := newStore(t, clock)
	ctx := t.Context()
	canceled := deployedItem("canceled-1")
	canceled["state"] = s("canceled")
	canceled["state_history"] = l(canceled["state_history"].(*types.AttributeValueMemberL).Value[0],
		m(map[string]av{"state": s("canceled"), "timestamp": s("2026-05-02T10:00:00Z"), "reason": s("customer canceled")}))
	putRaw(t, c, st.Table(), canceled)
	requeued := deployedItem("requeued-1") // ready, with canceled in its history
	requeued["state_history"] = l(m(map[string]av{"state": s("canceled"), "timestamp": s("2026-05-01T09:00:00Z"), "reason": s("")}),
		requeued["state_history"].(*types.AttributeValueMemberL).Value[0])
	putRaw(t, c, st.Table(), requeued)
	putRaw(t, c, st.Table(), deployedItem("plain-1"))

	w, err := st.Get(ctx, "canceled-1")
	if err != nil {
		t.Fatalf("Get of a canceled workset: %v", err)
	}
	if w.State != "canceled" || w.State.Valid() || len(w.History) != 2 || w.History[1].State != "canceled" {
		t.Fatalf("canceled record read as %s (valid %v), history %+v", w.State, w.State.Valid(), w.History)
	}
	all := map[string]workset.State{}
	for w, err := range workset.All(ctx, st, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		all[w.ID] = w.State
	}
	if d := cmp.Diff(map[string]workset.State{"canceled-1": "canceled", "requeued-1": "ready", "plain-1": "ready"}, all); d != "" {
		t.Errorf("unfiltered list (-want +got):\n%s", d)
	}
	page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady})
	if err != nil || len(page.Worksets) != 2 || len(page.Malformed) != 0 {
		t.Fatalf("ready queue: %v, %+v", err, page)
	}
	// Never dispatched, moved only by force.
	if _, err := st.AcquireLease(ctx, "canceled-1", "m", time.Minute); !errors.Is(err, workset.ErrNotLeasable) {
		t.Errorf("lease on a canceled workset: %v, want ErrNotLeasable", err)
	}
	if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "canceled-1", To: workset.StateReady}); !errors.Is(err, workset.ErrInvalidTransition) {
		t.Errorf("unforced transition out of canceled: %v, want ErrInvalidTransition", err)
	}
	w, err = st.Transition(ctx, workset.TransitionRequest{ID: "canceled-1", To: workset.StateReady, Force: true, Reason: "operator requeue"})
	if err != nil {
		t.Fatal(err)
	}
	if h := w.History[len(w.History)-1]; w.State != workset.StateReady || !h.Forced || h.Reason != "operator requeue" || w.History[1].State != "canceled" {
		t.Errorf("after a forced requeue: %s, history %+v", w.State, w.History)
	}
	// The monitor processes the rest.
	runFleet(t, st, 1, []string{"requeued-1", "plain-1"})
}

// runFleet runs monitors until every id in want is complete.
func runFleet(t *testing.T, st workset.StateStore, monitors int, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	runs := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, monitors)
	for i := range monitors {
		mon, err := monitor.New(st, func(ctx context.Context, w *workset.Workset) error {
			mu.Lock()
			runs[w.ID]++
			mu.Unlock()
			return nil
		}, func(o *monitor.Options) {
			o.Owner, o.PollInterval, o.LeaseTTL, o.RenewEvery = fmt.Sprint("fleet-", i), 10*time.Millisecond, 5*time.Second, time.Second
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs <- mon.Run(ctx) }()
	}
	for {
		done := 0
		for _, id := range want {
			if w, err := st.Get(t.Context(), id); err == nil && w.State == workset.StateComplete {
				done++
			}
		}
		if done == len(want) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("monitor stopped: %v", err)
		}
	}
	for _, id := range want {
		if runs[id] != 1 {
			t.Errorf("%s processed %d times, want once", id, runs[id])
		}
	}
}

// A hostile table: for each attribute the decoder checks, a malformed value,
// written by another tool, meets every write operation. Each write is either
// refused with nothing written, or reported as applied (never applied and
// reported failed); the error for stored data is ErrMalformed naming the
// attribute, never the caller's ErrInvalidInput; and the ready queue, with every
// one of these items in it, is still drained by a fleet of monitors.
func TestHostileItems(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, _, c := newStore(t, clock)
	ctx := t.Context()
	// (state and priority are index keys: the table itself refuses another type.)
	bad := map[string]map[string]av{
		"priority":         {"priority": s("SUPER")},
		"history-entry":    {"state_history": l(s("not a map"))},
		"history-state":    {"state_history": l(m(map[string]av{"state": n("3"), "timestamp": s("2026-05-01T10:00:00Z")}))},
		"history-time":     {"state_history": l(m(map[string]av{"state": s("ready"), "timestamp": s("yesterday")}))},
		"history-type":     {"state_history": s("[]")},
		"retry_after":      {"retry_after": s("soon")},
		"retry_count":      {"retry_count": s("2")},
		"max_retries":      {"max_retries": s("many")},
		"created_at":       {"created_at": s("not-a-timestamp-at-all!!")},
		"updated_at":       {"updated_at": s("garbage-garbage-garbage-x")},
		"lock_expires_at":  {"lock_owner": s("host-py-9"), "lock_acquired_at": s("2026-05-01T10:00:00Z"), "lock_expires_at": s("never")},
		"lock_acquired_at": {"lock_owner": s("host-py-9"), "lock_acquired_at": s("a while ago")},
		"lock_owner":       {"lock_owner": n("42")},
		"metadata":         {"metadata": s("{}")},
		"metrics":          {"metrics": l()},
		"version":          {"version": s("1")},
		"lease_token":      {"lease_token": s("7")},
		"bucket":           {"bucket": n("5")},
		"error_details":    {"error_details": l()},
	}
	ops := []struct {
		name string
		do   func(id string) error
	}{
		{"transition", func(id string) error {
			_, err := st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress})
			return err
		}},
		{"forced", func(id string) error {
			_, err := st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateError, Force: true, ErrorDetails: "x"})
			return err
		}},
		{"acquire", func(id string) error {
			_, err := st.AcquireLease(ctx, id, "go-1", time.Minute)
			return err
		}},
		{"release", func(id string) error {
			return st.ReleaseLease(ctx, workset.Lease{WorksetID: id, Owner: "host-py-9"})
		}},
		{"renew", func(id string) error {
			_, err := st.RenewLease(ctx, workset.Lease{WorksetID: id, Owner: "host-py-9"}, time.Minute)
			return err
		}},
		{"record-failure", func(id string) error {
			_, err := retry.Record(ctx, st, retry.Request{ID: id, Category: workset.CategoryTransient, Step: "s", Details: "boom"}, clock.Now())
			return err
		}},
	}
	applied, refused := 0, 0
	for name, attrs := range bad {
		for _, op := range ops {
			id := fmt.Sprintf("bad-%s-%s", name, op.name)
			it := deployedItem(id)
			for k, v := range attrs {
				it[k] = v
			}
			putRaw(t, c, st.Table(), it)
			before := getRaw(t, c, st.Table(), id)
			err := op.do(id)
			after := getRaw(t, c, st.Table(), id)
			changed := cmp.Diff(before, after, avCmp) != ""
			switch {
			case err == nil:
				applied++
				if !changed {
					t.Errorf("%s on %s: reported applied, nothing written", op.name, name)
				}
			case changed:
				t.Errorf("%s on %s: applied, then reported failed: %v", op.name, name, err)
			default:
				refused++
				if errors.Is(err, workset.ErrInvalidInput) {
					t.Errorf("%s on %s: stored data reported as the caller's invalid input: %v", op.name, name, err)
				}
				var mal *workset.MalformedError
				if errors.As(err, &mal) && (mal.ID != id || mal.Attribute == "") {
					t.Errorf("%s on %s: malformed error does not name the record: %+v", op.name, name, mal)
				}
			}
		}
		// A read names the attribute.
		if _, err := st.Get(ctx, fmt.Sprintf("bad-%s-transition", name)); err != nil {
			var mal *workset.MalformedError
			if !errors.Is(err, workset.ErrMalformed) || !errors.As(err, &mal) || mal.Attribute == "" {
				t.Errorf("Get on %s: %v, want a MalformedError naming the attribute", name, err)
			}
		}
	}
	t.Logf("%d malformed shapes × %d writes: %d applied and reported applied, %d refused with nothing written", len(bad), len(ops), applied, refused)

	// The queue holds the poisoned items beside good ones; a fleet drains the good ones.
	var good []string
	for i := range 8 {
		id := fmt.Sprintf("good-%d", i)
		putRaw(t, c, st.Table(), deployedItem(id))
		good = append(good, id)
	}
	page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: workset.MaxPageSize})
	if err != nil {
		t.Fatalf("a poisoned ready queue fails the page: %v", err)
	}
	if len(page.Malformed) == 0 {
		t.Errorf("no malformed records reported on a poisoned page (%d read)", len(page.Worksets))
	}
	runFleet(t, st, 3, good)

	// A migration out of the poisoned table reports the unreadable records and
	// migrates the others.
	dst, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	mig, err := migrate.New(st, dst)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mig.Apply(ctx, nil)
	if err != nil {
		t.Fatalf("a migration out of a table with unreadable records failed: %v", err)
	}
	if res.Kinds[migrate.UnreadableInSource] == 0 || int64(len(res.Errors)) != res.Kinds[migrate.UnreadableInSource] {
		t.Errorf("unreadable records not reported as failures: kinds %v, %d failures", res.Kinds, len(res.Errors))
	}
	for _, id := range good {
		if _, err := dst.Get(ctx, id); err != nil {
			t.Errorf("%s not migrated: %v", id, err)
		}
	}
}

// With customer-id-state-index (Options.CustomerIndex), a customer's list is a
// Query on that index, every page followed; items the deployed code wrote with
// customer_id are found the same way.
func TestListByCustomerUsesTheIndex(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, counter, c := newStore(t, clock, func(o *dynamostore.Options) { o.CustomerIndex = true })
	ctx := t.Context()
	for i := range 9 {
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("w-%d", i), Attributes: map[string]any{"customer_id": fmt.Sprintf("c%d", i%2)}}); err != nil {
			t.Fatal(err)
		}
	}
	py := deployedItem("py-1")
	py["customer_id"] = s("c1")
	putRaw(t, c, st.Table(), py)
	counter.Reset()
	got := map[string]bool{}
	q := workset.ListQuery{Customer: "c1", State: workset.StateReady, Limit: 2}
	for w, err := range workset.All(ctx, st, q) {
		if err != nil {
			t.Fatal(err)
		}
		got[w.ID] = true
	}
	want := map[string]bool{"w-1": true, "w-3": true, "w-5": true, "w-7": true, "py-1": true}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("customer c1 (-want +got):\n%s", d)
	}
	if n := counter.Counts()["Scan"]; n != 0 {
		t.Errorf("%d scans for a list by customer on a table with the index, want 0 (queries only)", n)
	}
	if n := counter.Counts()["Query"]; n == 0 {
		t.Error("no query on the customer index")
	}
}

// Metadata of every shape the value model accepts migrates from memory to
// DynamoDB and verifies clean: a second apply changes nothing.
func TestMemoryToDynamoDBMetadataVerifies(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, _, _ := newStore(t, clock)
	ctx := t.Context()
	src, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	for i, md := range []map[string]any{
		{"int": 7, "big": int64(1) << 50, "f": 0.1, "neg": -3},
		{"nested": map[string]any{"l": []any{1, 2.5, "x", nil, map[string]any{"deep": uint16(9)}}}, "strs": []string{"a"}},
		{"smap": map[string]string{"k": "v"}, "empty": map[string]any{}, "none": nil, "t": true},
	} {
		if _, err := src.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("md-%d", i), Metadata: md,
			Attributes: map[string]any{"customer_id": "c1", "sample_count": i}}); err != nil {
			t.Fatal(err)
		}
	}
	mig, err := migrate.New(src, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mig.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	check, err := mig.Verify(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := check.Discrepancies(); n != 0 {
		t.Errorf("verify after apply: %d discrepancies (%v)", n, check.Kinds)
	}
	again, err := mig.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Outcomes[migrate.OutcomeUnchanged] != 3 {
		t.Errorf("second apply: %v, want 3 unchanged", again.Outcomes)
	}
}

// A history another tool grew to thousands of entries is trimmed within
// DynamoDB's expression limits, keeping the newest entries as they were stored.
func TestHugeForeignHistoryIsTrimmed(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, _, c := newStore(t, clock)
	ctx := t.Context()
	it := deployedItem("long")
	entries := make([]av, 5000)
	for i := range entries {
		entries[i] = m(map[string]av{"state": s("ready"), "timestamp": s("2026-05-01T10:00:00Z"), "reason": s(fmt.Sprintf("poll %d", i)), "host": s("py-7")})
	}
	it["state_history"] = l(entries...)
	putRaw(t, c, st.Table(), it)
	w, err := st.Transition(ctx, workset.TransitionRequest{ID: "long", To: workset.StateInProgress, Reason: "go"})
	if err != nil {
		t.Fatal(err)
	}
	if len(w.History) != 100 || w.History[99].Reason != "go" || w.History[0].Reason != "poll 4901" {
		t.Fatalf("history after the trim: %d entries, first %q, last %q", len(w.History), w.History[0].Reason, w.History[len(w.History)-1].Reason)
	}
	raw := getRaw(t, c, st.Table(), "long")["state_history"].(*types.AttributeValueMemberL).Value
	if len(raw) != 100 {
		t.Fatalf("stored history has %d entries, want 100", len(raw))
	}
	if host := raw[0].(*types.AttributeValueMemberM).Value["host"]; host == nil {
		t.Error("the trim dropped a key another tool stored in its entries")
	}
}

// A record another tool made too large to grow is the stored data's fault,
// reported as ErrMalformed naming the item, never as the caller's invalid
// input (issue 26, API 8), and nothing is written.
func TestOverfullItemIsTheStoresData(t *testing.T) {
	t.Parallel()
	st, _, c := newStore(t, storetest.NewClock(storetest.Start))
	ctx := t.Context()
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "big"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(st.Table()), Key: map[string]types.AttributeValue{"workset_id": &types.AttributeValueMemberS{Value: "big"}},
		UpdateExpression: aws.String("SET notes = :n"), ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberS{Value: strings.Repeat("x", 408_500)}}}); err != nil {
		t.Fatal(err)
	}
	before, err := st.Get(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Transition(ctx, workset.TransitionRequest{ID: "big", To: workset.StateInProgress, Reason: strings.Repeat("r", 1000)})
	if !errors.Is(err, workset.ErrMalformed) || errors.Is(err, workset.ErrInvalidInput) {
		t.Fatalf("a write to an over-full item: %v; want ErrMalformed, not invalid input", err)
	}
	if after, err := st.Get(ctx, "big"); err != nil || after.Version != before.Version {
		t.Errorf("the refused write changed the record: %v, %v", after, err)
	}
}

// GetMany reports an unreadable record beside the readable ones, never
// dropping it without a word; a migration into the table then names it
// unreadable in the destination and writes nothing over it.
func TestGetManyReportsUnreadable(t *testing.T) {
	t.Parallel()
	st, _, c := newStore(t, workset.SystemClock)
	ctx := t.Context()
	putRaw(t, c, st.Table(), deployedItem("good-1"))
	bad := deployedItem("bad-1")
	bad["priority"] = s("SUPER")
	putRaw(t, c, st.Table(), bad)
	got, err := st.GetMany(ctx, []string{"good-1", "bad-1", "absent-1"})
	mals := workset.Unreadable(err)
	if !errors.Is(err, workset.ErrMalformed) || len(mals) != 1 || mals[0].ID != "bad-1" || mals[0].Attribute != "priority" {
		t.Fatalf("GetMany error %v (unreadable %v), want bad-1's priority named", err, mals)
	}
	if len(got) != 1 || got["good-1"] == nil {
		t.Fatalf("GetMany returned %v, want good-1 alone", got)
	}
	// The fallback (one Get each) says the same.
	if _, err := workset.GetMany(ctx, struct{ workset.StateStore }{st}, []string{"good-1", "bad-1"}); len(workset.Unreadable(err)) != 1 {
		t.Errorf("the one-Get fallback: %v", err)
	}

	src, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"good-1", "bad-1", "new-1"} {
		if _, err := src.Register(ctx, workset.RegisterRequest{ID: id, Bucket: "b", Prefix: "worksets/" + id + "/"}); err != nil {
			t.Fatal(err)
		}
	}
	m, err := migrate.New(src, st)
	if err != nil {
		t.Fatal(err)
	}
	before := getRaw(t, c, st.Table(), "bad-1")
	res, err := m.Apply(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kinds[migrate.UnreadableInDestination] != 1 || res.Outcomes[migrate.OutcomeFailed] != 1 || res.Outcomes[migrate.OutcomeCreated] != 1 || len(res.Errors) != 1 || res.Errors[0].WorksetID != "bad-1" {
		t.Errorf("apply into a table with an unreadable record: kinds %v, outcomes %v, errors %v", res.Kinds, res.Outcomes, res.Errors)
	}
	if d := cmp.Diff(before, getRaw(t, c, st.Table(), "bad-1"), avCmp); d != "" {
		t.Errorf("apply wrote over the unreadable record:\n%s", d)
	}
	if res, err := m.Verify(ctx, nil); err != nil || res.Discrepancies() == 0 {
		t.Errorf("verify with an unreadable destination record: %v discrepancies, %v", res.Discrepancies(), err)
	}
}
