package sentinel_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
)

type offsetClock time.Duration

func (o offsetClock) Now() time.Time { return time.Now().Add(time.Duration(o)) }

// Fencing tokens only grow across release and re-acquire, whatever the
// acquirers' clocks say, and a released workset leaves nothing a legacy
// reader would take for a lock.
func TestFencingTokensGrowAcrossReleaseWithSkewedClocks(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{500 * time.Millisecond, 5 * time.Second} {
		for name, b := range map[string]sentinel.Bucket{"s3": s3Bucket(t), "dir": dirBucket(t)} {
			ahead := newStore(t, b, func(o *sentinel.Options) { o.Clock = offsetClock(skew) })
			behind := newStore(t, b, func(o *sentinel.Options) { o.Clock = offsetClock(-skew) })
			ctx := t.Context()
			id := fmt.Sprintf("ws-%v", skew)
			if _, err := ahead.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
				t.Fatal(err)
			}
			var tokens []int64
			for round := range 6 {
				s, owner := ahead, "ahead"
				if round%2 == 1 {
					s, owner = behind, "behind"
				}
				l, err := s.AcquireLease(ctx, id, owner, time.Minute)
				if err != nil {
					t.Fatalf("%s/%v round %d: %v", name, skew, round, err)
				}
				tokens = append(tokens, l.Token)
				if err := s.ReleaseLease(ctx, *l); err != nil {
					t.Fatal(err)
				}
				w, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if w.Lease != nil || w.State != workset.StateReady {
					t.Fatalf("after release: %s, lease %+v", w.State, w.Lease)
				}
			}
			for i := 1; i < len(tokens); i++ {
				if tokens[i] <= tokens[i-1] {
					t.Errorf("%s, clocks ±%v apart: tokens %v do not grow", name, skew, tokens)
					break
				}
			}
			t.Logf("%s, clocks ±%v: tokens %v", name, skew, tokens)
			// No lock object is left: only the ready sentinel and the fence.
			out, err := b.List(ctx, sentinel.ListInput{Prefix: ahead.Prefix(id)})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Objects {
				if base := o.Key[strings.LastIndex(o.Key, "/")+1:]; base != "_READY" && !strings.HasPrefix(base, ".worksetstate-fence-") {
					t.Errorf("%s: released workset keeps %s", name, o.Key)
				}
			}
		}
	}
}

func dirBucket(t *testing.T) *sentinel.DirBucket {
	t.Helper()
	b, err := sentinel.NewDirBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
