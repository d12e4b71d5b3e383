package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// The README's commands, run as written on a bucket the daylily monitor laid
// out (its root, its names, data under every folder, a data-only folder), are
// right for it (issue 24, 1): the root and the naming are detected, the
// data-only folder is skipped and named, and what is finished stays finished.
// A wrong root or naming given explicitly is refused with counts.
func TestREADMECommandsOnADaylilyBucket(t *testing.T) { // not parallel: it sets the environment
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s3c := testenv.S3(t)
	ddbc := testenv.DynamoDB(t)
	name := testenv.Bucket(t, s3c)
	b, err := sentinel.NewS3Bucket(s3c, name)
	if err != nil {
		t.Fatal(err)
	}
	root := "daylily_monitoring/active_worksets/"
	for id, objs := range map[string][]string{
		"ws-complete": {"daylily.ready", "daylily.in_progress", "daylily.complete", "stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
		"ws-error":    {"daylily.ready", "daylily.in_progress", "daylily.error", "sample_data/S1_R1.fastq.gz"},
		"ws-ignored":  {"daylily.ignore", "sample_data/S1_R1.fastq.gz"},
		"ws-ready":    {"daylily.ready", "stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
		"data-only":   {"stage_samples.tsv", "sample_data/S1_R1.fastq.gz"},
	} {
		for _, o := range objs {
			if _, err := b.Create(ctx, root+id+"/"+o, sentinel.Content{Body: []byte("2025-01-02T03:04:05Z")}); err != nil {
				t.Fatal(err)
			}
		}
	}
	table := testenv.UniqueName("readme")
	flags := []string{"--bucket", name, "--table", table, "--s3-endpoint", os.Getenv(servers.EnvS3Endpoint), "--dynamodb-endpoint", os.Getenv(servers.EnvDynamoDBEndpoint)}
	t.Setenv("AWS_ACCESS_KEY_ID", os.Getenv(servers.EnvS3AccessKey))
	t.Setenv("AWS_SECRET_ACCESS_KEY", os.Getenv(servers.EnvS3SecretKey))
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	cli := func(want int, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(ctx, append(args, flags...), strings.NewReader(""), &stdout, &stderr, nil); code != want {
			t.Fatalf("migrate %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, stdout.String(), stderr.String())
		}
		return stdout.String() + stderr.String()
	}
	// A wrong root, given explicitly: refused, naming the right one.
	if out := cli(1, "migrate", "plan", "--prefix", "worksets/"); !strings.Contains(out, "pass --prefix "+root) {
		t.Errorf("plan with the guide's root on a daylily bucket:\n%s", out)
	}
	// The wrong naming, chosen explicitly: refused with the counts.
	if out := cli(1, "migrate", "apply", "--create-table", "--prefix", root, "--naming", "guide"); !strings.Contains(out, "4 folders hold daylily.* sentinels and 0 hold _READY-style") {
		t.Errorf("apply --naming guide on a daylily bucket:\n%s", out)
	}
	// The README's command as written: root and naming are detected, and the
	// report counts the folders.
	out := cli(0, "migrate", "plan")
	for _, want := range []string{"--prefix " + root, "--naming daylily", "source folders: 5 seen, 4 worksets, 1 without a sentinel; 1 skipped: no sentinel (e.g. data-only)"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan output lacks %q:\n%s", want, out)
		}
	}
	cli(0, "migrate", "apply", "--create-table")
	cli(0, "migrate", "verify")
	ddb, err := dynamostore.New(ddbc, table)
	if err != nil {
		t.Fatal(err)
	}
	for id, st := range map[string]workset.State{"ws-complete": workset.StateComplete, "ws-error": workset.StateError, "ws-ignored": workset.StateIgnored, "ws-ready": workset.StateReady} {
		if w, err := ddb.Get(ctx, id); err != nil || w.State != st {
			t.Errorf("%s in DynamoDB: %v %v, want %s", id, w, err, st)
		}
	}
	if _, err := ddb.Get(ctx, "data-only"); err == nil {
		t.Error("the data-only folder was queued")
	}
}
