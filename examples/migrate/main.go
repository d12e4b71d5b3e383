// Command migrate is the migration guide's script done properly: it moves
// workset state from S3 sentinel files to DynamoDB, and back.
//
//	go run ./examples/migrate <command> [flags]
//
// Commands:
//
//	plan        dry run: list the differences, write nothing
//	apply       copy the sentinel state into DynamoDB (--dry-run = plan)
//	verify      compare both; exit 1 while any discrepancy remains
//	rollback    rebuild the sentinels from DynamoDB (--dry-run shows the plan)
//	cleanup     delete the sentinels of worksets verified equal (--dry-run lists them)
//	iam-policy  print the least-privilege IAM policy for these flags
//
// Credentials come from the standard AWS chain. --s3-endpoint and
// --dynamodb-endpoint point at S3-compatible servers and emulators (S3 then
// uses path-style addressing). Exit status: 0 success, 1 discrepancies or
// failed worksets, 2 bad usage.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

const usage = `usage: migrate <plan|apply|verify|rollback|cleanup|iam-policy> [flags]

Moves workset state between S3 sentinel files and DynamoDB. Flags:
`

type flags struct {
	bucket, prefix, table, region       string
	naming, noSentinel, onConflict      string
	concurrency                         int
	legacyLockTTL                       time.Duration
	dryRun, createTable, json, progress bool
	s3Endpoint, dynamoEndpoint, account string
}

// exitError carries an exit status.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageError(format string, args ...any) error {
	return &exitError{2, fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil))
}

// run executes one command; httpClient, when set, carries every AWS request
// (tests count them with it).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, httpClient aws.HTTPClient) int {
	err := runErr(ctx, args, stdout, stderr, httpClient)
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ee.msg != "" {
			fmt.Fprintln(stderr, "migrate:", ee.msg)
		}
		return ee.code
	default:
		fmt.Fprintln(stderr, "migrate:", err)
		return 1
	}
}

func runErr(ctx context.Context, args []string, stdout, stderr io.Writer, httpClient aws.HTTPClient) error {
	out := &printer{w: stdout}
	err := runCmd(ctx, args, stdout, stderr, httpClient, out)
	var ee *exitError
	if out.json && !out.summarized && err != nil && !(errors.As(err, &ee) && ee.code == 2) {
		out.summary(out.cmd, out.dryRun, nil, err) // a run that failed before any result still ends in a summary line
	}
	return err
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer, httpClient aws.HTTPClient, out *printer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	fs.StringVar(&f.bucket, "bucket", "", "S3 bucket holding the worksets (required)")
	fs.StringVar(&f.prefix, "prefix", "auto", "prefix under which each workset has its folder: auto (the known root that holds objects, worksets/ or daylily_monitoring/active_worksets/; refused when both do)")
	fs.StringVar(&f.table, "table", dynamostore.DefaultTable, "DynamoDB table")
	fs.StringVar(&f.region, "region", "us-west-2", "AWS region")
	fs.StringVar(&f.naming, "naming", "auto", "sentinel names: auto (what the bucket holds; refused when it holds both or neither), guide (_READY, ...) or daylily (daylily.ready, ...)")
	fs.StringVar(&f.noSentinel, "no-sentinel", "", "a folder without sentinel is: ready (the guide's reader) or skip (the daylily monitor); default: the naming's own reader's rule")
	fs.StringVar(&f.onConflict, "on-conflict", "skip", "when DynamoDB changed since the plan: skip (report), source, or destination")
	fs.IntVar(&f.concurrency, "concurrency", migrate.DefaultConcurrency, "the most writes in flight; the migrator finds its own level below it")
	fs.DurationVar(&f.legacyLockTTL, "legacy-lock-ttl", time.Hour, "how long a legacy monitor's lock file counts as live (cleanup leaves live ones alone); set it short once the legacy monitors are stopped")
	fs.BoolVar(&f.dryRun, "dry-run", false, "for apply, rollback and cleanup: show what would be done, write nothing")
	fs.BoolVar(&f.createTable, "create-table", false, "create the DynamoDB table (with the deployed indexes) if missing")
	fs.BoolVar(&f.json, "json", false, "machine-readable output: one JSON line per workset, then a summary line")
	fs.BoolVar(&f.progress, "progress", false, "show a progress bar on a terminal (counts the worksets first)")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL (path-style)")
	fs.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL")
	fs.StringVar(&f.account, "account", "", "for iam-policy: the AWS account ID (default *)")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fs.Usage()
		return usageError("")
	}
	cmd := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError("%v", err)
	}
	if fs.NArg() > 0 {
		return usageError("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	out.cmd, out.json, out.dryRun = cmd, f.json, f.dryRun
	switch cmd {
	case "plan", "apply", "verify", "rollback", "cleanup", "iam-policy":
	default:
		fs.Usage()
		return usageError("unknown command %q", cmd)
	}
	if f.bucket == "" {
		return usageError("--bucket is required")
	}
	if f.prefix != "" && f.prefix != "auto" && !strings.HasSuffix(f.prefix, "/") {
		f.prefix += "/"
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
		fmt.Fprintln(stdout, string(doc))
		return nil
	}
	var naming sentinel.Naming
	var err error
	if f.naming != "auto" {
		if naming, err = sentinel.NamingByName(f.naming); err != nil {
			return usageError("--naming: %v", err)
		}
	}
	policy, err := sentinel.ParseNoSentinel(f.noSentinel)
	if err != nil {
		return usageError("--no-sentinel: %v", err)
	}
	conflict, ok := map[string]migrate.ConflictPolicy{"skip": migrate.SkipAndReport, "source": migrate.SourceWins, "destination": migrate.DestinationWins}[f.onConflict]
	if !ok {
		return usageError("--on-conflict: %q is not skip, source or destination", f.onConflict)
	}

	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(f.region))
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	if httpClient != nil {
		cfg.HTTPClient = httpClient
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if f.s3Endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(f.s3Endpoint), true
		}
	})
	ddbc := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if f.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(f.dynamoEndpoint)
		}
	})
	bucket, err := sentinel.NewS3Bucket(s3c, f.bucket)
	if err != nil {
		return err
	}
	ddb, err := dynamostore.New(ddbc, f.table)
	if err != nil {
		return usageError("%v", err)
	}
	// The source must be readable, and laid out as the flags say, before
	// anything is created.
	if f.prefix == "auto" {
		if f.prefix, err = detectRoot(ctx, bucket); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "migrate: --prefix %s\n", f.prefix)
	}
	if _, err := bucket.List(ctx, sentinel.ListInput{Prefix: f.prefix, MaxKeys: 1}); err != nil {
		return fmt.Errorf("bucket %s cannot be read (nothing was created or changed): %w", f.bucket, err)
	}
	if err := checkRoot(ctx, bucket, f.prefix); err != nil {
		return err
	}
	if f.naming == "auto" {
		layout, err := sentinel.Survey(ctx, bucket, f.prefix)
		if err != nil {
			return err
		}
		n, name, err := layout.DetectNaming()
		if err != nil {
			return &exitError{1, fmt.Sprintf("--naming auto: %v (nothing was created or changed)", err)}
		}
		fmt.Fprintf(stderr, "migrate: %d folders under %s hold %s sentinels: --naming %s\n", map[string]int{"guide": layout.Guide, "daylily": layout.Daylily}[name], f.prefix, name, name)
		naming = n
	}
	legacy, err := sentinel.New(bucket, func(o *sentinel.Options) {
		o.Root, o.Naming, o.NoSentinel, o.LegacyLockTTL = f.prefix, naming, policy, f.legacyLockTTL
	})
	if err != nil {
		return usageError("%v", err)
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
		fmt.Fprintf(stderr, "migrate: table %s does not exist yet; planning against an empty table\n", f.table)
		empty, _ := memstore.New()
		dest = empty
	default:
		return fmt.Errorf("table %s does not exist (create it with: apply --create-table)", f.table)
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
			o.OnProgress = progressBar(stderr)
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
	for _, k := range []migrate.Kind{migrate.Equal, migrate.MissingInDestination, migrate.StateDiffers, migrate.FieldsDiffer, migrate.MissingInSource, migrate.UnreadableInSource} {
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

// progressBar draws a bar on a terminal; elsewhere it prints nothing.
func progressBar(w io.Writer) func(migrate.Progress) {
	if f, ok := w.(*os.File); !ok || !isTerminal(f) {
		return func(migrate.Progress) {}
	}
	return func(p migrate.Progress) {
		frac := 0.0
		if p.Total > 0 {
			frac = min(float64(p.Done)/float64(p.Total), 1)
		}
		n := int(frac * 30)
		fmt.Fprintf(w, "\r[%s%s] %d/%d  %.0f/s  ETA %s   ", strings.Repeat("#", n), strings.Repeat(".", 30-n), p.Done, p.Total, p.Rate, p.ETA.Round(time.Second))
		if p.Total > 0 && p.Done >= p.Total {
			fmt.Fprintln(w)
		}
	}
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
