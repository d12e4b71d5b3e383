package main

import (
	"bytes"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// buildCLI builds worksetctl as a user would install it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "worksetctl")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The CLI killed with SIGKILL at random points, then run again, ends with every
// workset migrated exactly once.
//
// The kills abort requests mid-body on purpose: the test servers must survive
// that (internal/servers guards dynalite; TestDynaliteSurvivesAbortedRequests
// proves it), since every package of the run shares them.
func TestCrashAndResume(t *testing.T) {
	t.Parallel()
	flags, layout, table := fixture(t, 3000)
	bin := buildCLI(t)
	rng := rand.New(rand.NewPCG(7, 7))
	kills := 0
	for range 4 {
		cmd := exec.Command(bin, append([]string{"migrate", "apply", "--create-table", "--concurrency", "4"}, flags...)...)
		cmd.Env = cliEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			kills++
		}
		_ = cmd.Wait() // killed: the error is the signal
	}
	var out bytes.Buffer
	final := exec.Command(bin, append([]string{"migrate", "apply", "--create-table"}, flags...)...)
	final.Env, final.Stdout, final.Stderr = cliEnv(), &out, &out
	if err := final.Run(); err != nil {
		t.Fatalf("final apply: %v\n%s", err, out.String())
	}
	verify := exec.Command(bin, append([]string{"migrate", "verify"}, flags...)...)
	verify.Env = cliEnv()
	if vo, err := verify.CombinedOutput(); err != nil { // exit 0: zero discrepancies
		t.Fatalf("verify after %d kills: %v\n%s", kills, err, vo)
	}
	ddb, err := dynamostore.New(testenv.DynamoDB(t), table)
	if err != nil {
		t.Fatal(err)
	}
	want := layout.Expected(sentinel.NoSentinelReady)
	n := 0
	for w, err := range workset.Scan(t.Context(), ddb, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		entries := 0
		for _, h := range w.History {
			if h.Reason == migrate.DefaultReason {
				entries++
			}
		}
		if w.Version != 1 || entries != 1 || w.State != want[w.ID] {
			t.Errorf("%s: version %d, %d migration entries, state %s (want %s): written more than once or wrongly", w.ID, w.Version, entries, w.State, want[w.ID])
		}
	}
	if n != len(want) {
		t.Errorf("%d worksets in DynamoDB, want %d", n, len(want))
	}
	t.Logf("%d SIGKILLs, then one complete run: %d worksets, each written once", kills, n)
}

// Secret keys never appear in the CLI's errors or output.
func TestSecretsNotPrinted(t *testing.T) {
	t.Parallel()
	bin := buildCLI(t)
	const secret = "SeCrEt-Must-Not-Leak-9f3a"
	cmd := exec.Command(bin, "migrate", "plan", "--bucket", "b", "--s3-endpoint", "http://127.0.0.1:1", "--dynamodb-endpoint", "http://127.0.0.1:1")
	cmd.Env = append(cliEnv(), "AWS_ACCESS_KEY_ID=AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY="+secret, "AWS_MAX_ATTEMPTS=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("plan against a closed port succeeded:\n%s", out)
	}
	if strings.Contains(string(out), secret) {
		t.Fatalf("the secret key was printed:\n%s", out)
	}
	if !strings.Contains(string(out), "worksetctl:") {
		t.Errorf("no error message:\n%s", out)
	}
}
