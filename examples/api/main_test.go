package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
)

// startAPI builds and runs the server, and returns its base URL.
func startAPI(t *testing.T, args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "api")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	port, err := servers.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append(args, "--port", fmt.Sprint(port))...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=dummy", "AWS_SECRET_ACCESS_KEY=dummy", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server did not stop cleanly: %v\n%s", err, logs.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not stop on SIGTERM")
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			return base
		}
		if i > 200 {
			t.Fatalf("server did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func call(t *testing.T, method, url, body string, want int) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	return string(b)
}

// drive runs the deployed API's flow against a running server.
func drive(t *testing.T, base string) {
	if !strings.Contains(call(t, "GET", base+"/", "", 200), `"service":"daylily-workset-api"`) {
		t.Error("health check")
	}
	call(t, "POST", base+"/worksets", `{"workset_id":"ws-1","bucket":"b","prefix":"worksets/ws-1/","priority":"low","metadata":{"samples":3}}`, 201)
	call(t, "POST", base+"/worksets", `{"workset_id":"ws-2","bucket":"b","prefix":"worksets/ws-2/","priority":"urgent"}`, 201)
	call(t, "POST", base+"/worksets", `{"workset_id":"ws-1","bucket":"b","prefix":"p/"}`, 409)
	call(t, "POST", base+"/worksets", `{"workset_id":"../x","bucket":"b"}`, 400)
	call(t, "POST", base+"/worksets", `{"workset_id":"x","priority":"high"}`, 400)
	call(t, "POST", base+"/worksets", `{"workset_id":`+strings.Repeat(" ", 1<<20)+`"x"}`, 413)
	call(t, "GET", base+"/worksets/nope", "", 404)
	if next := call(t, "GET", base+"/worksets/next", "", 200); !strings.Contains(next, `"workset_id":"ws-2"`) {
		t.Errorf("next = %s, want the urgent ws-2", next)
	}
	if got := call(t, "POST", base+"/worksets/ws-2/lock?owner_id=host-a-1", "", 200); !strings.Contains(got, `"status":"locked"`) {
		t.Errorf("lock answer %s, want the deployed status field", got)
	}
	call(t, "POST", base+"/worksets/ws-2/lock?owner_id=host-b-2", "", 409)
	call(t, "DELETE", base+"/worksets/ws-2/lock?owner_id=host-b-2", "", 403)
	if next := call(t, "GET", base+"/worksets/next", "", 200); !strings.Contains(next, `"workset_id":"ws-1"`) {
		t.Errorf("next while ws-2 is locked = %s, want ws-1", next)
	}
	if got := call(t, "DELETE", base+"/worksets/ws-2/lock?owner_id=host-a-1", "", 200); !strings.Contains(got, `"status":"unlocked"`) {
		t.Errorf("unlock answer %s, want the deployed status field", got)
	}
	got := call(t, "PUT", base+"/worksets/ws-2/state", `{"state":"IN_PROGRESS","reason":"picked up","cluster_name":"c1"}`, 200)
	var ws map[string]any
	if err := json.Unmarshal([]byte(got), &ws); err != nil {
		t.Fatal(err)
	}
	if ws["state"] != "in_progress" || ws["cluster_name"] != "c1" {
		t.Errorf("after PUT state: %s", got)
	}
	call(t, "PUT", base+"/worksets/ws-2/state", `{"state":"ready"}`, 409)
	call(t, "PUT", base+"/worksets/ws-2/state", `{"state":"done"}`, 400)
	call(t, "PUT", base+"/worksets/ws-2/state", `{"state":"error","error_details":"exit 1"}`, 200)
	list := call(t, "GET", base+"/worksets?state=ready&limit=10", "", 200)
	if !strings.Contains(list, "ws-1") || strings.Contains(list, "ws-2") {
		t.Errorf("list ready = %s", list)
	}
	call(t, "GET", base+"/worksets?limit=0", "", 400)
	var stats struct {
		QueueDepth map[string]int64 `json:"queue_depth"`
		Total      int64            `json:"total_worksets"`
		Errors     int64            `json:"error_worksets"`
	}
	if err := json.Unmarshal([]byte(call(t, "GET", base+"/queue/stats", "", 200)), &stats); err != nil {
		t.Fatalf("stats: %v", err)
	}
	if stats.Total != 2 || stats.Errors != 1 || stats.QueueDepth["ready"] != 1 || stats.QueueDepth["error"] != 1 || stats.QueueDepth["complete"] != 0 {
		t.Errorf("stats = %+v, want the deployed shape (queue_depth a map of state to count)", stats)
	}
	// Pagination: every page followed through X-Next-Cursor.
	for i := range 25 {
		call(t, "POST", base+"/worksets", fmt.Sprintf(`{"workset_id":"bulk-%02d","bucket":"b","prefix":"p/"}`, i), 201)
	}
	seen, cursor := 0, ""
	for page := 0; page < 20; page++ {
		resp, err := http.Get(base + "/worksets?limit=10&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&items); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seen += len(items)
		if cursor = resp.Header.Get("X-Next-Cursor"); cursor == "" {
			break
		}
	}
	if seen != 27 {
		t.Errorf("paged through %d worksets, want 27", seen)
	}
}

func TestAPIMemory(t *testing.T) {
	t.Parallel()
	drive(t, startAPI(t, "--memory"))
}

func TestAPIDynamoDB(t *testing.T) {
	t.Parallel()
	testenv.DynamoDB(t) // skips or fails without the server
	drive(t, startAPI(t, "--create-table", "--table-name", testenv.UniqueName("api"), "--dynamodb-endpoint", os.Getenv(servers.EnvDynamoDBEndpoint)))
}

// Without authentication the server listens on loopback only, unless told
// otherwise in so many words.
func TestNoAuthIsLoopbackOnly(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	none := authConfig{mode: "none"}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := none.authenticator(t.Context(), logger, host); err != nil {
			t.Errorf("--auth none on %s: %v", host, err)
		}
	}
	for _, host := range []string{"0.0.0.0", "", "10.1.2.3", "::"} {
		if _, err := none.authenticator(t.Context(), logger, host); err == nil || !strings.Contains(err.Error(), "--insecure-no-auth") {
			t.Errorf("--auth none on %q: %v, want a refusal naming --insecure-no-auth", host, err)
		}
	}
	insecure := authConfig{mode: "none", insecure: true}
	if _, err := insecure.authenticator(t.Context(), logger, "0.0.0.0"); err != nil || !strings.Contains(logs.String(), "WITHOUT AUTHENTICATION") {
		t.Errorf("--insecure-no-auth: %v, log %q", err, logs.String())
	}
	if _, err := (authConfig{mode: "oidc"}).authenticator(t.Context(), logger, "0.0.0.0"); err == nil {
		t.Error("--auth oidc without an issuer accepted")
	}
	if _, err := (authConfig{mode: "basic"}).authenticator(t.Context(), logger, "127.0.0.1"); err == nil {
		t.Error("--auth basic accepted")
	}
}
