package dynamostore

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// FuzzDecodeItem feeds decode items whose fields hold arbitrary values: it
// must never panic, and what it accepts must re-encode.
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
		if !w.State.Valid() || !w.Priority.Valid() {
			t.Fatalf("decode accepted %+v", w)
		}
		if _, err := encode(w, "op"); err != nil {
			t.Fatalf("re-encoding a decoded item: %v", err)
		}
	})
}
