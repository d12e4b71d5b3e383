package servers_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/internal/servers"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
)

// This test aborts requests on purpose: it promises a body and hangs up before
// sending it, as a cancelled context or an injected connection reset does. The
// harness's dynalite (shared by every test package of the run) must go on
// answering. dynalite 4.0.0 alone exits on the first such abort.
func TestDynaliteSurvivesAbortedRequests(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	addr := strings.TrimPrefix(os.Getenv(servers.EnvDynamoDBEndpoint), "http://")
	aborts := []struct {
		name string
		send string
		rst  bool
	}{
		{"mid-body close", "hello", false},
		{"mid-body reset", "hello", true},
		{"headers only, reset", "", true},
		{"whole body, reset before the answer", "{}", true},
	}
	for _, a := range aborts {
		t.Run(a.name, func(t *testing.T) {
			for i := 0; i < 3; i++ {
				abortRequest(t, addr, a.send, a.rst)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := ddb.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
				t.Fatalf("dynalite stopped answering after aborted requests: %v", err)
			}
		})
	}
}

// abortRequest sends a DynamoDB request whose Content-Length promises more
// than send, then closes the connection (with a reset when rst is set).
func abortRequest(t *testing.T, addr, send string, rst bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial dynalite: %v", err)
	}
	length := 100
	if send == "{}" {
		length = len(send)
	}
	req := fmt.Sprintf("POST / HTTP/1.1\r\nHost: %s\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"+
		"Content-Type: application/x-amz-json-1.0\r\nContent-Length: %d\r\n\r\n%s", addr, length, send)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("write: %v", err)
	}
	time.Sleep(20 * time.Millisecond) // let the server start reading the body
	if rst {
		if err := c.(*net.TCPConn).SetLinger(0); err != nil {
			t.Fatalf("set linger: %v", err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}
