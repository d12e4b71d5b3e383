package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/deployed"
	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// runCLI runs the binary as a user would, checks its exit status, and
// returns what it printed.
func runCLI(t *testing.T, bin string, want int, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = cliEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("worksetctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// cliRunner runs the binary with fixed trailing flags and returns its stdout.
func cliRunner(t *testing.T, bin string, flags []string) func(want int, args ...string) string {
	return func(want int, args ...string) string {
		t.Helper()
		out, _ := runCLI(t, bin, want, append(args, flags...)...)
		return out
	}
}

func decode[T any](t *testing.T, line string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(strings.TrimSpace(line)), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, line)
	}
	return v
}

// The night shift on DynamoDB, with the built binary: what is stuck, why,
// who holds it, and a fix recorded with a reason.
func TestOperatorSessionOnDynamoDB(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := testenv.DynamoDB(t)
	table := testenv.UniqueName("ops")
	st, err := dynamostore.New(client, table)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ws-ready", "ws-error", "ws-stale", "ws-live", "ws-python"} {
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	run := func(id string, ttl time.Duration, to ...workset.TransitionRequest) {
		l, err := st.AcquireLease(ctx, id, "mon-"+id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range to {
			r.ID, r.Lease = id, l
			if _, err := st.Transition(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("ws-error", time.Minute, workset.TransitionRequest{To: workset.StateInProgress}, workset.TransitionRequest{To: workset.StateError, ErrorDetails: "bwa exited 137"})
	if w, err := st.Get(ctx, "ws-error"); err != nil || st.ReleaseLease(ctx, *w.Lease) != nil { // the monitor lets go once it failed
		t.Fatal("releasing ws-error", err)
	}
	run("ws-stale", time.Second, workset.TransitionRequest{To: workset.StateInProgress})
	run("ws-live", time.Hour, workset.TransitionRequest{To: workset.StateInProgress})
	py := &deployed.Monitor{Client: client, Table: table, Owner: "python-worker-7"}
	if ok, err := py.AcquireLock(ctx, "ws-python", false); err != nil || !ok {
		t.Fatalf("python lock: %v %v", ok, err)
	}
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "ws-taken"}); err != nil {
		t.Fatal(err)
	}
	if _, err := workset.Claim(ctx, st, workset.ClaimRequest{ID: "ws-taken", Owner: "mon-a", TTL: time.Second}); err != nil {
		t.Fatal(err)
	}
	// ws-stale's and ws-taken's leases expire (1 s, and the store's 1 s skew margin).
	time.Sleep(2100 * time.Millisecond)
	if _, err := st.AcquireLease(ctx, "ws-taken", "mon-b", time.Hour); err != nil { // a takeover
		t.Fatal(err)
	}

	cli := cliRunner(t, buildCLI(t), []string{"--table", table, "--dynamodb-endpoint", os.Getenv(servers.EnvDynamoDBEndpoint)})

	// get: readable, and as JSON with its history.
	out := cli(0, "get", "ws-error")
	for _, want := range []string{"ws-error  error", "bwa exited 137", "history:", "in_progress"} {
		if !strings.Contains(out, want) {
			t.Errorf("get ws-error lacks %q:\n%s", want, out)
		}
	}
	v := decode[worksetView](t, cli(0, "get", "ws-error", "--json"))
	if v.State != workset.StateError || v.ErrorDetails != "bwa exited 137" || len(v.History) < 3 {
		t.Errorf("get --json: %+v", v)
	}
	cli(exitNotFound, "get", "ws-nope")
	cli(exitUsage, "get", "bad/id")

	// list by state, stats, leases.
	if out := strings.TrimSpace(cli(0, "list", "--state", "error", "--json")); strings.Count(out, "\n") != 0 || !strings.Contains(out, `"workset_id":"ws-error"`) {
		t.Errorf("list --state error: %s", out)
	}
	s := decode[stats](t, cli(0, "stats", "--json"))
	if s.Total != 6 || s.Counts[workset.StateInProgress] != 3 || s.Counts[workset.StateError] != 1 || s.OldestReady == nil || len(s.InFlight) != 3 {
		t.Errorf("stats: %+v", s)
	}
	kinds := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(cli(0, "leases", "--json")), "\n") {
		l := decode[map[string]any](t, line)
		kinds[l["workset_id"].(string)] = l["kind"].(string) + map[bool]string{true: "/live", false: "/expired"}[l["live"].(bool)]
	}
	if kinds["ws-python"] != "foreign/live" || kinds["ws-live"] != "sdk/live" || kinds["ws-stale"] != "sdk/expired" {
		t.Errorf("leases: %v", kinds)
	}

	// Fixes: a reason is required; moves the graph refuses exit 4.
	cli(exitUsage, "requeue", "ws-error")
	out = cli(0, "requeue", "ws-error", "--reason", "node lost", "--operator", "alice")
	if !strings.Contains(out, "error -> ready") {
		t.Errorf("requeue: %s", out)
	}
	w, err := st.Get(ctx, "ws-error")
	if err != nil {
		t.Fatal(err)
	}
	if last := w.History[len(w.History)-1]; w.State != workset.StateReady || !strings.Contains(last.Reason, "node lost") || !strings.Contains(last.Reason, "alice") {
		t.Errorf("requeue recorded %s %+v", w.State, last)
	}
	cli(exitRefused, "requeue", "ws-ready", "--reason", "again")
	cli(exitRefused, "force", "ws-live", "complete", "--reason", "done by hand") // held: release first
	cli(0, "force", "ws-ready", "complete", "--reason", "finished by hand")
	cli(exitUsage, "force", "ws-ready", "bogus", "--reason", "x")

	// release: asks first (no terminal: --yes required), refuses a live lease.
	cli(exitUsage, "release", "ws-stale", "--reason", "host gone")
	cli(exitRefused, "release", "ws-live", "--reason", "x", "--yes")
	cli(0, "release", "ws-stale", "--reason", "host gone", "--yes")
	if w, _ := st.Get(ctx, "ws-stale"); w.Lease != nil || w.State != workset.StateInProgress || !strings.Contains(w.History[len(w.History)-1].Reason, "released: host gone") {
		t.Errorf("after release: lease %+v, state %s, history %+v", w.Lease, w.State, w.History)
	}
	cli(0, "release", "ws-python", "--reason", "python worker killed", "--yes", "--live")
	if w, _ := st.Get(ctx, "ws-python"); w.Lease != nil {
		t.Errorf("python lock still there: %+v", w.Lease)
	}

	// audit: the anomalies, each with its workset.
	found := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(cli(exitProblems, "audit", "--json", "--active-after", "1ns")), "\n") {
		a := decode[anomaly](t, line)
		found[a.Kind+" "+a.WorksetID] = a.Why
	}
	for _, want := range []string{"forced ws-ready", "active-too-long ws-live", "no-lease ws-stale", "lease-takeover ws-taken"} {
		if _, ok := found[want]; !ok {
			t.Errorf("audit lacks %q: %v", want, found)
		}
	}

	// alarms and completion.
	tmpl := decode[map[string]any](t, cli(0, "alarms", "--sns-topic", "arn:aws:sns:us-west-2:123456789012:oncall"))
	res, _ := tmpl["Resources"].(map[string]any)
	depth, _ := res["WorksetQueueDepth"].(map[string]any)
	age, _ := res["WorksetQueueAge"].(map[string]any)
	if props, _ := depth["Properties"].(map[string]any); props["MetricName"] != "QueueDepth" || props["Namespace"] != "Daylily/WorksetMonitor" || age == nil {
		t.Errorf("alarms: %v", tmpl)
	}
	if out := cli(0, "completion", "bash"); !strings.Contains(out, "worksetctl") {
		t.Errorf("completion bash: %.200s", out)
	}
	if out := cli(0, "release", "--help"); !strings.Contains(out, "Examples:") {
		t.Errorf("help without an example: %s", out)
	}
}

// On a daylily bucket: the legacy monitor's lock and claim are shown as
// such, and audit names its work as foreign.
func TestOperatorSessionOnSentinels(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s3c := testenv.S3(t)
	name := testenv.Bucket(t, s3c)
	b, err := sentinel.NewS3Bucket(s3c, name)
	if err != nil {
		t.Fatal(err)
	}
	root := sentinel.DaylilyRoot
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000") + "Z"
	for key, body := range map[string]string{
		"ws-1/daylily.ready": now, "ws-1/daylily.lock": now, "ws-1/daylily.in_progress": now, "ws-1/stage_samples.tsv": "x",
		"ws-2/daylily.ready": now, "ws-2/stage_samples.tsv": "x",
		"ws-3/daylily.error": now + "\tbwa exited 137", "ws-3/stage_samples.tsv": "x",
	} {
		if _, err := b.Create(ctx, root+key, sentinel.Content{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	cli := cliRunner(t, buildCLI(t), []string{"--bucket", name, "--s3-endpoint", os.Getenv(servers.EnvS3Endpoint)})
	out := cli(0, "leases")
	if !strings.Contains(out, "ws-1") || !strings.Contains(out, "legacy-monitor") {
		t.Errorf("leases on a daylily bucket:\n%s", out)
	}
	out = cli(exitProblems, "audit")
	if !strings.Contains(out, "foreign-work") || !strings.Contains(out, "ws-1") {
		t.Errorf("audit on a daylily bucket:\n%s", out)
	}
	if v := decode[worksetView](t, cli(0, "get", "ws-3", "--json")); v.State != workset.StateError || v.ErrorDetails != "bwa exited 137" {
		t.Errorf("get ws-3: %+v", v)
	}
	cli(0, "requeue", "ws-3", "--reason", "rerun after the OOM fix")
	if v := decode[worksetView](t, cli(0, "get", "ws-3", "--json")); v.State != workset.StateReady {
		t.Errorf("after requeue: %+v", v)
	}
}

// With --store both, a change the authoritative store took and the mirror
// missed is reported as applied, then named as a divergence (exit 1), never
// reported as failed.
func TestMirrorMissIsNamed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := testenv.DynamoDB(t)
	table := testenv.UniqueName("both")
	ddb, err := dynamostore.New(client, table)
	if err != nil {
		t.Fatal(err)
	}
	if err := ddb.CreateTable(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := ddb.Register(ctx, workset.RegisterRequest{ID: "ws-b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ddb.Transition(ctx, workset.TransitionRequest{ID: "ws-b", To: workset.StateError, Force: true}); err != nil {
		t.Fatal(err)
	}
	s3c := testenv.S3(t)
	bucket := testenv.Bucket(t, s3c) // holds nothing of ws-b: the mirror misses
	cli := cliRunner(t, buildCLI(t), []string{"--table", table, "--bucket", bucket, "--store", "both", "--phase", "new-primary", "--naming", "guide",
		"--dynamodb-endpoint", os.Getenv(servers.EnvDynamoDBEndpoint), "--s3-endpoint", os.Getenv(servers.EnvS3Endpoint)})
	// Which store is authoritative is never guessed.
	noPhase := cliRunner(t, buildCLI(t), []string{"--table", table, "--bucket", bucket, "--naming", "guide",
		"--dynamodb-endpoint", os.Getenv(servers.EnvDynamoDBEndpoint), "--s3-endpoint", os.Getenv(servers.EnvS3Endpoint)})
	noPhase(exitUsage, "requeue", "ws-b", "--reason", "rerun")
	out := cli(exitProblems, "requeue", "ws-b", "--reason", "rerun")
	if !strings.Contains(out, "error -> ready") {
		t.Errorf("the applied change was not reported: %q", out)
	}
	if w, err := ddb.Get(ctx, "ws-b"); err != nil || w.State != workset.StateReady {
		t.Errorf("the authoritative store holds %v, %v", w, err)
	}
}
