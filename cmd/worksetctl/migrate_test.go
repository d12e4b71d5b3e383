package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// fixture seeds a legacy layout and returns the flags that point at it.
func fixture(t *testing.T, n int) (flags []string, layout legacy.Layout, table string) {
	t.Helper()
	s3c := testenv.S3(t)
	ddbURL := os.Getenv(servers.EnvDynamoDBEndpoint)
	testenv.DynamoDB(t) // skips or fails when the servers are missing
	name := testenv.Bucket(t, s3c)
	b, err := sentinel.NewS3Bucket(s3c, name)
	if err != nil {
		t.Fatal(err)
	}
	if layout, err = legacy.Seed(t.Context(), b, "worksets/", sentinel.GuideNaming(), n, 5); err != nil {
		t.Fatal(err)
	}
	table = testenv.UniqueName("cli")
	return []string{"--bucket", name, "--table", table, "--s3-endpoint", os.Getenv(servers.EnvS3Endpoint), "--dynamodb-endpoint", ddbURL}, layout, table
}

func cliEnv() []string {
	return append(os.Environ(), "AWS_ACCESS_KEY_ID="+os.Getenv(servers.EnvS3AccessKey), "AWS_SECRET_ACCESS_KEY="+os.Getenv(servers.EnvS3SecretKey),
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
}

// The CLI, built and run as an operator would, against the test servers.
func TestCLISession(t *testing.T) {
	t.Parallel()
	flags, layout, _ := fixture(t, 300)
	bin := buildCLI(t)
	cli := func(want int, args ...string) string {
		t.Helper()
		stdout, stderr := runCLI(t, bin, want, args...)
		return stdout + stderr
	}
	want := layout.Expected(sentinel.NoSentinelReady)

	// Plan (dry run) as JSON lines: one per workset, then a summary.
	out := cli(0, append([]string{"migrate", "plan", "--json"}, flags...)...)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "{") {
			lines = append(lines, l)
		}
	}
	if !strings.Contains(out, "does not exist yet") {
		t.Errorf("plan before the table exists should say so:\n%s", out)
	}
	if len(lines) != len(want)+1 {
		t.Fatalf("plan printed %d lines, want %d", len(lines), len(want)+1)
	}
	var d struct {
		WorksetID   string `json:"workset_id"`
		Kind        string `json:"kind"`
		SourceState string `json:"source_state"`
	}
	for _, l := range lines[:len(lines)-1] {
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("plan line %q: %v", l, err)
		}
		if d.Kind != "missing_in_destination" || d.SourceState != string(want[d.WorksetID]) {
			t.Errorf("plan line %q", l)
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"summary"`) {
		t.Errorf("no summary line: %s", lines[len(lines)-1])
	}
	out = cli(0, append([]string{"migrate", "apply", "--create-table"}, flags...)...)
	if !strings.Contains(out, "created "+itoa(len(want))) {
		t.Errorf("apply output:\n%s", out)
	}
	out = cli(0, append([]string{"migrate", "verify"}, flags...)...)
	if !strings.Contains(out, "equal "+itoa(len(want))) {
		t.Errorf("verify output:\n%s", out)
	}
	out = cli(0, append([]string{"migrate", "cleanup", "--dry-run", "--legacy-lock-ttl", "1ns"}, flags...)...)
	if !strings.Contains(out, "would be: deleted "+itoa(len(want))) {
		t.Errorf("cleanup dry run output:\n%s", out)
	}
	t.Logf("CLI session (tail):\n%s", out[max(0, len(out)-400):])

	// Bad usage exits 2 with a message naming the problem.
	for _, args := range [][]string{{"bogus"}, {"migrate", "plan"}, {"migrate", "bogus"}, append([]string{"migrate", "plan", "--naming", "weird"}, flags...), append([]string{"migrate", "plan", "--on-conflict", "maybe"}, flags...)} {
		if out := cli(2, args...); !strings.Contains(out, "worksetctl:") {
			t.Errorf("usage error without a message: %q", out)
		}
	}
	// A discrepancy makes verify exit 1 and name the workset.
	ddb, err := dynamostore.New(testenv.DynamoDB(t), flags[3])
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for k, s := range want {
		if s == workset.StateReady {
			id = k
			break
		}
	}
	if _, err := ddb.Transition(t.Context(), workset.TransitionRequest{ID: id, To: workset.StateIgnored}); err != nil {
		t.Fatal(err)
	}
	if out := cli(1, append([]string{"migrate", "verify"}, flags...)...); !strings.Contains(out, "state_differs") || !strings.Contains(out, id) {
		t.Errorf("verify with a discrepancy:\n%s", out)
	}
	// With --json, a run that fails says so in its summary line, and why.
	out = cli(1, append([]string{"migrate", "verify", "--json"}, flags...)...)
	last := lastJSONLine(out)
	if !strings.Contains(last, `"status":"failed"`) || !strings.Contains(last, `"error":"1 discrepancies"`) || !strings.Contains(last, `"discrepancies":1`) {
		t.Errorf("summary of a failed verify: %s", last)
	}
	// A source that cannot be read is found before anything is created.
	table := testenv.UniqueName("never")
	bad := append([]string{"migrate", "apply", "--create-table", "--json"}, flags...)
	bad[5], bad[7] = "no-such-bucket", table // --bucket, --table
	out = cli(5, bad...)                     // a store that cannot be reached or is misconfigured
	if last := lastJSONLine(out); !strings.Contains(last, `"status":"failed"`) || !strings.Contains(last, "no-such-bucket") {
		t.Errorf("summary of a run whose bucket is missing: %s\n%s", last, out)
	}
	if _, err := testenv.DynamoDB(t).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err == nil {
		t.Errorf("apply --create-table created table %s although its bucket cannot be read", table)
	}
}

func lastJSONLine(out string) string {
	last := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") {
			last = l
		}
	}
	return last
}

func itoa(n int) string { return strconv.Itoa(n) }

// The printed IAM policy allows exactly the actions the commands make, on the
// table, the bucket and the prefix only.
func TestIAMPolicyCoversTheCallsMade(t *testing.T) { // not parallel: it sets the environment
	flags, layout, table := fixture(t, 40)
	// A monitor holds a lease in the sentinel store (as in phase 1, through a
	// DualWriter), so the CLI reads a lock object this SDK wrote.
	leaseBucket, err := sentinel.NewS3Bucket(testenv.S3(t), flags[1])
	if err != nil {
		t.Fatal(err)
	}
	leaseStore, err := sentinel.New(leaseBucket, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		t.Fatal(err)
	}
	leased := ""
	for id, st := range layout.Expected(sentinel.NoSentinelReady) {
		if st == workset.StateReady {
			leased = id
			break
		}
	}
	if _, err := leaseStore.AcquireLease(t.Context(), leased, "monitor-1", time.Hour); err != nil {
		t.Fatal(err)
	}
	counter := &transport.Counter{}
	hc := &http.Client{Transport: counter}
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv(servers.EnvS3AccessKey))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv(servers.EnvS3SecretKey))
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, append([]string{"migrate", "apply", "--create-table"}, flags...), strings.NewReader(""), &stdout, &stderr, hc); code != 0 {
		t.Fatalf("apply: %d %s", code, stderr.String())
	}
	// A legacy monitor moves one workset on, so a second apply updates
	// DynamoDB; then DynamoDB moves another on, so rollback rewrites a sentinel.
	ddb, err := dynamostore.New(testenv.DynamoDB(t), table)
	if err != nil {
		t.Fatal(err)
	}
	page, err := ddb.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	page.Worksets = slices.DeleteFunc(page.Worksets, func(w *workset.Workset) bool { return w.ID == leased }) // not the one leased in S3 (leases are not migrated)
	if len(page.Worksets) < 2 {
		t.Fatalf("%d unleased ready worksets, want 2", len(page.Worksets))
	}
	s3c := testenv.S3(t)
	bkt, err := sentinel.NewS3Bucket(s3c, flags[1])
	if err != nil {
		t.Fatal(err)
	}
	legacyStore, err := sentinel.New(bkt, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := legacyStore.Transition(ctx, workset.TransitionRequest{ID: page.Worksets[0].ID, To: workset.StateInProgress}); err != nil {
		t.Fatal(err)
	}
	if code := run(ctx, append([]string{"migrate", "apply"}, flags...), strings.NewReader(""), &stdout, &stderr, hc); code != 0 {
		t.Fatalf("second apply: %d %s", code, stderr.String())
	}
	if _, err := ddb.Transition(ctx, workset.TransitionRequest{ID: page.Worksets[1].ID, To: workset.StateInProgress}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range [][]string{{"migrate", "rollback"}, {"migrate", "verify"}, {"migrate", "cleanup"}} {
		if code := run(ctx, append(cmd, flags...), strings.NewReader(""), &stdout, &stderr, hc); code != 0 {
			t.Fatalf("%s: %d %s", cmd[1], code, stderr.String())
		}
	}
	stdout.Reset()
	if code := run(ctx, []string{"migrate", "iam-policy", "--bucket", flags[1], "--table", table, "--create-table", "--account", "123456789012"}, strings.NewReader(""), &stdout, &stderr, nil); code != 0 {
		t.Fatal(stderr.String())
	}
	var doc struct {
		Statement []struct {
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	var resources []string
	for _, s := range doc.Statement {
		switch a := s.Action.(type) {
		case string:
			allowed[a] = true
		case []any:
			for _, x := range a {
				allowed[x.(string)] = true
			}
		}
		switch r := s.Resource.(type) {
		case string:
			resources = append(resources, r)
		case []any:
			for _, x := range r {
				resources = append(resources, x.(string))
			}
		}
	}
	s3Action := map[string]string{"ListObjectsV2": "s3:ListBucket", "GetObject": "s3:GetObject", "PutObject": "s3:PutObject", "DeleteObject": "s3:DeleteObject"}
	used := map[string]bool{}
	for op := range counter.Counts() {
		action := "dynamodb:" + op
		if a, ok := s3Action[op]; ok {
			action = a
		}
		used[action] = true
		if !allowed[action] {
			t.Errorf("the CLI calls %s, which the policy does not allow", action)
		}
	}
	for a := range allowed {
		if !used[a] {
			t.Errorf("the policy allows %s, which the CLI never called", a)
		}
	}
	for _, r := range resources {
		if strings.Contains(r, "*") && !strings.HasSuffix(r, "/index/*") && !strings.HasSuffix(r, "worksets/*") {
			t.Errorf("over-broad resource %s", r)
		}
	}
	if !slices.ContainsFunc(resources, func(r string) bool { return strings.HasSuffix(r, "table/"+table) }) {
		t.Errorf("policy resources %v do not name the table", resources)
	}
}
