package storekit

import (
	"strings"
	"time"
)

// TimeLayout is the one fixed-width UTC format this SDK writes (microseconds,
// always present), so that its own timestamps sort correctly as strings.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// FormatTime formats t in TimeLayout, in UTC.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime reads every timestamp format the deployed system wrote: ISO-8601 with
// or without fractional seconds, ending in "Z", "+00:00" or another offset, and
// naive timestamps without a zone (taken as UTC). The result is in UTC. Bad input
// is an ErrInvalidInput naming the value.
func ParseTime(s string) (time.Time, error) {
	v := strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, invalid("", "unrecognised timestamp %q (want ISO-8601, e.g. 2024-01-15T10:00:00Z)", s)
}
