package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// leaseView is a lease as the commands print it.
type leaseView struct {
	Owner      string    `json:"owner"`
	Kind       string    `json:"kind"`
	Token      int64     `json:"fencing_token"`
	AcquiredAt time.Time `json:"acquired_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at"`
	Live       bool      `json:"live"`
}

// leaseKind says whose lock a lease is: this SDK's, a legacy sentinel
// monitor's, or another tool's (the deployed Python code keeps no fencing
// token).
func leaseKind(l *workset.Lease) string {
	switch {
	case l.Owner == sentinel.LegacyOwner:
		return "legacy-monitor"
	case l.Foreign():
		return "foreign"
	}
	return "sdk"
}

func viewLease(l *workset.Lease, now time.Time) *leaseView {
	if l == nil {
		return nil
	}
	return &leaseView{Owner: l.Owner, Kind: leaseKind(l), Token: l.Token, AcquiredAt: l.AcquiredAt, ExpiresAt: l.ExpiresAt, Live: !l.Expired(now, 0)}
}

type historyView struct {
	State         workset.State         `json:"state"`
	Timestamp     time.Time             `json:"timestamp"`
	Reason        string                `json:"reason,omitempty"`
	ErrorCategory workset.ErrorCategory `json:"error_category,omitempty"`
	Forced        bool                  `json:"forced,omitempty"`
}

// worksetView is a workset as --json prints it (the deployed field names).
type worksetView struct {
	ID            string                `json:"workset_id"`
	State         workset.State         `json:"state"`
	Priority      workset.Priority      `json:"priority"`
	Bucket        string                `json:"bucket,omitempty"`
	Prefix        string                `json:"prefix,omitempty"`
	CreatedAt     time.Time             `json:"created_at,omitzero"`
	UpdatedAt     time.Time             `json:"updated_at,omitzero"`
	Version       int64                 `json:"version"`
	FencingToken  int64                 `json:"fencing_token"`
	Foreign       bool                  `json:"foreign,omitempty"`
	Lease         *leaseView            `json:"lease,omitempty"`
	ErrorDetails  string                `json:"error_details,omitempty"`
	ErrorCategory workset.ErrorCategory `json:"error_category,omitempty"`
	RetryCount    int                   `json:"retry_count,omitempty"`
	RetryAfter    time.Time             `json:"retry_after,omitzero"`
	FailedStep    string                `json:"failed_step,omitempty"`
	ClusterName   string                `json:"cluster_name,omitempty"`
	Metadata      map[string]any        `json:"metadata,omitempty"`
	Attributes    map[string]any        `json:"attributes,omitempty"`
	History       []historyView         `json:"history,omitempty"`
}

func view(w *workset.Workset, now time.Time, history bool) worksetView {
	v := worksetView{ID: w.ID, State: w.State, Priority: w.Priority, Bucket: w.Bucket, Prefix: w.Prefix, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt,
		Version: w.Version, FencingToken: w.FencingToken, Foreign: w.Foreign, Lease: viewLease(w.Lease, now), ErrorDetails: w.ErrorDetails,
		ErrorCategory: w.ErrorCategory, RetryCount: w.RetryCount, RetryAfter: w.RetryAfter, FailedStep: w.FailedStep, ClusterName: w.ClusterName,
		Metadata: w.Metadata, Attributes: w.Attributes}
	if history {
		for _, h := range w.History {
			v.History = append(v.History, historyView(h))
		}
	}
	return v
}

func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printWorkset prints one record for a person.
func printWorkset(out io.Writer, w *workset.Workset, now time.Time) {
	fmt.Fprintf(out, "%s  %s  (priority %s)\n", w.ID, w.State, w.Priority)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	if w.Bucket != "" {
		fmt.Fprintf(tw, "  data\ts3://%s/%s\n", w.Bucket, w.Prefix)
	}
	fmt.Fprintf(tw, "  created\t%s\n  updated\t%s (%s ago)\n  version\t%d, fencing token %d\n", stamp(w.CreatedAt), stamp(w.UpdatedAt), now.Sub(w.UpdatedAt).Round(time.Second), w.Version, w.FencingToken)
	if l := w.Lease; l != nil {
		state := "live"
		if l.Expired(now, 0) {
			state = "expired"
		}
		fmt.Fprintf(tw, "  lease\t%s (%s lock), %s until %s\n", l.Owner, leaseKind(l), state, stamp(l.ExpiresAt))
	}
	if w.Foreign {
		fmt.Fprintf(tw, "  foreign\tits state was written by another tool, which gives no liveness signal: nothing here says whether it still runs\n")
	}
	if w.ErrorDetails != "" || w.ErrorCategory != "" {
		fmt.Fprintf(tw, "  error\t[%s] %s\n", orNone(string(w.ErrorCategory)), w.ErrorDetails)
	}
	if w.RetryCount > 0 || w.FailedStep != "" {
		fmt.Fprintf(tw, "  retries\t%d, failed step %s, retry after %s\n", w.RetryCount, orNone(w.FailedStep), stamp(w.RetryAfter))
	}
	if w.ClusterName != "" {
		fmt.Fprintf(tw, "  cluster\t%s\n", w.ClusterName)
	}
	_ = tw.Flush()
	if len(w.History) > 0 {
		fmt.Fprintln(out, "history:")
		tw = tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
		for _, h := range w.History {
			forced := ""
			if h.Forced {
				forced = "FORCED"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", stamp(h.Timestamp), h.State, forced, h.Reason)
		}
		_ = tw.Flush()
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newGet(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "get ID",
		Short:   "Show a workset's record and its history",
		Example: "  worksetctl get ws-001\n  worksetctl get ws-001 --json --bucket my-bucket --store sentinel",
		Args:    idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := e.store(cmd.Context())
			if err != nil {
				return err
			}
			w, err := s.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if e.f.json {
				return printJSON(e.stdout, view(w, time.Now(), true))
			}
			printWorkset(e.stdout, w, time.Now())
			return nil
		},
	}
}

func newList(e *env) *cobra.Command {
	var state, priority, customer string
	var limit int
	c := &cobra.Command{
		Use:   "list",
		Short: "List worksets, by state, priority or customer",
		Long: `List worksets. By state, they come in the store's dispatch order (DynamoDB:
priority, then age; the sentinel store keeps no priority: folder order).
A record that cannot be read is reported on stderr and counted, never skipped
without a word (exit 1 when there was one).`,
		Example: "  worksetctl list --state ready --limit 20\n  worksetctl list --state error --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := workset.ListQuery{State: workset.State(state), Customer: customer}
			if state != "" && !q.State.Valid() {
				return usageError("--state: %q is not a state (%s)", state, strings.Join(stateNames(), ", "))
			}
			if priority != "" {
				p, err := workset.ParsePriority(priority)
				if err != nil {
					return usageError("--priority: %v", err)
				}
				q.Priority = p
			}
			s, err := e.store(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			if !e.f.json {
				fmt.Fprintln(tw, "ID\tSTATE\tPRIORITY\tUPDATED\tHOLDER")
			}
			n, bad := 0, 0
			for w, err := range workset.All(cmd.Context(), s, q) {
				if errors.Is(err, workset.ErrMalformed) {
					bad++
					fmt.Fprintln(e.stderr, "worksetctl: unreadable:", err)
					continue
				}
				if err != nil {
					return err
				}
				if e.f.json {
					if err := printJSON(e.stdout, view(w, now, false)); err != nil {
						return err
					}
				} else {
					holder := "-"
					if w.Lease != nil {
						holder = w.Lease.Owner
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", w.ID, w.State, w.Priority, stamp(w.UpdatedAt), holder)
				}
				if n++; limit > 0 && n >= limit {
					break
				}
			}
			_ = tw.Flush()
			if bad > 0 {
				return &exitError{exitProblems, fmt.Sprintf("%d records could not be read (named above)", bad)}
			}
			return nil
		},
	}
	c.Flags().StringVar(&state, "state", "", "only this state")
	c.Flags().StringVar(&priority, "priority", "", "only this priority (urgent, normal, low)")
	c.Flags().StringVar(&customer, "customer", "", "only this customer_id (DynamoDB)")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (0: all)")
	_ = c.RegisterFlagCompletionFunc("state", fixedCompletion(stateNames()...))
	return c
}

func stateNames() []string {
	var out []string
	for _, s := range workset.States() {
		out = append(out, string(s))
	}
	return out
}

// stats is what the stats command reports.
type stats struct {
	Counts      map[workset.State]int64 `json:"counts"`
	Total       int64                   `json:"total"`
	OldestReady *oldestReady            `json:"oldest_ready,omitempty"`
	InFlight    []worksetView           `json:"in_flight"`
	// Unreadable counts the records that could not be read (audit names them).
	Unreadable int `json:"unreadable"`
}

// oldestReady is the ready workset that has waited longest.
type oldestReady struct {
	ID    string    `json:"workset_id"`
	Since time.Time `json:"since"`
	Age   string    `json:"age"`
}

// collectStats gathers the stats (observe.Look: one pass on a store that
// does not count without reading).
func collectStats(ctx context.Context, s workset.StateStore, now time.Time) (stats, error) {
	look, err := observe.Look(ctx, s, "", now)
	if err != nil {
		return stats{}, err
	}
	st := stats{Counts: look.Counts, Total: look.Total, InFlight: []worksetView{}, Unreadable: look.Unreadable}
	if w := look.OldestReady; w != nil {
		st.OldestReady = &oldestReady{w.ID, w.UpdatedAt, now.Sub(w.UpdatedAt).Round(time.Second).String()}
	}
	for _, w := range look.InFlight {
		st.InFlight = append(st.InFlight, view(w, now, false))
	}
	return st, nil
}

func newStats(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "stats",
		Short:   "Counts by state, the oldest ready workset, and what is in flight with its holder",
		Example: "  worksetctl stats\n  worksetctl stats --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := e.store(ctx)
			if err != nil {
				return err
			}
			st, err := collectStats(ctx, s, time.Now())
			if err != nil {
				return err
			}
			counts := st.Counts
			if e.f.json {
				return printJSON(e.stdout, st)
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			for _, state := range workset.States() {
				if n := counts[state]; n > 0 {
					fmt.Fprintf(tw, "%s\t%d\n", state, n)
				}
			}
			fmt.Fprintf(tw, "total\t%d\n", st.Total)
			_ = tw.Flush()
			if o := st.OldestReady; o != nil {
				fmt.Fprintf(e.stdout, "oldest ready: %s, ready since %s (%s)\n", o.ID, stamp(o.Since), o.Age)
			}
			if st.Unreadable > 0 {
				fmt.Fprintf(e.stdout, "unreadable: %d records (worksetctl audit names them)\n", st.Unreadable)
			}
			fmt.Fprintf(e.stdout, "in flight: %d\n", len(st.InFlight))
			tw = tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			for _, w := range st.InFlight {
				holder, until := "no lease", ""
				if w.Lease != nil {
					holder, until = w.Lease.Owner+" ("+w.Lease.Kind+")", "until "+stamp(w.Lease.ExpiresAt)
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", w.ID, w.State, holder, until)
			}
			return tw.Flush()
		},
	}
}

func newLeases(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "leases",
		Short: "Who holds what until when, the deployed Python code's and legacy monitors' locks included",
		Long: `List every lease: this SDK's (kind sdk), a legacy sentinel monitor's lock file
(kind legacy-monitor) and another tool's lock, such as the deployed Python
code's, which keeps no fencing token and is never refreshed (kind foreign).`,
		Example: "  worksetctl leases\n  worksetctl leases --json --bucket my-bucket",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := e.store(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			if !e.f.json {
				fmt.Fprintln(tw, "ID\tSTATE\tOWNER\tKIND\tEXPIRES\tLIVE")
			}
			for w, err := range workset.Scan(cmd.Context(), s, workset.ListQuery{}) {
				if errors.Is(err, workset.ErrMalformed) {
					fmt.Fprintln(e.stderr, "worksetctl: unreadable:", err)
					continue
				}
				if err != nil {
					return err
				}
				if w.Lease == nil {
					continue
				}
				l := viewLease(w.Lease, now)
				if e.f.json {
					if err := printJSON(e.stdout, struct {
						ID    string        `json:"workset_id"`
						State workset.State `json:"state"`
						*leaseView
					}{w.ID, w.State, l}); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\n", w.ID, w.State, l.Owner, l.Kind, stamp(l.ExpiresAt), l.Live)
			}
			return tw.Flush()
		},
	}
}

// idArg checks the workset ID argument, so that a mistyped one is named as
// such rather than reported not found.
func idArg(cmd *cobra.Command, args []string) error {
	if err := cobra.ExactArgs(1)(cmd, args); err != nil {
		return usageError("%v", err)
	}
	if err := workset.ValidateID(args[0]); err != nil {
		return usageError("%v", err)
	}
	return nil
}

// operatorReason is the reason recorded in the history for an operator's action.
func operatorReason(e *env) (string, error) {
	r := strings.TrimSpace(e.f.reason)
	if r == "" {
		return "", usageError("--reason is required: it is recorded in the workset's history")
	}
	op := e.f.operator
	if op == "" {
		op = os.Getenv("USER")
	}
	if op == "" {
		op = "unknown operator"
	}
	return fmt.Sprintf("%s (worksetctl, %s)", r, op), nil
}

func actionFlags(c *cobra.Command, e *env) {
	c.Flags().StringVar(&e.f.reason, "reason", "", "why (required; recorded in the history)")
	c.Flags().StringVar(&e.f.operator, "operator", "", "who (default $USER)")
}

// newAction makes requeue and ignore: a transition the state machine allows.
func newAction(e *env, name, short string) *cobra.Command {
	to := map[string]workset.State{"requeue": workset.StateReady, "ignore": workset.StateIgnored}[name]
	c := &cobra.Command{
		Use:     name + " ID",
		Short:   short,
		Long:    short + ". The move is one the state machine allows from the current state (else exit 4: use force); the reason is recorded in the history.",
		Example: fmt.Sprintf("  worksetctl %s ws-001 --reason \"node lost during alignment\"", name),
		Args:    idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			return transition(cmd.Context(), e, args[0], to, false)
		},
	}
	actionFlags(c, e)
	return c
}

func newForce(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "force ID STATE",
		Short: "Set a workset's state whatever the state machine says (recorded as forced)",
		Long: `Set a workset's state, bypassing the state machine: the history marks the
entry as forced, with the reason. A workset under a live lease is refused
(exit 4); release the lease first.`,
		Example: "  worksetctl force ws-001 complete --reason \"finished by hand, results verified\"",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(2)(cmd, args); err != nil {
				return usageError("%v", err)
			}
			return idArg(cmd, args[:1])
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return stateNames(), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			to := workset.State(args[1])
			if !to.Valid() {
				return usageError("%q is not a state (%s)", args[1], strings.Join(stateNames(), ", "))
			}
			return transition(cmd.Context(), e, args[0], to, true)
		},
	}
	actionFlags(c, e)
	return c
}

// act is what every operator action starts with: the reason it records,
// the store, and the workset as it is.
func act(ctx context.Context, e *env, id string) (reason string, s workset.StateStore, w *workset.Workset, err error) {
	if reason, err = operatorReason(e); err != nil {
		return "", nil, nil, err
	}
	if s, err = e.store(ctx); err != nil {
		return "", nil, nil, err
	}
	w, err = s.Get(ctx, id)
	return reason, s, w, err
}

func transition(ctx context.Context, e *env, id string, to workset.State, force bool) error {
	reason, s, before, err := act(ctx, e, id)
	if err != nil {
		return err
	}
	if l := before.Lease; l != nil && !l.Expired(time.Now(), 0) {
		return &exitError{exitRefused, fmt.Sprintf("workset %s is held by %s (%s lock) until %s: release it first (worksetctl release %s)", id, l.Owner, leaseKind(l), stamp(l.ExpiresAt), id)}
	}
	w, err := s.Transition(ctx, workset.TransitionRequest{ID: id, To: to, Reason: reason, Force: force, ExpectedVersion: before.Version})
	if errors.Is(err, workset.ErrInvalidTransition) {
		return &exitError{exitRefused, fmt.Sprintf("%v (to set it anyway: worksetctl force %s %s --reason ...)", err, id, to)}
	}
	if err != nil {
		return err
	}
	if e.f.json {
		if err := printJSON(e.stdout, map[string]any{"workset_id": id, "from": before.State, "to": w.State, "forced": force, "reason": reason}); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "%s: %s -> %s (%s)\n", id, before.State, w.State, reason)
	}
	return e.mirrorMissed()
}

func newRelease(e *env) *cobra.Command {
	var yes, live bool
	c := &cobra.Command{
		Use:   "release ID",
		Short: "Release a stale or foreign lease (asks first; refuses a live one unless --live)",
		Long: `Release the lease on a workset: a stale one a dead worker left, or another
tool's lock. It asks for confirmation on a terminal (--yes skips the question;
without a terminal --yes is required), and refuses a live lease unless --live
is given. The state stays as it is: requeue the workset afterwards if its work
must run again.`,
		Example: "  worksetctl release ws-001 --reason \"host i-0abc terminated\"\n  worksetctl release ws-001 --reason \"stuck python worker\" --live --yes",
		Args:    idArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, id := cmd.Context(), args[0]
			reason, s, w, err := act(ctx, e, id)
			if err != nil {
				return err
			}
			l := w.Lease
			if l == nil {
				return &exitError{exitRefused, fmt.Sprintf("workset %s holds no lease", id)}
			}
			if !l.Expired(time.Now(), 0) && !live {
				return &exitError{exitRefused, fmt.Sprintf("the lease of %s (%s, %s lock) is live until %s: pass --live to release it anyway", id, l.Owner, leaseKind(l), stamp(l.ExpiresAt))}
			}
			if !yes {
				if !isTerminal(e.stdin) {
					return usageError("release asks for confirmation: pass --yes when not on a terminal")
				}
				fmt.Fprintf(e.stderr, "release the lease of %s held by %s (%s lock) until %s? [y/N] ", id, l.Owner, leaseKind(l), stamp(l.ExpiresAt))
				answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
				if !slices.Contains([]string{"y", "yes"}, strings.ToLower(strings.TrimSpace(answer))) {
					return &exitError{exitRefused, "not released"}
				}
			}
			if err := s.ReleaseLease(ctx, *l); err != nil {
				return err
			}
			// The release and its reason go in the history where the store
			// keeps one (a note: the state, and the mark of another tool's
			// work, stay as they are).
			note := fmt.Sprintf("lease of %s (%s lock) released: %s", l.Owner, leaseKind(l), reason)
			if _, err := workset.Note(ctx, s, id, note); errors.Is(err, workset.ErrUnsupported) {
				fmt.Fprintf(e.stderr, "worksetctl: this store keeps no history: the release is not recorded there (%v)\n", err)
			} else if err != nil {
				return &exitError{exitProblems, fmt.Sprintf("the lease was released, but the note could not be written: %v", err)}
			}
			if e.f.json {
				if err := printJSON(e.stdout, map[string]any{"workset_id": id, "released": true, "owner": l.Owner, "kind": leaseKind(l), "state": w.State, "reason": reason}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(e.stdout, "%s: released the lease of %s (%s lock); state stays %s (%s)\n", id, l.Owner, leaseKind(l), w.State, reason)
			}
			return e.mirrorMissed()
		},
	}
	actionFlags(c, e)
	c.Flags().BoolVar(&yes, "yes", false, "do not ask")
	c.Flags().BoolVar(&live, "live", false, "release a live lease too")
	return c
}
