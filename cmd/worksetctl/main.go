// Command worksetctl is the operator's tool for workset state: the migration
// from S3 sentinel files to DynamoDB (and back), and what the night shift
// needs: what is stuck, why, who holds it, and a recorded fix.
//
//	go install github.com/daylily-informatics/worksetstate/cmd/worksetctl@latest
//
//	worksetctl migrate plan --bucket my-bucket       # dry run
//	worksetctl get ws-001                            # the record and its history
//	worksetctl stats                                 # counts, oldest ready, in flight
//	worksetctl requeue ws-001 --reason "bad node"    # recorded in the history
//	worksetctl audit                                 # anomalies worth a look
//
// It works against DynamoDB (--table), a sentinel bucket (--bucket), or both
// during the migration (--store both --phase legacy-primary|new-primary).
// Credentials come from the standard AWS chain; --s3-endpoint and
// --dynamodb-endpoint point at S3-compatible servers and emulators (S3 then
// uses path-style addressing). Every command takes --json.
//
// Exit status: 0 success; 1 the command ran and found problems
// (discrepancies, anomalies, failed worksets); 2 bad usage; 3 a workset not
// found; 4 the store refused the change (a live lease, a transition the
// state machine does not allow, a concurrent change); 5 the store cannot be
// reached or is misconfigured.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// Exit statuses.
const (
	exitOK          = 0
	exitProblems    = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitRefused     = 4
	exitUnavailable = 5
)

// flags are the command line's settings.
type flags struct {
	bucket, prefix, table, region       string
	naming, noSentinel, onConflict      string
	store, phase, operator, reason      string
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
	return &exitError{exitUsage, fmt.Sprintf(format, args...)}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, nil))
}

// run executes one command line and returns its exit status; httpClient, when
// set, carries every AWS request (tests count them with it).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, httpClient aws.HTTPClient) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, httpClient: httpClient, out: &printer{w: stdout}}
	root := newRoot(e)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	var ee *exitError
	if e.out.json && !e.out.summarized && err != nil && !(errors.As(err, &ee) && ee.code == exitUsage) && e.out.cmd != "" {
		e.out.summary(e.out.cmd, e.out.dryRun, nil, err) // a migration that failed before any result still ends in a summary line
	}
	code := exitCode(err)
	if err != nil && err.Error() != "" {
		fmt.Fprintln(stderr, "worksetctl:", err)
	}
	return code
}

// exitCode maps an error to the exit status scripts see.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, workset.ErrNotFound):
		return exitNotFound
	case errors.Is(err, workset.ErrInvalidInput):
		return exitUsage
	case errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrLeaseHeld), errors.Is(err, workset.ErrInvalidTransition),
		errors.Is(err, workset.ErrLeaseLost), errors.Is(err, workset.ErrNotLeasable), errors.Is(err, workset.ErrAlreadyExists):
		return exitRefused
	case errors.Is(err, workset.ErrUnavailable), errors.Is(err, workset.ErrMisconfigured):
		return exitUnavailable
	case strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"),
		strings.HasPrefix(err.Error(), "unknown shorthand flag"), strings.Contains(err.Error(), "flag needs an argument"),
		strings.Contains(err.Error(), "invalid argument"), strings.Contains(err.Error(), "accepts "), strings.Contains(err.Error(), "requires at least"):
		return exitUsage // cobra's own usage errors
	}
	return exitProblems
}

func newRoot(e *env) *cobra.Command {
	f := &e.f
	root := &cobra.Command{
		Use:   "worksetctl",
		Short: "Operate workset state in DynamoDB and S3 sentinel files",
		Long: `worksetctl operates workset state: the migration from S3 sentinel files to
DynamoDB and back, and the operator's view and fixes (get, list, stats, leases,
audit; requeue, ignore, force, release, each recorded with a reason).

Stores: --store dynamodb (the table), sentinel (the bucket's sentinel files) or
both (a DualWriter in --phase legacy-primary or new-primary); auto picks
sentinel when only --bucket is given, both when --bucket and --table are, and
dynamodb otherwise.

Exit status: 0 success; 1 problems found (discrepancies, anomalies, failures);
2 bad usage; 3 not found; 4 refused by the store (live lease, transition not
allowed, concurrent change); 5 store unreachable or misconfigured.`,
		Example: `  worksetctl migrate plan --bucket my-bucket
  worksetctl stats --table daylily-worksets
  worksetctl get ws-001 --json
  worksetctl requeue ws-001 --reason "node lost" --operator alice`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			e.tableSet = cmd.Flags().Changed("table")
			if f.prefix != "" && f.prefix != "auto" && !strings.HasSuffix(f.prefix, "/") {
				f.prefix += "/"
			}
			e.out.json = f.json
			return nil
		},
	}
	p := root.PersistentFlags()
	p.StringVar(&f.bucket, "bucket", "", "S3 bucket holding the worksets' sentinel files")
	p.StringVar(&f.prefix, "prefix", "auto", "prefix under which each workset has its folder: auto (the known root that holds objects, worksets/ or daylily_monitoring/active_worksets/; refused when both do)")
	p.StringVar(&f.table, "table", dynamostore.DefaultTable, "DynamoDB table")
	p.StringVar(&f.region, "region", "us-west-2", "AWS region")
	p.StringVar(&f.naming, "naming", "auto", "sentinel names: auto (what the bucket holds; refused when it holds both or neither), guide (_READY, ...) or daylily (daylily.ready, ...)")
	p.StringVar(&f.noSentinel, "no-sentinel", "", "a folder without sentinel is: ready (the guide's reader) or skip (the daylily monitor); default: the naming's own reader's rule")
	p.DurationVar(&f.legacyLockTTL, "legacy-lock-ttl", time.Hour, "how long a legacy monitor's lock file counts as live; set it short once the legacy monitors are stopped")
	p.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3-compatible endpoint URL (path-style)")
	p.StringVar(&f.dynamoEndpoint, "dynamodb-endpoint", "", "DynamoDB endpoint URL")
	p.StringVar(&f.store, "store", "auto", "which store to operate on: auto, dynamodb, sentinel or both")
	p.StringVar(&f.phase, "phase", "", "with --store both (required there): the migration phase, legacy-primary or new-primary, i.e. which store is authoritative now")
	p.BoolVar(&f.json, "json", false, "machine-readable output")
	_ = root.RegisterFlagCompletionFunc("naming", fixedCompletion("auto", "guide", "daylily"))
	_ = root.RegisterFlagCompletionFunc("store", fixedCompletion("auto", "dynamodb", "sentinel", "both"))
	_ = root.RegisterFlagCompletionFunc("phase", fixedCompletion("legacy-primary", "new-primary"))
	_ = root.RegisterFlagCompletionFunc("no-sentinel", fixedCompletion("ready", "skip"))

	root.AddCommand(newMigrate(e), newGet(e), newList(e), newStats(e), newLeases(e), newAudit(e), newAlarms(e),
		newAction(e, "requeue", "Move a workset back to ready (from error, failed, ignored, ...)"),
		newAction(e, "ignore", "Set a workset aside: the monitors skip it until it is requeued"),
		newForce(e), newRelease(e))
	return root
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// env holds what the commands share: the flags, the output and the clients,
// made on first use.
type env struct {
	f              flags
	tableSet       bool
	stdin          io.Reader
	stdout, stderr io.Writer
	httpClient     aws.HTTPClient
	out            *printer
	cfg            *aws.Config
	sentinels      *sentinel.Store
	dual           *dualwrite.Writer
	ddb            *dynamostore.Store
	ddbc           *dynamodb.Client
}

func (e *env) awsConfig(ctx context.Context) (aws.Config, error) {
	if e.cfg != nil {
		return *e.cfg, nil
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(e.f.region))
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if e.httpClient != nil {
		cfg.HTTPClient = e.httpClient
	}
	e.cfg = &cfg
	return cfg, nil
}

// dynamo opens the DynamoDB store (the table need not exist yet).
func (e *env) dynamo(ctx context.Context) (*dynamostore.Store, *dynamodb.Client, error) {
	if e.ddb != nil {
		return e.ddb, e.ddbc, nil
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return nil, nil, err
	}
	e.ddbc = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if e.f.dynamoEndpoint != "" {
			o.BaseEndpoint = aws.String(e.f.dynamoEndpoint)
		}
	})
	if e.ddb, err = dynamostore.New(e.ddbc, e.f.table); err != nil {
		return nil, nil, usageError("%v", err)
	}
	return e.ddb, e.ddbc, nil
}

// sentinelStore opens the bucket's sentinel store, with --prefix auto and
// --naming auto resolved from what the bucket holds (refused, with counts,
// when that is ambiguous).
func (e *env) sentinelStore(ctx context.Context) (*sentinel.Store, error) {
	if e.sentinels != nil {
		return e.sentinels, nil
	}
	f := &e.f
	if f.bucket == "" {
		return nil, usageError("--bucket is required for the sentinel store")
	}
	var naming sentinel.Naming
	var err error
	if f.naming != "auto" {
		if naming, err = sentinel.NamingByName(f.naming); err != nil {
			return nil, usageError("--naming: %v", err)
		}
	}
	policy, err := sentinel.ParseNoSentinel(f.noSentinel)
	if err != nil {
		return nil, usageError("--no-sentinel: %v", err)
	}
	cfg, err := e.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if f.s3Endpoint != "" {
			o.BaseEndpoint, o.UsePathStyle = aws.String(f.s3Endpoint), true
		}
	})
	bucket, err := sentinel.NewS3Bucket(s3c, f.bucket)
	if err != nil {
		return nil, err
	}
	if f.prefix == "auto" {
		if f.prefix, err = detectRoot(ctx, bucket); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.stderr, "worksetctl: --prefix %s\n", f.prefix)
	}
	if _, err := bucket.List(ctx, sentinel.ListInput{Prefix: f.prefix, MaxKeys: 1}); err != nil {
		return nil, fmt.Errorf("bucket %s cannot be read (nothing was created or changed): %w", f.bucket, err)
	}
	if err := checkRoot(ctx, bucket, f.prefix); err != nil {
		return nil, err
	}
	if f.naming == "auto" {
		layout, err := sentinel.Survey(ctx, bucket, f.prefix)
		if err != nil {
			return nil, err
		}
		n, name, err := layout.DetectNaming()
		if err != nil {
			return nil, &exitError{exitProblems, fmt.Sprintf("--naming auto: %v (nothing was created or changed)", err)}
		}
		fmt.Fprintf(e.stderr, "worksetctl: %d folders under %s hold %s sentinels: --naming %s\n", map[string]int{"guide": layout.Guide, "daylily": layout.Daylily}[name], f.prefix, name, name)
		naming = n
	}
	e.sentinels, err = sentinel.New(bucket, func(o *sentinel.Options) {
		o.Root, o.Naming, o.NoSentinel, o.LegacyLockTTL = f.prefix, naming, policy, f.legacyLockTTL
	})
	if err != nil {
		return nil, usageError("%v", err)
	}
	return e.sentinels, nil
}

// store opens the store the operator commands act on (--store).
func (e *env) store(ctx context.Context) (workset.StateStore, error) {
	kind := e.f.store
	if kind == "auto" {
		switch {
		case e.f.bucket != "" && e.tableSet:
			kind = "both"
		case e.f.bucket != "":
			kind = "sentinel"
		default:
			kind = "dynamodb"
		}
	}
	switch kind {
	case "dynamodb":
		ddb, _, err := e.dynamo(ctx)
		return ddb, err
	case "sentinel":
		return e.sentinelStore(ctx)
	case "both":
		if e.f.phase == "" {
			return nil, usageError("--store both (or --bucket with --table) needs --phase legacy-primary or new-primary: which store is authoritative now is not guessed")
		}
		phase, err := dualwrite.ParsePhase(e.f.phase)
		if err != nil || (phase != dualwrite.LegacyPrimary && phase != dualwrite.NewPrimary) {
			return nil, usageError("--phase: %q is not legacy-primary or new-primary", e.f.phase)
		}
		legacy, err := e.sentinelStore(ctx)
		if err != nil {
			return nil, err
		}
		ddb, _, err := e.dynamo(ctx)
		if err != nil {
			return nil, err
		}
		// A mirror write that fails is recorded, and the command says so
		// after reporting what it applied (mirrorMissed): nothing diverges
		// without a word, and nothing applied is reported as failed.
		e.dual, err = dualwrite.New(legacy, ddb, func(o *dualwrite.Options) { o.Phase = phase })
		return e.dual, err
	}
	return nil, usageError("--store: %q is not auto, dynamodb, sentinel or both", e.f.store)
}

// mirrorMissed is the exit-1 error of a change the authoritative store took
// and the mirror missed (--store both), nil otherwise.
func (e *env) mirrorMissed() error {
	if e.dual == nil {
		return nil
	}
	log, ok := e.dual.Divergences().(*dualwrite.MemoryLog)
	if !ok || len(log.Divergences()) == 0 {
		return nil
	}
	d := log.Divergences()[0]
	return &exitError{exitProblems, fmt.Sprintf("applied to the authoritative store, but the %s store missed it (%s: %s); repair it with: worksetctl migrate apply (or rollback)", d.Mirror, d.Op, d.Err)}
}

// both returns the two stores, for the commands that compare them (audit), or
// nil ones when only one is configured.
func (e *env) both(ctx context.Context) (legacy, ddb workset.StateStore, err error) {
	if e.f.bucket == "" || (!e.tableSet && e.f.store != "both") || e.f.store == "dynamodb" || e.f.store == "sentinel" {
		return nil, nil, nil
	}
	if legacy, err = e.sentinelStore(ctx); err != nil {
		return nil, nil, err
	}
	d, _, err := e.dynamo(ctx)
	return legacy, d, err
}

func newMigrate(e *env) *cobra.Command {
	f := &e.f
	m := &cobra.Command{
		Use:   "migrate",
		Short: "Move workset state between S3 sentinel files and DynamoDB",
		Long: `The migration guide's script done properly: plan (a dry run), apply (copy the
sentinel state into DynamoDB), verify (compare; exit 1 while anything differs),
rollback (rebuild the sentinels from DynamoDB), cleanup (delete the sentinels of
worksets verified equal) and iam-policy (the least-privilege policy for these
flags). --prefix auto and --naming auto read the bucket's layout and refuse,
with counts, what they cannot tell apart.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageError("unknown command %q for \"worksetctl migrate\"", args[0])
			}
			_ = cmd.Help()
			return usageError("")
		},
	}
	sub := []struct{ name, short, example string }{
		{"plan", "Dry run: list the differences, write nothing", "worksetctl migrate plan --bucket my-bucket --json"},
		{"apply", "Copy the sentinel state into DynamoDB (--dry-run = plan)", "worksetctl migrate apply --bucket my-bucket --create-table --progress"},
		{"verify", "Compare both stores; exit 1 while any discrepancy remains", "worksetctl migrate verify --bucket my-bucket"},
		{"rollback", "Rebuild the sentinels from DynamoDB (--dry-run shows the plan)", "worksetctl migrate rollback --bucket my-bucket --dry-run"},
		{"cleanup", "Delete the sentinels of worksets verified equal (--dry-run lists them)", "worksetctl migrate cleanup --bucket my-bucket --dry-run"},
		{"iam-policy", "Print the least-privilege IAM policy for these flags", "worksetctl migrate iam-policy --bucket my-bucket --account 123456789012"},
	}
	for _, s := range sub {
		name := s.name
		c := &cobra.Command{
			Use:     name,
			Short:   s.short,
			Example: "  " + s.example,
			Args:    cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return migrateStatus(migrateRun(cmd.Context(), name, f, e, e.out))
			},
		}
		fl := c.Flags()
		switch name {
		case "apply", "rollback", "cleanup":
			fl.BoolVar(&f.dryRun, "dry-run", false, "show what would be done, write nothing")
		}
		switch name {
		case "plan", "apply", "verify", "rollback", "cleanup":
			fl.StringVar(&f.onConflict, "on-conflict", "skip", "when DynamoDB changed since the plan: skip (report), source, or destination")
			fl.IntVar(&f.concurrency, "concurrency", migrate.DefaultConcurrency, "the most writes in flight; the migrator finds its own level below it")
			fl.BoolVar(&f.progress, "progress", false, "show a progress bar on a terminal (counts the worksets first)")
		}
		switch name {
		case "apply", "plan", "iam-policy":
			fl.BoolVar(&f.createTable, "create-table", false, "create the DynamoDB table (with the deployed indexes) if missing")
		}
		if name == "iam-policy" {
			fl.StringVar(&f.account, "account", "", "the AWS account ID (default *)")
			f.concurrency = migrate.DefaultConcurrency
		}
		m.AddCommand(c)
	}
	return m
}

// migrateStatus keeps the migration's exit statuses: 1 for whatever stopped
// a run (a refused layout, a failed workset), 5 for a store that cannot be
// reached or is misconfigured, 2 only for the command line itself.
func migrateStatus(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) || exitCode(err) == exitUnavailable {
		return err
	}
	return &exitError{exitProblems, err.Error()}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
