package sentinel

import (
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
