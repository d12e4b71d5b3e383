package sentinel

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Every body this SDK writes is at least minOwnBody bytes, so that a smaller
// object (a legacy monitor's bare timestamp, the guide's empty marker) can be
// taken for a legacy one without reading it.
func TestOwnBodiesAreNeverSmall(t *testing.T) {
	for _, b := range []Body{{}, {At: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, {Locked: true}, {Owner: "a", Token: 1}, {State: "in_progress"}} {
		c, _, err := b.encode()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(c.Body)) < minOwnBody {
			t.Errorf("body %q is %d bytes, below minOwnBody %d", c.Body, len(c.Body), minOwnBody)
		}
	}
	if legacy := int64(len("2026-01-01T00:00:00.000000Z")); legacy >= minOwnBody {
		t.Errorf("a legacy timestamp body (%d bytes) is not below minOwnBody %d", legacy, minOwnBody)
	}
}

// A legacy daylily monitor's report splits each body once on a tab into a
// timestamp and a detail: what it reads of a body this SDK writes is exactly
// "<timestamp>\t<detail>" (one line, nothing after it), and the SDK's record,
// kept in the metadata, still reads back in full.
func TestBodiesAreExactlyWhatLegacyReadersRead(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 30, 0, 123456000, time.UTC)
	long := strings.Repeat("stack frame ✓\n", 400) // 6 KB: more than the metadata holds
	for _, b := range []Body{
		{State: "error", At: at, ErrorDetails: "bwa exited 137\nout of memory", ErrorCategory: "resource", RetryCount: 2, FailedStep: "align"},
		{State: "ready", At: at, Reason: "requeued\tby ops"},
		{State: "in_progress", At: at, Op: strings.Repeat("k", 300)},
		{State: "error", At: at, ErrorDetails: long, Reason: "why"},
		{At: at, Owner: "mon-ü", Token: 7, AcquiredAt: at, ExpiresAt: at.Add(time.Hour), Locked: true},
		{State: "failed", At: at, Reason: "del\x7fbell\x07", FailedStep: "step\x00"},
	} {
		before := time.Now().UTC().Truncate(time.Microsecond)
		c, nonce, err := b.encode()
		after := time.Now().UTC().Add(time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		text := string(c.Body)
		ts, detail, ok := strings.Cut(text, "\t") // the legacy report's text.split("\t", 1)
		if !ok {
			t.Fatalf("body %q has no tab", text)
		}
		if strings.ContainsAny(detail, "\t\n\r") {
			t.Errorf("legacy detail %q spans lines or fields", detail)
		}
		if got, err := time.Parse(time.RFC3339Nano, ts); err != nil || got.Before(before) || got.After(after) { // the time of the write
			t.Errorf("legacy timestamp %q: %v, %v", ts, got, err)
		}
		want := b.ErrorDetails
		if want == "" {
			want = b.Reason
		}
		want = strings.NewReplacer("\n", " ", "\t", " ").Replace(want)
		if want != "" && detail != want {
			t.Errorf("legacy detail %.80q, want %.80q", detail, want)
		}
		rec := c.Meta[MetaKey]
		if len(MetaKey)+len(rec) > 2048 {
			t.Errorf("record is %d bytes, over S3's 2 KB of metadata", len(rec))
		}
		for i := 0; i < len(rec); i++ {
			if rec[i] >= 0x7f || rec[i] < 0x20 {
				t.Fatalf("record %q is not printable ASCII at %d", rec, i)
			}
		}
		back := ParseContent(c)
		wantDetails := b.ErrorDetails
		if len(wantDetails) > 2000 { // kept on the line only
			wantDetails = want
		}
		if back.Legacy || back.Nonce != nonce || back.State != b.State || back.ErrorDetails != wantDetails || back.Reason != b.Reason ||
			!back.At.Equal(at) || back.Owner != b.Owner || back.Token != b.Token || back.RetryCount != b.RetryCount || back.FailedStep != b.FailedStep ||
			back.Op != opKey(b.Op) || !utf8.ValidString(back.Owner) {
			t.Errorf("read back %+v from %q", back, text)
		}
	}
	// Two writes never share a body, so never an ETag.
	first, _, _ := Body{State: "ready", At: at}.encode()
	second, _, _ := Body{State: "ready", At: at}.encode()
	if string(first.Body) == string(second.Body) {
		t.Errorf("two writes share the body %q", first.Body)
	}
	// The SDK's earlier bodies still read: all JSON, and the line then JSON.
	old := `{"format":"worksetstate/1","state":"ready","at":"2026-03-01T12:30:00Z","nonce":"abc"}`
	if b := ParseContent(Content{Body: []byte(old)}); b.Legacy || b.State != "ready" || b.Nonce != "abc" {
		t.Errorf("earlier body read as %+v", b)
	}
	if b := ParseContent(Content{Body: []byte("2026-03-01T12:30:00.000000Z\tx\n" + old)}); b.Legacy || b.Nonce != "abc" {
		t.Errorf("earlier two-line body read as %+v", b)
	}
	// A legacy body, even with metadata from another tool, reads as legacy.
	if b := ParseContent(Content{Body: []byte("2026-03-01T12:30:00Z\tboom"), Meta: map[string]string{"other": "x"}}); !b.Legacy || b.Reason != "boom" {
		t.Errorf("legacy body read as %+v", b)
	}
}
