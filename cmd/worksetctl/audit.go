package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// anomaly is one finding of audit.
type anomaly struct {
	Kind      string `json:"kind"`
	WorksetID string `json:"workset_id"`
	Why       string `json:"why"`
}

// auditOptions bound what counts as an anomaly.
type auditOptions struct {
	activeAfter time.Duration
	retries     int
	since       time.Duration
}

// audit finds the anomalies of one pass over s; legacy and ddb, when both
// are set, are compared as a verify does.
func audit(ctx context.Context, s, legacy, ddb workset.StateStore, o auditOptions, now time.Time, emit func(anomaly) error) error {
	for w, err := range workset.Scan(ctx, s, workset.ListQuery{}) {
		if errors.Is(err, workset.ErrMalformed) {
			id := ""
			var me *workset.MalformedError
			if errors.As(err, &me) {
				id = me.ID
			}
			if err := emit(anomaly{"unreadable", id, err.Error()}); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		for _, a := range findings(w, o, now) {
			if err := emit(a); err != nil {
				return err
			}
		}
	}
	if legacy == nil || ddb == nil {
		return nil
	}
	m, err := migrate.New(legacy, ddb)
	if err != nil {
		return err
	}
	_, err = m.Verify(ctx, func(d migrate.Difference) error {
		if d.Kind == migrate.Equal {
			return nil
		}
		why := fmt.Sprintf("%s: sentinels say %s, DynamoDB says %s", d.Kind, orDash(d.SourceState), orDash(d.DestState))
		if len(d.Fields) > 0 {
			why += " (" + strings.Join(d.Fields, ", ") + ")"
		}
		return emit(anomaly{"stores-disagree", d.WorksetID, why})
	})
	return err
}

// lastClaimer is the owner the last move to in_progress names as its claimant
// (a claim's default reason, "claimed by <owner>"), or "".
func lastClaimer(w *workset.Workset) string {
	for i := len(w.History) - 1; i >= 0; i-- {
		if h := w.History[i]; h.State == workset.StateInProgress {
			owner, _ := strings.CutPrefix(h.Reason, storekit.DefaultClaimReason(""))
			if owner == h.Reason {
				return ""
			}
			return owner
		}
	}
	return ""
}

// findings are one workset's anomalies.
func findings(w *workset.Workset, o auditOptions, now time.Time) []anomaly {
	var out []anomaly
	add := func(kind, format string, args ...any) {
		out = append(out, anomaly{kind, w.ID, fmt.Sprintf(format, args...)})
	}
	active := w.State == workset.StateInProgress || w.State == workset.StateLocked
	if active && now.Sub(w.UpdatedAt) > o.activeAfter {
		add("active-too-long", "%s for %s (since %s), more than %s", w.State, now.Sub(w.UpdatedAt).Round(time.Minute), stamp(w.UpdatedAt), o.activeAfter)
	}
	if active && w.Foreign {
		add("foreign-work", "%s written by another tool, which gives no liveness signal: check that it still runs", w.State)
	}
	if l := w.Lease; active && l != nil && l.Expired(now, 0) {
		add("lease-expired", "%s under %s's %s lock, expired %s", w.State, l.Owner, leaseKind(l), stamp(l.ExpiresAt))
	}
	if active && w.Lease == nil && !w.Foreign {
		add("no-lease", "%s with no lease: nobody is known to run it", w.State)
	}
	if claimer := lastClaimer(w); active && claimer != "" && w.Lease != nil && w.Lease.Owner != claimer {
		add("lease-takeover", "claimed by %s, now held by %s: the lease was taken over, and %s's run may still be going", claimer, w.Lease.Owner, claimer)
	}
	if w.RetryCount >= o.retries {
		add("retry-storm", "%d retries (failed step %s, category %s)", w.RetryCount, orNone(w.FailedStep), orNone(string(w.ErrorCategory)))
	}
	for _, h := range w.History {
		if h.Forced && now.Sub(h.Timestamp) <= o.since {
			add("forced", "forced to %s at %s: %s", h.State, stamp(h.Timestamp), h.Reason)
		}
	}
	return out
}

func newAudit(e *env) *cobra.Command {
	var o auditOptions
	c := &cobra.Command{
		Use:   "audit",
		Short: "List the anomalies worth a look, each with the workset and why",
		Long: `One pass over the store, listing: worksets active past a bound
(active-too-long), another tool's active work (foreign-work), active worksets
whose lease expired (lease-expired) or that have none (no-lease), leases taken
over from the monitor that claimed the workset (lease-takeover), retry storms
(retry-storm), recent forced transitions (forced), unreadable records and
folders (unreadable), and, when both --bucket and --table are given, the
worksets the two stores disagree on (stores-disagree, as migrate verify finds
them). Exit 1 when there is any.`,
		Example: "  worksetctl audit --table daylily-worksets\n  worksetctl audit --bucket my-bucket --table daylily-worksets --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			s, err := e.store(ctx)
			if err != nil {
				return err
			}
			legacy, ddb, err := e.both(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
			n := 0
			err = audit(ctx, s, legacy, ddb, o, time.Now(), func(a anomaly) error {
				n++
				if e.f.json {
					return printJSON(e.stdout, a)
				}
				_, err := fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Kind, a.WorksetID, a.Why)
				return err
			})
			_ = tw.Flush()
			if err != nil {
				return err
			}
			if n > 0 {
				return &exitError{exitProblems, fmt.Sprintf("%d anomalies", n)}
			}
			if !e.f.json {
				fmt.Fprintln(e.stdout, "no anomalies")
			}
			return nil
		},
	}
	c.Flags().DurationVar(&o.activeAfter, "active-after", 12*time.Hour, "an active workset older than this is an anomaly")
	c.Flags().IntVar(&o.retries, "retries", 3, "this many retries or more is a retry storm")
	c.Flags().DurationVar(&o.since, "since", 7*24*time.Hour, "forced transitions this recent are listed")
	return c
}

// alarm is one CloudWatch alarm of the template.
type alarm struct {
	name, metric, description string
	threshold                 float64
	periods                   int
}

func newAlarms(e *env) *cobra.Command {
	var depth, errorsMax float64
	var age time.Duration
	var periods int
	var topic string
	c := &cobra.Command{
		Use:   "alarms",
		Short: "Print CloudWatch alarm definitions for the metrics observe emits",
		Long: `Print a CloudFormation template of CloudWatch alarms on the metrics the
observe package emits (namespace ` + observe.Namespace + `, no dimensions): the
ready queue's depth (QueueDepth) and age (OldestReadyAge: how long the oldest
ready workset has waited, which observe.EMF.QueueAge writes), worksets in error and failed
(StateCountError, StateCountFailed), and a queue that stopped reporting (no
QueueDepth data: the monitor publishing it is down). Deploy it with
"aws cloudformation deploy --template-file alarms.json --stack-name workset-alarms".`,
		Example: "  worksetctl alarms --queue-depth 200 --sns-topic arn:aws:sns:us-west-2:123456789012:oncall > alarms.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return printJSON(e.stdout, alarmTemplate(depth, age, errorsMax, periods, topic))
		},
	}
	c.Flags().Float64Var(&depth, "queue-depth", 100, "alarm when more worksets than this are ready")
	c.Flags().DurationVar(&age, "queue-age", 2*time.Hour, "alarm when the oldest ready workset has waited longer than this")
	c.Flags().Float64Var(&errorsMax, "errors", 10, "alarm when more worksets than this are in error (or failed)")
	c.Flags().IntVar(&periods, "periods", 3, "for this many 5-minute periods in a row")
	c.Flags().StringVar(&topic, "sns-topic", "", "SNS topic ARN to notify")
	return c
}

// alarmTemplate renders the alarms as a CloudFormation template.
func alarmTemplate(depth float64, age time.Duration, errorsMax float64, periods int, topic string) map[string]any {
	alarms := []alarm{
		{"WorksetQueueDepth", "QueueDepth", fmt.Sprintf("More than %g worksets ready for %d periods: the monitors do not keep up", depth, periods), depth, periods},
		{"WorksetQueueAge", "OldestReadyAge", fmt.Sprintf("A ready workset has waited more than %s: the queue is stuck", age), age.Seconds(), periods},
		{"WorksetErrors", "StateCountError", fmt.Sprintf("More than %g worksets in error", errorsMax), errorsMax, periods},
		{"WorksetFailed", "StateCountFailed", fmt.Sprintf("More than %g worksets failed (retries exhausted)", errorsMax), errorsMax, periods},
	}
	resources := map[string]any{}
	for _, a := range alarms {
		props := map[string]any{
			"AlarmName": a.name, "AlarmDescription": a.description, "Namespace": observe.Namespace, "MetricName": a.metric,
			"Statistic": "Maximum", "Period": 300, "EvaluationPeriods": a.periods, "Threshold": a.threshold,
			"ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
		}
		if topic != "" {
			props["AlarmActions"] = []string{topic}
		}
		resources[a.name] = map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": props}
	}
	silent := map[string]any{
		"AlarmName": "WorksetQueueSilent", "AlarmDescription": "No QueueDepth reported for 3 periods: the monitor publishing it is down",
		"Namespace": observe.Namespace, "MetricName": "QueueDepth", "Statistic": "SampleCount", "Period": 300, "EvaluationPeriods": 3,
		"Threshold": 1, "ComparisonOperator": "LessThanThreshold", "TreatMissingData": "breaching",
	}
	if topic != "" {
		silent["AlarmActions"] = []string{topic}
	}
	resources["WorksetQueueSilent"] = map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": silent}
	return map[string]any{"AWSTemplateFormatVersion": "2010-09-09", "Description": "Alarms on the workset metrics (worksetctl alarms)", "Resources": resources}
}
