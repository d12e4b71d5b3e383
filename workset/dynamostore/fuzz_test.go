package dynamostore

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FuzzDecodeItem feeds decode items whose fields hold arbitrary values: it
// must never panic, what it accepts has a state (known, or kept as written)
// and a deployed priority, and it must re-encode.
func FuzzDecodeItem(f *testing.F) {
	f.Add("ready", "2024-01-15T10:00:00Z", "3", "normal", "2024-01-15T10:00:00+00:00", "owner-1", true)
	f.Add("COMPLETE", "2024-01-15T10:00:00.5", "x", "", "", "", false)
	f.Add("", "not a time", "1e3", "high", "2024-13-01T00:00:00Z", "o", true)
	f.Fuzz(func(t *testing.T, state, created, version, priority, lockExp, owner string, withHistory bool) {
		s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
		it := item{
			attrID: s("ws-1"), attrState: s(state), attrCreatedAt: s(created), attrPriority: s(priority),
			attrVersion: &types.AttributeValueMemberN{Value: version},
		}
		if owner != "" {
			it[attrLockOwner], it[attrLockExpiresAt] = s(owner), s(lockExp)
		}
		if withHistory {
			it[attrHistory] = &types.AttributeValueMemberL{Value: []types.AttributeValue{
				&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"state": s(state), "timestamp": s(created), "reason": s(owner)}},
				s(version), // not a map
			}}
		}
		w, _, err := decode(it)
		if err != nil {
			return
		}
		// A state this SDK does not model is kept as written (a later deployed
		// version may write one: see storekit.ReadState); a known one in any
		// case is normalised. The priority is always one of the deployed ones.
		if w.State == "" || (!w.State.Valid() && string(w.State) != state) || !w.Priority.Valid() {
			t.Fatalf("decode accepted %+v from state %q, priority %q", w, state, priority)
		}
		if _, err := encode(w, "op"); err != nil {
			t.Fatalf("re-encoding a decoded item: %v", err)
		}
	})
}
