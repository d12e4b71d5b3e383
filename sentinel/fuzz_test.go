package sentinel_test

import (
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{"", "2024-01-15T10:00:00Z", "2024-01-15T10:00:00Z\tboom", "free text", `{"format":"worksetstate/1","owner":"a","token":3}`, "{", "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b := sentinel.ParseBody(data)
		if b.Legacy && (b.Owner != "" || b.Token != 0) {
			t.Fatalf("a legacy body claims a lease: %+v", b)
		}
	})
}

// FuzzListingKeys lists a bucket holding one arbitrary key beside a normal
// workset: nothing panics, only valid IDs come out, and the normal workset
// keeps its state.
func FuzzListingKeys(f *testing.F) {
	for _, k := range []string{"worksets/ws-2/_COMPLETE", "worksets/ws-1/data/_COMPLETE", "worksets/_READY", "worksets//_READY", "worksets/a b/_ERROR", "worksets/ws-1/_LOCKED", "other/x/_READY"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		now := time.Now()
		objs := []sentinel.Object{{Key: "worksets/ws-1/_READY", LastModified: now}, {Key: key, LastModified: now}}
		if objs[1].Key < objs[0].Key {
			objs[0], objs[1] = objs[1], objs[0]
		}
		st, err := sentinel.New(&listing{objs: objs}, func(o *sentinel.Options) { o.AllowRacyWrites = true })
		if err != nil {
			t.Fatal(err)
		}
		for w, err := range st.Scan(t.Context(), workset.ListQuery{}) {
			if err != nil {
				return // a lock object cannot be read from this listing
			}
			if workset.ValidateID(w.ID) != nil {
				t.Fatalf("invalid ID %q listed from key %q", w.ID, key)
			}
			if w.ID == "ws-1" && w.State != workset.StateReady && !strings.HasPrefix(key, "worksets/ws-1/") {
				t.Fatalf("key %q changed ws-1 to %s", key, w.State)
			}
		}
	})
}
