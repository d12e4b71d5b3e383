package workset_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

func FuzzParseStateAndPriority(f *testing.F) {
	for _, s := range []string{"ready", "IN_PROGRESS", " Complete ", "", "urgent", "LOW", "\x00", "in-progress"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := workset.ParseState(s)
		if err == nil && !st.Valid() {
			t.Fatalf("ParseState(%q) = invalid %q", s, st)
		}
		if err != nil && (!errors.Is(err, workset.ErrInvalidInput) || !strings.Contains(err.Error(), "valid:")) {
			t.Fatalf("ParseState(%q) error %v does not name the valid set", s, err)
		}
		p, err := workset.ParsePriority(s)
		if err == nil && p.Rank() < 0 {
			t.Fatalf("ParsePriority(%q) = invalid %q", s, p)
		}
		if err != nil && !errors.Is(err, workset.ErrInvalidInput) {
			t.Fatalf("ParsePriority(%q): %v", s, err)
		}
	})
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2024-01-15T10:00:00Z", "2024-01-15T10:00:00+00:00", "2024-01-15T10:00:00.123456Z", "2024-01-15T10:00:00", "2024-01-15 10:00:00", "garbage", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := storekit.ParseTime(s)
		if err != nil {
			if !errors.Is(err, workset.ErrInvalidInput) {
				t.Fatalf("ParseTime(%q): %v", s, err)
			}
			return
		}
		if ts.Location() != time.UTC {
			t.Fatalf("ParseTime(%q) not UTC", s)
		}
		if ts.Year() < 0 || ts.Year() > 9999 {
			return // outside what the fixed-width format can hold
		}
		back, err := storekit.ParseTime(storekit.FormatTime(ts))
		if err != nil || !back.Equal(storekit.TruncateTime(ts)) {
			t.Fatalf("FormatTime(ParseTime(%q)) does not round trip: %v %v", s, back, err)
		}
	})
}

func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"ws-001", "", ".", "..", "../x", "a/b", "a\\b", "a\x00", "é", strings.Repeat("x", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := workset.ValidateID(id)
		if err != nil {
			if !errors.Is(err, workset.ErrInvalidInput) {
				t.Fatalf("ValidateID(%q): %v", id, err)
			}
			return
		}
		if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\\") || len(id) > workset.MaxIDLength {
			t.Fatalf("ValidateID accepted %q", id)
		}
		for _, r := range id {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("ValidateID accepted control character in %q", id)
			}
		}
	})
}
