package main

import "testing"

// The example runs on the embedded default, with no servers.
func TestExampleRuns(t *testing.T) {
	if err := run(t.Context()); err != nil {
		t.Fatal(err)
	}
}
