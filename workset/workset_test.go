package workset_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

func TestParseState(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    workset.State
		wantErr bool
	}{
		{"ready", workset.StateReady, false},
		{"IN_PROGRESS", workset.StateInProgress, false},
		{" Complete ", workset.StateComplete, false},
		{"done", "", true},
		{"", "", true},
		{"in-progress", "", true},
	} {
		got, err := workset.ParseState(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseState(%q) = %q, %v; want %q, err=%v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil {
			if !errors.Is(err, workset.ErrInvalidInput) || !strings.Contains(err.Error(), "in_progress") || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseState(%q) error %q should name the value and the valid set", tc.in, err)
			}
		}
	}
	if len(workset.States()) != 10 {
		t.Errorf("States() has %d values, want the 10 deployed ones", len(workset.States()))
	}
}

func TestParsePriority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    workset.Priority
		wantErr bool
	}{
		{"URGENT", workset.PriorityUrgent, false},
		{"normal", workset.PriorityNormal, false},
		{"Low", workset.PriorityLow, false},
		{"high", "", true},
	} {
		got, err := workset.ParsePriority(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParsePriority(%q) = %q, %v", tc.in, got, err)
		}
	}
	ps := workset.Priorities()
	if !slices.Equal(ps, []workset.Priority{"urgent", "normal", "low"}) {
		t.Errorf("dispatch order %v", ps)
	}
	for i, p := range ps {
		if p.Rank() != i {
			t.Errorf("%s rank %d, want %d", p, p.Rank(), i)
		}
	}
}

func TestValidateID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"ws-001", true},
		{"sample_2024.01", true},
		{strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), false},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{`a\b`, false},
		{"a\x00b", false},
		{"tab\there", false},
		{"\xff", false},
	} {
		err := workset.ValidateID(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, workset.ErrInvalidInput) {
			t.Errorf("ValidateID(%q) error does not match ErrInvalidInput", tc.id)
		}
	}
}

func TestTransitionGraph(t *testing.T) {
	t.Parallel()
	for _, from := range workset.States() {
		for _, to := range workset.NextStates(from) {
			if !to.Valid() || from == to {
				t.Errorf("bad edge %s -> %s", from, to)
			}
			if !slices.Contains(storekit.AllowedFrom(to), from) {
				t.Errorf("AllowedFrom(%s) lacks %s", to, from)
			}
		}
	}
	// Every state but ready is reachable, and every state but deleted can move on.
	for _, s := range workset.States() {
		if s != workset.StateReady && len(storekit.AllowedFrom(s)) == 0 {
			t.Errorf("%s is unreachable", s)
		}
		if s != workset.StateDeleted && len(workset.NextStates(s)) == 0 {
			t.Errorf("%s is a dead end", s)
		}
	}
	for _, tc := range []struct {
		from, to workset.State
		ok       bool
	}{
		{"ready", "in_progress", true},
		{"ready", "locked", true},
		{"in_progress", "complete", true},
		{"error", "ready", true},
		{"error", "ignored", true},
		{"retrying", "in_progress", true},
		{"archived", "ready", true},
		{"complete", "ready", false},
		{"deleted", "ready", false},
		{"ready", "complete", false},
	} {
		if got := workset.CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("CanTransition(%s, %s) = %v", tc.from, tc.to, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 15, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"2024-01-15T10:00:00Z", want},
		{"2024-01-15T10:00:00+00:00", want},
		{"2024-01-15T10:00:00.000000Z", want},
		{"2024-01-15T10:00:00.123456Z", want.Add(123456 * time.Microsecond)},
		{"2024-01-15T10:00:00.5+00:00", want.Add(500 * time.Millisecond)},
		{"2024-01-15T12:00:00+02:00", want},
		{"2024-01-15T10:00:00", want},
		{"2024-01-15T10:00:00.25", want.Add(250 * time.Millisecond)},
	} {
		got, err := storekit.ParseTime(tc.in)
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2024-13-01T00:00:00Z", "1705312800"} {
		if _, err := storekit.ParseTime(bad); !errors.Is(err, workset.ErrInvalidInput) {
			t.Errorf("ParseTime(%q) = %v, want ErrInvalidInput", bad, err)
		}
	}
	if s := storekit.FormatTime(want.Add(time.Microsecond)); s != "2024-01-15T10:00:00.000001Z" {
		t.Errorf("FormatTime = %s", s)
	}
	if s := storekit.FormatTime(want); len(s) != len(storekit.TimeLayout) {
		t.Errorf("FormatTime(%v) = %s is not fixed width", want, s)
	}
}
