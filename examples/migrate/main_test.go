package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The example runs on the embedded default, with no servers.
func TestExampleRuns(t *testing.T) {
	if err := run(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// The flags meant for the migration CLI that lived here are refused, with a
// pointer to worksetctl, never run as the example.
func TestArgumentsAreRefused(t *testing.T) {
	out, err := exec.Command("go", "run", ".", "plan", "--bucket", "my-bucket").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "go run ./cmd/worksetctl migrate plan --bucket my-bucket") || strings.Contains(string(out), "planned") {
		t.Errorf("go run . plan --bucket my-bucket: %v\n%s", err, out)
	}
}
