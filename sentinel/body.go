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
)

// maxBody bounds how much of a sentinel body is read.
const maxBody = 64 << 10

// bodyFormat marks bodies this SDK wrote.
const bodyFormat = "worksetstate/1"

// minOwnBody is a lower bound on the size of any body this SDK writes (format,
// time and nonce are always there): a smaller object is a legacy one.
const minOwnBody = 80

// Body is the content of a sentinel object. Bodies this SDK writes are small
// JSON documents; legacy readers only test for the object's existence, so the
// content is invisible to them. Every body carries a fresh Nonce so that two
// writes never share an ETag (every empty object has the same one).
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

// encode renders the body with a fresh nonce, and returns the nonce.
func (b Body) encode() ([]byte, string) {
	b.Format = bodyFormat
	b.Nonce = newNonce()
	out, _ := json.Marshal(b)
	return out, b.Nonce
}

// ParseBody reads any sentinel body: this SDK's JSON, or a legacy one (empty,
// an ISO timestamp, "timestamp<TAB>message", or free text, kept as Reason). It
// never fails: what it cannot read as a time becomes the reason.
func ParseBody(data []byte) Body {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var b Body
		if json.Unmarshal(data, &b) == nil && b.Format == bodyFormat {
			return b
		}
	}
	b := Body{Legacy: true}
	if !utf8.Valid(data) {
		return b
	}
	text := string(data)
	ts, msg, hasTab := strings.Cut(text, "\t")
	if t, err := workset.ParseTime(ts); err == nil {
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
