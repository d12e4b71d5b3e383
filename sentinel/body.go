package sentinel

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// maxBody bounds how much of a sentinel body is read.
const maxBody = 64 << 10

// bodyFormat marks bodies this SDK wrote.
const bodyFormat = "worksetstate/1"

// minOwnBody is a lower bound on the size of any body this SDK writes (format,
// time and nonce are always there): a smaller object is a legacy one.
const minOwnBody = 80

// Body is the content of a sentinel object. The legacy daylily monitor reads
// every body, splitting it as "<ISO timestamp>\t<detail>" for its report, so
// bodies this SDK writes start with exactly that line (the time of the write,
// in UTC with a Z, then a tab, then the error details or reason), and the
// SDK's own record follows on the next line as a small JSON document. Every
// body carries a fresh Nonce so that two writes never share an ETag (every
// empty object has the same one). ParseBody reads these, the SDK's earlier
// all-JSON bodies, and every legacy body.
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
	// sentinel (TransitionRequest.IdempotencyKey).
	Op string `json:"op,omitempty"`

	// Legacy is true for a body this SDK did not write (empty, a timestamp,
	// "timestamp<TAB>message", or free text).
	Legacy bool `json:"-"`
}

func newNonce() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// encode renders the body with a fresh nonce, and returns the nonce: the
// legacy line, a newline, then the JSON record.
func (b Body) encode() ([]byte, string) {
	b.Format = bodyFormat
	b.Nonce = newNonce()
	out, _ := json.Marshal(b)
	detail := b.ErrorDetails
	if detail == "" {
		detail = b.Reason
	}
	detail = strings.Map(func(r rune) rune { // one line, one tab: the legacy split stays exact
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		return r
	}, detail)
	at := b.At
	if at.IsZero() {
		at = time.Now()
	}
	line := at.UTC().Format("2006-01-02T15:04:05.000000") + "Z\t" + detail + "\n"
	return append([]byte(line), out...), b.Nonce
}

// ParseBody reads any sentinel body: this SDK's JSON, or a legacy one (empty,
// an ISO timestamp, "timestamp<TAB>message", or free text, kept as Reason). It
// never fails: what it cannot read as a time becomes the reason.
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
