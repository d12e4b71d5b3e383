package main

import (
	"os"
	"strings"
	"testing"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
)

func TestMonitorExample(t *testing.T) {
	var b strings.Builder
	if err := run(t.Context(), &b, "", "", "us-west-2", false, false); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"ws-urgent ready -> in_progress",
		"ws-flaky in_progress -> retrying  (transient failure (retry 1 of 3))",
		"ws-flaky retrying -> in_progress",
		"ws-flaky in_progress -> complete",
		"done: 4 complete, 0 failed",
		`ws-flaky: complete, retried once after a transient failure`,
	} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	flat := strings.Join(strings.Fields(out), " ")
	if i, j := strings.Index(flat, "ws-urgent ready -> in_progress"), strings.Index(flat, "ws-low ready -> in_progress"); i < 0 || j < i {
		t.Errorf("urgent was not processed before low:\n%s", out)
	}
}

func TestMonitorExampleDynamoDBWithMetrics(t *testing.T) {
	testenv.DynamoDB(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "dummy")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "dummy")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	var b strings.Builder
	if err := run(t.Context(), &b, testenv.UniqueName("mon-ex"), os.Getenv(servers.EnvDynamoDBEndpoint), "us-west-2", true, true); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`"Namespace":"Daylily/WorksetMonitor"`, `"WorksetRegistered":1`, `"LockAcquired":1`, `"WorksetStateComplete":1`, `"QueueDepth":0`, `"StateCountComplete":4`, `"OldestReadyAge":0`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s", want)
		}
	}
}
