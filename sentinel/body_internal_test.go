package sentinel

import (
	"strings"
	"testing"
	"time"
)

// Every body this SDK writes is at least minOwnBody bytes, so that a smaller
// lock object can be taken for a legacy one without reading it.
func TestOwnBodiesAreNeverSmall(t *testing.T) {
	for _, b := range []Body{{}, {At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, {Locked: true}, {Owner: "a", Token: 1}} {
		data, _ := b.encode()
		if len(data) < minOwnBody {
			t.Errorf("body %s is %d bytes, below minOwnBody %d", data, len(data), minOwnBody)
		}
	}
}

// A legacy daylily monitor's report splits each body once on a tab into a
// timestamp and a detail: bodies this SDK writes give it both, and still read
// back in full here.
func TestBodiesAreLegacyReadable(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456000, time.UTC)
	for _, b := range []Body{
		{State: "error", At: at, ErrorDetails: "bwa exited 137\nout of memory", ErrorCategory: "resource"},
		{State: "ready", At: at, Reason: "requeued\tby ops"},
		{State: "in_progress", At: at},
	} {
		data, nonce := b.encode()
		text := string(data)
		ts, detail, ok := strings.Cut(text, "\t") // the legacy report's text.split("\t", 1)
		if !ok {
			t.Fatalf("body %q has no tab", text)
		}
		if got, err := time.Parse(time.RFC3339Nano, ts); err != nil || !got.Equal(at) {
			t.Errorf("legacy timestamp %q: %v, %v", ts, got, err)
		}
		want := b.ErrorDetails
		if want == "" {
			want = b.Reason
		}
		want = strings.NewReplacer("\n", " ", "\t", " ").Replace(want)
		if first, _, _ := strings.Cut(detail, "\n"); first != want {
			t.Errorf("legacy detail %q, want %q", first, want)
		}
		back := ParseBody(data)
		if back.Legacy || back.Nonce != nonce || back.State != b.State || back.ErrorDetails != b.ErrorDetails || back.Reason != b.Reason || !back.At.Equal(at) {
			t.Errorf("read back %+v from %q", back, text)
		}
	}
	// The SDK's earlier all-JSON bodies still read.
	old := `{"format":"worksetstate/1","state":"ready","at":"2026-03-01T12:30:00Z","nonce":"abc"}`
	if b := ParseBody([]byte(old)); b.Legacy || b.State != "ready" || b.Nonce != "abc" {
		t.Errorf("earlier body read as %+v", b)
	}
}
