// Command quickstart walks through the workset state SDK on the embedded
// in-memory store: no servers, no AWS.
//
//	go run ./examples/quickstart
//
// Part one registers worksets, claims them in priority order the way a monitor
// does, moves them through their states, shows a refused transition and a lease
// takeover, and prints each workset's audit history.
//
// Part two is the migration: it seeds a legacy sentinel layout in a temporary
// directory, plans (dry run), applies and verifies the migration into the new
// store, switches a DualWriter to the new-authoritative phase while a simulated
// monitor keeps working, rolls a change back into the sentinels, and ends with
// a cleanup dry run. (In production the new store is dynamostore and the
// bucket is sentinel.NewS3Bucket; everything else is the same code.)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

func main() {
	if err := both(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// both runs the two parts, the second in a temporary directory it removes.
func both(ctx context.Context, out io.Writer) error {
	dir, err := os.MkdirTemp("", "worksetstate-quickstart-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := run(ctx, out); err != nil {
		return err
	}
	return migration(ctx, out, dir)
}

func run(ctx context.Context, out io.Writer) error {
	// A manual clock makes the walkthrough reproducible and lets us expire a
	// lease without sleeping. Real code leaves Clock at its default.
	clock := storetest.NewClock(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	store, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		return err
	}

	fmt.Fprintln(out, "== 1. Register four worksets")
	for _, r := range []workset.RegisterRequest{
		{ID: "ws-001", Priority: workset.PriorityNormal, Bucket: "genomics", Prefix: "worksets/ws-001/"},
		{ID: "ws-002", Priority: workset.PriorityUrgent, Bucket: "genomics", Prefix: "worksets/ws-002/"},
		{ID: "ws-003", Priority: workset.PriorityLow, Bucket: "genomics", Prefix: "worksets/ws-003/"},
		{ID: "ws-004", Priority: workset.PriorityNormal, Bucket: "genomics", Prefix: "worksets/ws-004/", Metadata: map[string]any{"samples": 96}},
	} {
		w, err := store.Register(ctx, r)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "   %s  %-6s  %s\n", w.ID, w.Priority, w.State)
	}

	fmt.Fprintln(out, "\n== 2. A monitor claims ready worksets in priority order")
	outcomes := map[string]workset.State{"ws-002": workset.StateComplete, "ws-001": workset.StateError, "ws-004": workset.StateComplete}
	for range 3 {
		clock.Advance(time.Minute)
		page, err := store.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 1})
		if err != nil {
			return err
		}
		w := page.Worksets[0]
		lease, err := store.AcquireLease(ctx, w.ID, "monitor-a-101", 10*time.Minute)
		if err != nil {
			return err
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: w.ID, To: workset.StateInProgress, Lease: lease, Reason: "claimed by monitor-a", ClusterName: "cluster-1"}); err != nil {
			return err
		}
		clock.Advance(5 * time.Minute)
		req := workset.TransitionRequest{ID: w.ID, To: outcomes[w.ID], Lease: lease, Reason: "pipeline finished"}
		if req.To == workset.StateError {
			req.Reason, req.ErrorDetails, req.ErrorCategory = "pipeline failed", "bwa exited 137", workset.CategoryResource
		}
		done, err := store.Transition(ctx, req)
		if err != nil {
			return err
		}
		if err := store.ReleaseLease(ctx, *lease); err != nil {
			return err
		}
		fmt.Fprintf(out, "   claimed %s (%s, fencing token %d) -> %s\n", w.ID, w.Priority, lease.Token, done.State)
	}

	fmt.Fprintln(out, "\n== 3. The transition graph refuses a move it does not allow")
	_, err = store.Transition(ctx, workset.TransitionRequest{ID: "ws-001", To: workset.StateComplete})
	var te *workset.TransitionError
	if !errors.As(err, &te) {
		return fmt.Errorf("expected a refused transition, got %v", err)
	}
	fmt.Fprintf(out, "   %v\n", err)
	clock.Advance(time.Minute)
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-001", To: workset.StateReady, Reason: "operator requeued after fixing memory limits"}); err != nil {
		return err
	}
	fmt.Fprintln(out, "   ws-001: error -> ready (allowed: requeued)")

	fmt.Fprintln(out, "\n== 4. A monitor dies holding a lease; another takes it over")
	clock.Advance(time.Minute)
	dead, err := store.AcquireLease(ctx, "ws-003", "monitor-b-202", 2*time.Minute)
	if err != nil {
		return err
	}
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-003", To: workset.StateInProgress, Lease: dead, Reason: "claimed by monitor-b"}); err != nil {
		return err
	}
	_, err = store.AcquireLease(ctx, "ws-003", "monitor-a-101", 10*time.Minute)
	fmt.Fprintf(out, "   while live: %v\n", err)
	clock.Advance(3 * time.Minute) // monitor-b stopped renewing
	taken, err := store.AcquireLease(ctx, "ws-003", "monitor-a-101", 10*time.Minute)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "   after expiry: monitor-a took over with token %d (was %d)\n", taken.Token, dead.Token)
	_, err = store.Transition(ctx, workset.TransitionRequest{ID: "ws-003", To: workset.StateComplete, Lease: dead, Reason: "late write"})
	fmt.Fprintf(out, "   monitor-b's late write: %v\n", err)
	clock.Advance(4 * time.Minute)
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-003", To: workset.StateComplete, Lease: taken, Reason: "finished by monitor-a"}); err != nil {
		return err
	}
	if err := store.ReleaseLease(ctx, *taken); err != nil {
		return err
	}

	fmt.Fprintln(out, "\n== 5. Audit history")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "   WORKSET\tTIME\tSTATE\tREASON")
	for w, err := range workset.All(ctx, store, workset.ListQuery{}) {
		if err != nil {
			return err
		}
		for _, h := range w.History {
			reason := h.Reason
			if h.ErrorCategory != "" {
				reason += " [" + string(h.ErrorCategory) + "]"
			}
			fmt.Fprintf(tw, "   %s\t%s\t%s\t%s\n", w.ID, h.Timestamp.Format("15:04"), h.State, reason)
		}
	}
	return tw.Flush()
}
