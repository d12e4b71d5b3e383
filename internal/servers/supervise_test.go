package servers

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A server that dies during a run is reported (Deaths, with its log) and
// started again on the same port, so later tests meet a server, not
// "connection refused".
func TestSupervisorRestartsADeadServer(t *testing.T) {
	cache := os.Getenv(EnvCache)
	if cache == "" {
		msg := EnvCache + " is not set: run the tests with `make test`, which installs the servers"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A separate log folder: the run's own logs stay as they are.
	s, err := startIn(ctx, cache, t.TempDir())
	if err != nil {
		t.Fatalf("start servers: %v", err)
	}
	defer s.Stop()
	if d := s.Deaths(); len(d) != 0 {
		t.Fatalf("deaths right after start: %v", d)
	}

	s.mu.Lock()
	dynalite := s.procs[0]
	s.mu.Unlock()
	if dynalite.label != "dynalite" {
		t.Fatalf("first process is %s, want dynalite", dynalite.label)
	}
	if err := dynalite.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill dynalite: %v", err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for len(s.Deaths()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the killed dynalite was never reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := s.Deaths(); len(d) != 1 || !strings.Contains(d[0], "dynalite died") {
		t.Fatalf("Deaths() = %q, want one dynalite death", d)
	}
	if err := waitListening(ctx, strings.TrimPrefix(s.DynamoDBEndpoint, "http://"), 30*time.Second); err != nil {
		t.Fatalf("dynalite was not restarted on its port: %v", err)
	}
	// It answers HTTP again (a request without credentials is refused, by dynalite).
	resp, err := http.Post(s.DynamoDBEndpoint, "application/x-amz-json-1.0", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("restarted dynalite does not answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("restarted dynalite answered %s, want 400 (no credentials)", resp.Status)
	}
}
