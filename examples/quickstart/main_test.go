package main

import (
	"strings"
	"testing"
)

func TestQuickstart(t *testing.T) {
	var b strings.Builder
	if err := both(t.Context(), &b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"claimed ws-002 (urgent, fencing token 1) -> complete",
		"claimed ws-001 (normal",
		"invalid transition: error -> complete",
		`lease held: by "monitor-b-202"`,
		"took over with token 2 (was 1)",
		"lease lost",
		"ws-003   09:27  complete     finished by monitor-a",
		"8 missing in the new store; by state: ready 4, locked 1, complete 2, error 1",
		"created 8, failed 0",
		"unchanged 8",
		"discrepancies: 0",
		"[legacy-primary] processed ws-107",
		"[new-primary] processed ws-108",
		"ws-108 sentinels now: _COMPLETE",
		"divergences: 0",
		"updated 1; ws-101 sentinels now: _IGNORED",
		"would delete the sentinels of 7 verified worksets",
		"1 keep theirs: their _LOCKED files are younger than an hour",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
