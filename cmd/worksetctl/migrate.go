package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/schollz/progressbar/v3"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// migrateRun runs one migrate subcommand (plan, apply, verify, rollback,
// cleanup, iam-policy) with the parsed flags.
func migrateRun(ctx context.Context, cmd string, f *flags, e *env, out *printer) error {
	stderr := e.stderr
	out.cmd, out.json, out.dryRun = cmd, f.json, f.dryRun
	if f.bucket == "" {
		return usageError("--bucket is required")
	}
	if f.concurrency < 1 {
		return usageError("--concurrency must be at least 1")
	}
	if cmd == "iam-policy" {
		prefixes := []string{f.prefix}
		if f.prefix == "auto" {
			prefixes = knownRoots // --prefix auto lists both
		}
		doc, err := iamPolicy(f.region, f.account, f.table, f.bucket, prefixes, f.createTable)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(doc))
		return nil
	}
	conflict, ok := map[string]migrate.ConflictPolicy{"skip": migrate.SkipAndReport, "source": migrate.SourceWins, "destination": migrate.DestinationWins}[f.onConflict]
	if !ok {
		return usageError("--on-conflict: %q is not skip, source or destination", f.onConflict)
	}
	// The source must be readable, and laid out as the flags say, before
	// anything is created.
	legacy, err := e.sentinelStore(ctx)
	if err != nil {
		return err
	}
	ddb, ddbc, err := e.dynamo(ctx)
	if err != nil {
		return err
	}
	var dest workset.StateStore = ddb
	switch exists, err := tableExists(ctx, ddbc, f.table); {
	case err != nil:
		return err
	case exists:
	case f.createTable && !f.dryRun:
		if err := ddb.CreateTable(ctx, 5*time.Minute); err != nil {
			return err
		}
	case cmd == "plan" || f.dryRun:
		// Nothing to compare against yet: plan against an empty table.
		fmt.Fprintf(stderr, "worksetctl: table %s does not exist yet; planning against an empty table\n", f.table)
		empty, _ := memstore.New()
		dest = empty
	default:
		return fmt.Errorf("table %s does not exist (create it with: worksetctl migrate apply --create-table)", f.table)
	}
	var total int64
	if f.progress {
		if total, err = count(ctx, legacy); err != nil {
			return err
		}
	}
	m, err := migrate.New(legacy, dest, func(o *migrate.Options) {
		o.Concurrency, o.OnConflict, o.Total = f.concurrency, conflict, total
		if f.progress {
			o.OnProgress = progressBar(stderr, total)
		}
	})
	if err != nil {
		return err
	}
	var res *migrate.Result
	switch {
	case cmd == "plan" || (cmd == "apply" && f.dryRun):
		res, err = m.Plan(ctx, out.difference)
	case cmd == "apply":
		res, err = m.Apply(ctx, out.outcome)
	case cmd == "verify":
		res, err = m.Verify(ctx, out.difference)
	case cmd == "rollback" && f.dryRun:
		res, err = m.Reverse().Plan(ctx, out.difference)
	case cmd == "rollback":
		res, err = m.Reverse().Apply(ctx, out.outcome)
	case cmd == "cleanup":
		res, err = m.Cleanup(ctx, f.dryRun, out.outcome)
	}
	if err == nil {
		err = incomplete(cmd, res)
	}
	if res != nil {
		out.summary(cmd, f.dryRun, res, err)
	}
	return err
}

// knownRoots are the roots the two conventions' tools use.
var knownRoots = []string{sentinel.DefaultRoot, sentinel.DaylilyRoot}

// detectRoot is --prefix auto: the known root that holds objects; the
// default root when none does (a bucket to roll back into); refused when both
// do (two layouts in one bucket: name the one to migrate).
func detectRoot(ctx context.Context, b *sentinel.S3Bucket) (string, error) {
	var held []string
	for _, root := range knownRoots {
		out, err := b.List(ctx, sentinel.ListInput{Prefix: root, MaxKeys: 1})
		if err != nil {
			return "", fmt.Errorf("bucket %s cannot be read (nothing was created or changed): %w", b.Name(), err)
		}
		if len(out.Objects) > 0 {
			held = append(held, root)
		}
	}
	switch len(held) {
	case 0:
		return sentinel.DefaultRoot, nil
	case 1:
		return held[0], nil
	}
	return "", &exitError{1, fmt.Sprintf("both %s hold objects: pass --prefix with the one to migrate (nothing was created or changed)", strings.Join(held, " and "))}
}

// checkRoot refuses an empty root when another known root of the bucket holds
// folders: the flags point at the wrong place, and a plan of nothing would
// read as a finished migration. A root this caller may not list is no
// evidence either way.
func checkRoot(ctx context.Context, b *sentinel.S3Bucket, root string) error {
	out, err := b.List(ctx, sentinel.ListInput{Prefix: root, MaxKeys: 1})
	if err != nil || len(out.Objects) > 0 {
		return err
	}
	for _, other := range knownRoots {
		if other == root {
			continue
		}
		o, err := b.List(ctx, sentinel.ListInput{Prefix: other, MaxKeys: 1})
		if errors.Is(err, workset.ErrMisconfigured) {
			continue // not ours to list (a least-privilege policy for root)
		}
		if err != nil {
			return err
		}
		if len(o.Objects) > 0 {
			return &exitError{1, fmt.Sprintf("nothing under %s, but %s holds objects: pass --prefix %s (nothing was created or changed)", root, other, other)}
		}
	}
	return nil
}

// incomplete is the exit-1 error of a run that finished with failed or
// conflicting worksets (or, for verify, with discrepancies), nil otherwise.
func incomplete(cmd string, res *migrate.Result) error {
	var parts []string
	if n := res.Outcomes[migrate.OutcomeFailed]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d worksets failed", n))
	}
	if n := res.Outcomes[migrate.OutcomeConflict]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d conflicts", n))
	}
	if n := res.Discrepancies(); cmd == "verify" && n > 0 {
		parts = append(parts, fmt.Sprintf("%d discrepancies", n))
	}
	if len(parts) == 0 {
		return nil
	}
	return &exitError{1, strings.Join(parts, ", ")}
}

func tableExists(ctx context.Context, c *dynamodb.Client, table string) (bool, error) {
	_, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var rnf *types.ResourceNotFoundException
	switch {
	case errors.As(err, &rnf):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("checking table %s: %w", table, err)
	}
	return true, nil
}

func count(ctx context.Context, s workset.StateStore) (int64, error) {
	var n int64
	for _, err := range workset.Scan(ctx, s, workset.ListQuery{}) {
		if err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// printer writes differences and the summary, as text or JSON lines.
type printer struct {
	w          io.Writer
	json       bool
	dryRun     bool
	cmd        string
	summarized bool
}

type line struct {
	migrate.Difference
	Outcome migrate.Outcome `json:"outcome,omitempty"`
}

func (p *printer) difference(d migrate.Difference) error { return p.outcome(d, "") }

func (p *printer) outcome(d migrate.Difference, o migrate.Outcome) error {
	if p.json {
		b, err := json.Marshal(line{d, o})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(p.w, string(b))
		return err
	}
	if d.Kind == migrate.Equal && (o == "" || o == migrate.OutcomeUnchanged) {
		return nil // text output lists only what needs or got attention
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %s", d.Kind, d.WorksetID)
	if d.SourceState != "" || d.DestState != "" {
		fmt.Fprintf(&b, "  source=%s destination=%s", orDash(d.SourceState), orDash(d.DestState))
	}
	if len(d.Fields) > 0 && d.Kind == migrate.FieldsDiffer {
		fmt.Fprintf(&b, "  fields=%s", strings.Join(d.Fields, ","))
	}
	switch {
	case o != "" && p.dryRun:
		fmt.Fprintf(&b, "  -> would be %s", o)
	case o != "":
		fmt.Fprintf(&b, "  -> %s", o)
	}
	_, err := fmt.Fprintln(p.w, b.String())
	return err
}

func orDash(s workset.State) string {
	if s == "" {
		return "-"
	}
	return string(s)
}

// summary ends the output. runErr is nil for a run that succeeded; otherwise
// the summary says the run failed and why (the JSON line's "status" is "ok" or
// "failed", with "error").
func (p *printer) summary(cmd string, dryRun bool, r *migrate.Result, runErr error) {
	p.summarized = true
	if p.json {
		s := map[string]any{"command": cmd, "dry_run": dryRun, "status": "ok"}
		if r != nil {
			s["result"], s["discrepancies"] = r, r.Discrepancies()
		}
		if runErr != nil {
			s["status"], s["error"] = "failed", runErr.Error()
		}
		b, _ := json.Marshal(map[string]any{"summary": s})
		fmt.Fprintln(p.w, string(b))
		return
	}
	if r == nil {
		return
	}
	fmt.Fprintf(p.w, "\n%s%s: %d worksets in %.1fs", cmd, map[bool]string{true: " (dry run)"}[dryRun], r.Seen, r.Elapsed.Seconds())
	for _, k := range []migrate.Kind{migrate.Equal, migrate.MissingInDestination, migrate.StateDiffers, migrate.FieldsDiffer, migrate.MissingInSource, migrate.UnreadableInSource, migrate.UnreadableInDestination} {
		if n := r.Kinds[k]; n > 0 {
			fmt.Fprintf(p.w, ", %s %d", k, n)
		}
	}
	fmt.Fprintln(p.w)
	for side, l := range map[string]*storekit.LayoutReport{"source": r.SourceLayout, "destination": r.DestinationLayout} {
		if l == nil {
			continue
		}
		fmt.Fprintf(p.w, "%s folders: %d seen, %d worksets, %d without a sentinel", side, l.Folders, l.Worksets, l.NoSentinel)
		for _, reason := range slices.Sorted(maps.Keys(l.Skipped)) {
			fmt.Fprintf(p.w, "; %d skipped: %s (e.g. %s)", l.Skipped[reason], reason, strings.Join(l.Examples[reason], ", "))
		}
		fmt.Fprintln(p.w)
	}
	if len(r.Outcomes) > 0 {
		fmt.Fprint(p.w, map[bool]string{false: "done:", true: "would be:"}[dryRun])
		for _, o := range []migrate.Outcome{migrate.OutcomeCreated, migrate.OutcomeUpdated, migrate.OutcomeUnchanged, migrate.OutcomeDeleted, migrate.OutcomeConflict, migrate.OutcomeKept, migrate.OutcomeSkipped, migrate.OutcomeFailed} {
			if n := r.Outcomes[o]; n > 0 {
				fmt.Fprintf(p.w, " %s %d", o, n)
			}
		}
		fmt.Fprintln(p.w)
	}
	for _, f := range r.Errors {
		fmt.Fprintf(p.w, "FAILED workset %s: %s\n", f.WorksetID, f.Err)
	}
}

// progressBar draws a bar on a terminal (schollz/progressbar); elsewhere it
// prints nothing.
func progressBar(w io.Writer, total int64) func(migrate.Progress) {
	if !isTerminal(w) {
		return func(migrate.Progress) {}
	}
	bar := progressbar.NewOptions64(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("worksets"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("worksets"),
		progressbar.OptionSetPredictTime(true), progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }))
	return func(p migrate.Progress) { _ = bar.Set64(p.Done) }
}
