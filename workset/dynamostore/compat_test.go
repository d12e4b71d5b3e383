package dynamostore_test

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

type av = types.AttributeValue

func s(v string) av        { return &types.AttributeValueMemberS{Value: v} }
func n(v string) av        { return &types.AttributeValueMemberN{Value: v} }
func m(v map[string]av) av { return &types.AttributeValueMemberM{Value: v} }
func l(v ...av) av         { return &types.AttributeValueMemberL{Value: v} }

func putRaw(t *testing.T, c *dynamodb.Client, table string, it map[string]av) {
	t.Helper()
	if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

func getRaw(t *testing.T, c *dynamodb.Client, table, id string) map[string]av {
	t.Helper()
	out, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]av{"workset_id": s(id)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

var avCmp = cmp.Exporter(func(reflect.Type) bool { return true })

// Items in each shape the deployed Python code wrote are read correctly and
// survive a transition unchanged except for what the transition sets.
func TestDeployedItemsReadAndSurvive(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	st, _, c := newStore(t, clock)
	ctx := t.Context()
	base := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		item    map[string]av
		created time.Time
		lease   *workset.Lease
	}{
		{"z-no-fraction", map[string]av{
			"workset_id": s("py-1"), "state": s("ready"), "priority": s("urgent"), "bucket": s("b"), "prefix": s("worksets/py-1/"),
			"created_at": s("2024-01-15T10:00:00Z"), "updated_at": s("2024-01-15T10:00:00Z"),
			"state_history": l(m(map[string]av{"state": s("ready"), "timestamp": s("2024-01-15T10:00:00Z"), "reason": s("Initial registration")})),
			"metadata":      m(map[string]av{"samples": n("96"), "ratio": n("0.5"), "tags": l(s("wgs")), "migrated_from_s3": &types.AttributeValueMemberBOOL{Value: true}}),
			"customer_id":   s("cust-1"), "retry_count": n("2"), "retry_after": &types.AttributeValueMemberNULL{Value: true},
		}, base, nil},
		{"micro-z", map[string]av{
			"workset_id": s("py-2"), "state": s("ready"), "priority": s("normal"), "bucket": s("b"), "prefix": s("worksets/py-2/"),
			"created_at": s("2024-01-15T10:00:00.250000Z"), "updated_at": s("2024-01-15T10:00:01.5Z"),
			"state_history": l(
				m(map[string]av{"state": s("ready"), "timestamp": s("2024-01-15T10:00:00.250000Z"), "reason": s("Initial registration")}),
				m(map[string]av{"state": s("error"), "timestamp": s("2024-01-15T10:00:01Z"), "reason": s("boom"), "error_category": s("transient")}),
				m(map[string]av{"state": s("ready"), "timestamp": s("2024-01-15T10:00:01.5Z"), "reason": s("retry")}),
			),
			"error_category": s("transient"), "failed_step": s("align"), "metrics": m(map[string]av{"cpu": n("3.5")}),
		}, base.Add(250 * time.Millisecond), nil},
		{"plus-offset-locked", map[string]av{
			"workset_id": s("py-3"), "state": s("retrying"), "priority": s("low"), "bucket": s("b"), "prefix": s("worksets/py-3/"),
			"created_at": s("2024-01-15T10:00:00+00:00"), "updated_at": s("2024-01-15T10:00:00+00:00"),
			"state_history":    l(m(map[string]av{"state": s("ready"), "timestamp": s("2024-01-15T10:00:00+00:00"), "reason": s("Initial registration")})),
			"lock_owner":       s("worker-host7-4242"),
			"lock_acquired_at": s("2024-01-15T10:00:00+00:00"), "lock_expires_at": s("2024-01-15T11:00:00+00:00"),
		}, base, &workset.Lease{WorksetID: "py-3", Owner: "worker-host7-4242", AcquiredAt: base, ExpiresAt: base.Add(time.Hour)}},
	}
	for _, tc := range cases {
		putRaw(t, c, st.Table(), tc.item)
		w, err := st.Get(ctx, tc.item["workset_id"].(*types.AttributeValueMemberS).Value)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !w.CreatedAt.Equal(tc.created) {
			t.Errorf("%s: created %v, want %v", tc.name, w.CreatedAt, tc.created)
		}
		if d := cmp.Diff(tc.lease, w.Lease); d != "" {
			t.Errorf("%s: lease (-want +got):\n%s", tc.name, d)
		}
		if w.Version != 0 {
			t.Errorf("%s: version %d of a foreign item, want 0", tc.name, w.Version)
		}
	}
	w, err := st.Get(ctx, "py-1")
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := map[string]any{"samples": 96.0, "ratio": 0.5, "tags": []any{"wgs"}, "migrated_from_s3": true}
	if d := cmp.Diff(wantMeta, w.Metadata); d != "" {
		t.Errorf("metadata (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]any{"customer_id": "cust-1"}, w.Attributes); d != "" {
		t.Errorf("attributes (-want +got):\n%s", d)
	}
	if w.RetryCount != 2 || !w.RetryAfter.IsZero() {
		t.Errorf("retry_count %d, retry_after %v; want 2 and none", w.RetryCount, w.RetryAfter)
	}
	if w, err = st.Get(ctx, "py-2"); err != nil {
		t.Fatal(err)
	}
	if w.FailedStep != "align" {
		t.Errorf("failed_step %q", w.FailedStep)
	}
	if len(w.History) != 3 || w.History[1].ErrorCategory != workset.CategoryTransient || w.ErrorCategory != workset.CategoryTransient {
		t.Errorf("py-2 history/category: %+v / %s", w.History, w.ErrorCategory)
	}

	// A transition changes exactly what it sets.
	clock.Advance(time.Minute)
	for _, id := range []string{"py-1", "py-2"} {
		before := getRaw(t, c, st.Table(), id)
		if _, err := st.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Reason: "go monitor"}); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		after := getRaw(t, c, st.Table(), id)
		for k, v := range before {
			switch k {
			case "state", "updated_at", "state_history":
				continue
			}
			if d := cmp.Diff(v, after[k], avCmp); d != "" {
				t.Errorf("%s: attribute %s changed by a transition:\n%s", id, k, d)
			}
		}
		hist := after["state_history"].(*types.AttributeValueMemberL).Value
		if len(hist) != len(before["state_history"].(*types.AttributeValueMemberL).Value)+1 {
			t.Errorf("%s: history not appended", id)
		}
		if d := cmp.Diff(before["state_history"].(*types.AttributeValueMemberL).Value, hist[:len(hist)-1], avCmp); d != "" {
			t.Errorf("%s: old history entries rewritten:\n%s", id, d)
		}
	}
	// The stale Python lock (expired in 2024) can be taken over, in three requests.
	l3, err := st.AcquireLease(ctx, "py-3", "go-host-1", time.Minute)
	if err != nil {
		t.Fatalf("takeover of a stale deployed lock: %v", err)
	}
	if l3.Token != 1 || l3.Owner != "go-host-1" {
		t.Errorf("takeover lease %+v", l3)
	}
}

// Items this store writes are what the deployed code expects, attribute by attribute.
func TestWrittenItemShape(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	clock := storetest.NewClock(now)
	st, _, c := newStore(t, clock)
	ctx := t.Context()
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "go-1", Priority: workset.PriorityUrgent, Bucket: "bkt", Prefix: "worksets/go-1/",
		Metadata: map[string]any{"samples": 12, "migrated_from_s3": true}, Attributes: map[string]any{"customer_id": "c-9"}}); err != nil {
		t.Fatal(err)
	}
	got := getRaw(t, c, st.Table(), "go-1")
	delete(got, "last_op")
	want := map[string]av{
		"workset_id": s("go-1"), "state": s("ready"), "priority": s("urgent"), "bucket": s("bkt"), "prefix": s("worksets/go-1/"),
		"created_at": s("2026-05-06T07:08:09.000000Z"), "updated_at": s("2026-05-06T07:08:09.000000Z"),
		"state_history": l(m(map[string]av{"state": s("ready"), "timestamp": s("2026-05-06T07:08:09.000000Z"), "reason": s("Initial registration")})),
		"metadata":      m(map[string]av{"samples": n("12"), "migrated_from_s3": &types.AttributeValueMemberBOOL{Value: true}}),
		"customer_id":   s("c-9"), "version": n("1"), "sdk_state": s("ready"),
	}
	if d := cmp.Diff(want, got, avCmp); d != "" {
		t.Errorf("registered item (-want +got):\n%s", d)
	}
	lease, err := st.AcquireLease(ctx, "go-1", "host-1-99", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got = getRaw(t, c, st.Table(), "go-1")
	for k, v := range map[string]av{"lock_owner": s("host-1-99"), "lock_acquired_at": s("2026-05-06T07:08:09.000000Z"),
		"lock_expires_at": s("2026-05-06T08:08:09.000000Z"), "lease_token": n("1"), "version": n("2")} {
		if d := cmp.Diff(v, got[k], avCmp); d != "" {
			t.Errorf("after acquire, %s:\n%s", k, d)
		}
	}
	if err := st.ReleaseLease(ctx, *lease); err != nil {
		t.Fatal(err)
	}
	got = getRaw(t, c, st.Table(), "go-1")
	for _, k := range []string{"lock_owner", "lock_acquired_at", "lock_expires_at", "lease_expires_ms"} {
		if _, ok := got[k]; ok {
			t.Errorf("after release, %s still present", k)
		}
	}
	if d := cmp.Diff(n("1"), got["lease_token"], avCmp); d != "" {
		t.Errorf("fencing counter not kept after release:\n%s", d)
	}
}

// Each operation costs the round trips the package doc promises.
func TestRoundTrips(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	st, counter, _ := newStore(t, clock)
	ctx := t.Context()
	step := func(name string, want map[string]int, fn func() error) {
		t.Helper()
		counter.Reset()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, counter.Counts()); d != "" {
			t.Errorf("%s requests (-want +got):\n%s", name, d)
		}
	}
	var lease *workset.Lease
	step("Register", map[string]int{"PutItem": 1}, func() error {
		_, err := st.Register(ctx, workset.RegisterRequest{ID: "rt"})
		return err
	})
	step("Get", map[string]int{"GetItem": 1}, func() error { _, err := st.Get(ctx, "rt"); return err })
	step("AcquireLease free", map[string]int{"UpdateItem": 1}, func() (err error) {
		lease, err = st.AcquireLease(ctx, "rt", "a", time.Minute)
		return err
	})
	step("Transition fenced", map[string]int{"UpdateItem": 1}, func() error {
		_, err := st.Transition(ctx, workset.TransitionRequest{ID: "rt", To: workset.StateInProgress, Lease: lease})
		return err
	})
	step("RenewLease", map[string]int{"UpdateItem": 1}, func() (err error) {
		lease, err = st.RenewLease(ctx, *lease, time.Minute)
		return err
	})
	clock.Advance(2 * time.Minute)
	step("AcquireLease takeover", map[string]int{"UpdateItem": 1}, func() (err error) {
		lease, err = st.AcquireLease(ctx, "rt", "b", time.Minute)
		return err
	})
	step("ReleaseLease", map[string]int{"UpdateItem": 1}, func() error { return st.ReleaseLease(ctx, *lease) })
	step("Refused transition", map[string]int{"UpdateItem": 1, "GetItem": 1}, func() error {
		_, err := st.Transition(ctx, workset.TransitionRequest{ID: "rt", To: workset.StateArchived})
		if errors.Is(err, workset.ErrInvalidTransition) {
			return nil
		}
		return err
	})
	step("List page", map[string]int{"Query": 1}, func() error {
		_, err := st.List(ctx, workset.ListQuery{State: workset.StateInProgress, Priority: workset.PriorityNormal})
		return err
	})
}

// A write whose response is lost after the server applied it is retried by the
// SDK; the store recognises its own write and neither applies it twice nor
// reports a failure.
func TestAmbiguousFailures(t *testing.T) {
	t.Parallel()
	for _, op := range []string{"PutItem", "UpdateItem"} {
		t.Run(op, func(t *testing.T) {
			t.Parallel()
			fault := &transport.AmbiguousFailure{Match: transport.IsOp(op), Times: 1}
			clock := storetest.NewClock(storetest.Start)
			st, _, c := newStore(t, clock)
			faulty, err := dynamostore.New(dynamodbWith(c, fault), st.Table(), func(o *dynamostore.Options) { o.Clock = clock })
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if _, err := faulty.Register(ctx, workset.RegisterRequest{ID: "amb"}); err != nil {
				t.Fatalf("Register after a lost response: %v", err)
			}
			if op == "UpdateItem" {
				w, err := faulty.Transition(ctx, workset.TransitionRequest{ID: "amb", To: workset.StateInProgress, Reason: "once"})
				if err != nil {
					t.Fatalf("Transition after a lost response: %v", err)
				}
				if len(w.History) != 2 || w.Version != 2 {
					t.Errorf("transition applied %d times (history %d, version %d)", len(w.History)-1, len(w.History), w.Version)
				}
				fault.Times = 2
				l, err := faulty.AcquireLease(ctx, "amb", "x", time.Minute)
				if err == nil {
					t.Errorf("acquire in in_progress should be refused, got %+v", l)
				}
				if _, err := faulty.Transition(ctx, workset.TransitionRequest{ID: "amb", To: workset.StateRetrying}); err != nil {
					t.Fatal(err)
				}
				l, err = faulty.AcquireLease(ctx, "amb", "x", time.Minute)
				if err != nil || l.Token != 1 {
					t.Fatalf("acquire after a lost response: %+v, %v (token must be 1: applied once)", l, err)
				}
				if err := faulty.ReleaseLease(ctx, *l); err != nil {
					t.Fatalf("release after a lost response: %v", err)
				}
			}
			if fault.Hits() == 0 {
				t.Fatal("fault never fired: the test proves nothing")
			}
			w, err := st.Get(ctx, "amb")
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, h := range w.History {
				seen[string(h.State)+h.Reason]++
				if seen[string(h.State)+h.Reason] > 1 {
					t.Errorf("duplicate history entry %+v", h)
				}
			}
		})
	}
}

func dynamodbWith(c *dynamodb.Client, rt http.RoundTripper) *dynamodb.Client {
	return dynamodb.New(c.Options(), func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: rt} })
}

// The history stays bounded, oldest entries dropped first, and CreateTable is
// idempotent on an existing table.
func TestHistoryBoundAndCreateTableTwice(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(storetest.Start)
	st, _, _ := newStore(t, clock, func(o *dynamostore.Options) { o.HistoryLimit = 10 })
	ctx := t.Context()
	if err := st.CreateTable(ctx, time.Minute); err != nil {
		t.Fatalf("second CreateTable: %v", err)
	}
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "h"}); err != nil {
		t.Fatal(err)
	}
	var w *workset.Workset
	for i := range 40 {
		to := workset.StateIgnored
		if i%2 == 1 {
			to = workset.StateReady
		}
		var err error
		if w, err = st.Transition(ctx, workset.TransitionRequest{ID: "h", To: to, Reason: time.Duration(i).String()}); err != nil {
			t.Fatal(err)
		}
		if len(w.History) > 11 {
			t.Fatalf("history grew to %d entries (limit 10 + 1)", len(w.History))
		}
	}
	stored, err := st.Get(ctx, "h")
	if err != nil {
		t.Fatal(err)
	}
	if last := stored.History[len(stored.History)-1]; last.Reason != time.Duration(39).String() {
		t.Errorf("newest entry lost: %+v", last)
	}
	if len(stored.History) < 10 {
		t.Errorf("history trimmed below its limit: %d", len(stored.History))
	}
}
