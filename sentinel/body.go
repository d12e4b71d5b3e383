package sentinel

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// maxBody bounds how much of a sentinel body is read.
const maxBody = 64 << 10

// bodyFormat marks bodies this SDK wrote.
const bodyFormat = "worksetstate/1"

// minOwnBody is a lower bound on the size of any body this SDK writes (the
// time, a tab and a detail that is never empty): the legacy monitor's own
// bodies without a message (a bare timestamp, at most 27 bytes) and the
// guide's empty markers are smaller, so a listing tells them apart without a
// read.
const minOwnBody = int64(len(lineTime) + 2)

// Body is what a sentinel object says. The legacy daylily monitor reads every
// body, splitting it as "<ISO timestamp>\t<detail>" for its report, so the body
// of an object this SDK writes is exactly that line and nothing else: the time
// of the write (UTC, microseconds, a Z), a tab, then the error details or the
// reason on one line (line breaks and tabs become spaces), or a short
// description when there is neither. The SDK's own record (lease, retry record,
// claim, idempotency key, nonce) rides in the object's user metadata
// (MetaKey), which legacy readers never look at and which S3 writes and reads
// with the body, atomically. Every record carries a fresh Nonce, and the
// line's time strictly grows within a process, so that two writes never share
// an ETag (every empty object has the same one). Reading (ParseContent)
// accepts these, the bodies earlier SDK versions wrote (all JSON, or the line
// followed by the JSON record) and every legacy body.
type Body struct {
	Format string    `json:"format"`
	State  string    `json:"state,omitempty"`
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
	// Next is set on a claim: the state a transition in flight is moving to.
	Next  string `json:"next,omitempty"`
	Nonce string `json:"nonce"`
	// Lease fields, on the lock object while a lease is held.
	Owner      string    `json:"owner,omitempty"`
	Token      int64     `json:"token,omitempty"`
	AcquiredAt time.Time `json:"acquired_at,omitzero"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	// Locked is set on the lock object when it also marks the locked state.
	Locked bool `json:"locked,omitempty"`

	ErrorDetails  string `json:"error_details,omitempty"`
	ErrorCategory string `json:"error_category,omitempty"`
	// The retry record (RecordFailure), on the retrying and failed sentinels.
	RetryCount int       `json:"retry_count,omitempty"`
	RetryAfter time.Time `json:"retry_after,omitzero"`
	FailedStep string    `json:"failed_step,omitempty"`

	// Foreign is set on a sentinel this SDK imported from a record another
	// tool wrote (workset.Workset.Foreign), so that the provenance survives.
	Foreign bool `json:"foreign,omitempty"`

	// Op is the idempotency key of the transition that wrote or claimed this
	// sentinel (TransitionRequest.IdempotencyKey); a key longer than 64 bytes
	// is kept as its SHA-256.
	Op string `json:"op,omitempty"`

	// Line says which field the body's line holds in full ("error_details" or
	// "reason"), so that the record need not repeat it.
	Line string `json:"line,omitempty"`

	// Legacy is true for a body this SDK did not write (empty, a timestamp,
	// "timestamp<TAB>message", or free text).
	Legacy bool `json:"-"`
}

// MetaKey is the user-metadata key (x-amz-meta-worksetstate on S3) that holds
// the SDK's record of a sentinel it wrote: a JSON document, ASCII only.
const MetaKey = "worksetstate"

// maxRecord bounds the record: S3 allows 2 KB of user metadata in all, keys
// included.
const maxRecord = 2048 - len(MetaKey) - 16

// lineTime is the layout of the time that starts every body this SDK writes.
const lineTime = "2006-01-02T15:04:05.000000Z"

// lastStamp makes the line's time (the time of the write, as in every legacy
// body) strictly grow within the process, so that two writes of one object
// never share a body, and so an ETag: a rewrite that keeps the record's At
// (dropping a lock's locked mark) still changes the body.
var lastStamp struct {
	sync.Mutex
	t time.Time
}

func stamp(at time.Time) string { // at: the wall clock, never a caller's clock
	at = at.UTC().Truncate(time.Microsecond)
	lastStamp.Lock()
	if !at.After(lastStamp.t) {
		at = lastStamp.t.Add(time.Microsecond)
	}
	lastStamp.t = at
	lastStamp.Unlock()
	return at.Format(lineTime)
}

func newNonce() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// oneLine makes a detail safe for the legacy split: one line, no tab.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, s)
}

// opKey is how an idempotency key is kept: as it is up to 64 bytes, else its
// SHA-256, so that a long key never crowds the record out of the metadata.
func opKey(k string) string {
	if len(k) <= 64 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// describe is the line's detail for a body with neither details nor reason:
// what a person reading the legacy report should see.
func (b Body) describe() string {
	switch {
	case b.Owner != "":
		return "held by " + b.Owner + " until " + b.ExpiresAt.UTC().Format(time.RFC3339)
	case b.Next != "":
		return "moving to " + b.Next
	case b.State != "":
		return b.State
	}
	return "written by worksetstate"
}

// encode renders the body with a fresh nonce and returns the nonce: the legacy
// line as the object's body, the record as its metadata. It fails only when
// the record cannot fit S3's metadata (an owner ID of hundreds of bytes).
func (b Body) encode() (Content, string, error) {
	b.Format = bodyFormat
	b.Nonce = newNonce()
	b.Op = opKey(b.Op)
	detail := b.ErrorDetails
	b.Line = "error_details"
	if detail == "" {
		detail, b.Line = b.Reason, "reason"
	}
	if detail == "" {
		detail, b.Line = b.describe(), ""
	}
	detail = oneLine(detail)
	line := stamp(time.Now()) + "\t" + detail
	// The record repeats the line's field only when the line changed it.
	switch {
	case b.Line == "error_details" && b.ErrorDetails == detail:
		b.ErrorDetails = ""
	case b.Line == "reason" && b.Reason == detail:
		b.Reason = ""
	}
	rec := asciiJSON(b)
	// Too long for the metadata: the line keeps the details (with spaces for
	// line breaks), then the reason and the failed step are cut to fit.
	if len(rec) > maxRecord {
		switch b.Line {
		case "error_details":
			b.ErrorDetails = ""
		case "reason":
			b.Reason = ""
		}
		rec = asciiJSON(b)
	}
	for _, f := range []*string{&b.Reason, &b.FailedStep} {
		if over := len(rec) - maxRecord; over > 0 && *f != "" {
			*f = storekit.Truncate(*f, max(32, len(*f)-over-48)) // an escaped rune is never shorter than its UTF-8
			rec = asciiJSON(b)
		}
	}
	if len(rec) > maxRecord {
		return Content{}, "", fmt.Errorf("sentinel: the record is %d bytes, more than the %d S3 user metadata allows (owner ID of %d bytes)", len(rec), maxRecord, len(b.Owner))
	}
	return Content{Body: []byte(line), Meta: map[string]string{MetaKey: rec}}, b.Nonce, nil
}

// invalidRecord is the refusal of a write whose record cannot be stored.
func invalidRecord(id string, err error) error {
	return &workset.Error{ID: id, Kind: workset.ErrInvalidInput, Detail: err.Error()}
}

// asciiJSON renders v as JSON with every character outside printable ASCII
// escaped (DEL and non-ASCII; json.Marshal escapes the others), as HTTP
// headers, and so S3 metadata, need.
func asciiJSON(v any) string {
	out, _ := json.Marshal(v)
	var sb strings.Builder
	for _, r := range string(out) {
		if r < 0x7f { // json.Marshal escapes the other control characters
			sb.WriteRune(r)
			continue
		}
		for _, u := range utf16.Encode([]rune{r}) {
			fmt.Fprintf(&sb, "\\u%04x", u)
		}
	}
	return sb.String()
}

// ParseContent reads any sentinel object: one this SDK wrote (the line, and
// the record in its metadata), an earlier SDK version's body, or a legacy one.
// It never fails.
func ParseContent(c Content) Body {
	rec, ok := c.Meta[MetaKey]
	if !ok {
		return ParseBody(c.Body)
	}
	var b Body
	if json.Unmarshal([]byte(rec), &b) != nil || b.Format != bodyFormat {
		return ParseBody(c.Body)
	}
	_, detail, _ := strings.Cut(string(c.Body), "\t")
	switch {
	case b.Line == "error_details" && b.ErrorDetails == "":
		b.ErrorDetails = detail
	case b.Line == "reason" && b.Reason == "":
		b.Reason = detail
	}
	b.Line = ""
	return b
}

// ParseBody reads a sentinel body without its metadata: an earlier SDK
// version's (all JSON, or the legacy line followed by the JSON record), or a
// legacy one (empty, an ISO timestamp, "timestamp<TAB>message", or free text,
// kept as Reason). It never fails: what it cannot read as a time becomes the
// reason.
func ParseBody(data []byte) Body {
	data = bytes.TrimSpace(data)
	record := data
	if len(data) > 0 && data[0] != '{' {
		if _, rest, ok := bytes.Cut(data, []byte("\n")); ok { // the legacy line, then the record
			record = bytes.TrimSpace(rest)
		}
	}
	if len(record) > 0 && record[0] == '{' {
		var b Body
		if json.Unmarshal(record, &b) == nil && b.Format == bodyFormat {
			return b
		}
	}
	b := Body{Legacy: true}
	if !utf8.Valid(data) {
		return b
	}
	text := string(data)
	ts, msg, hasTab := strings.Cut(text, "\t")
	if t, err := storekit.ParseTime(ts); err == nil {
		b.At = t
		if hasTab {
			b.Reason = strings.TrimSpace(msg)
		}
		return b
	}
	if len(text) > 1024 {
		text = text[:1024]
	}
	b.Reason = text
	return b
}

// lease returns the lease the body records, if any.
func (b Body) lease(id string) *workset.Lease {
	if b.Legacy || b.Owner == "" {
		return nil
	}
	return &workset.Lease{WorksetID: id, Owner: b.Owner, Token: b.Token, AcquiredAt: b.AcquiredAt, ExpiresAt: b.ExpiresAt}
}
