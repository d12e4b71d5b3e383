package main

import (
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var b strings.Builder
	if err := run(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"claimed ws-002 (urgent, fencing token 1) -> complete",
		"claimed ws-001 (normal",
		"invalid transition error -> complete",
		`lock held by "monitor-b-202"`,
		"took over with token 2 (was 1)",
		"lease lost",
		"ws-003   09:27  complete     finished by monitor-a",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
