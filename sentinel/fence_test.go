package sentinel_test

import (
	"errors"
	"fmt"
	"math"
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
				if base := o.Key[strings.LastIndex(o.Key, "/")+1:]; base != "_READY" && base != ".worksetstate" && !strings.HasPrefix(base, ".worksetstate-fence-") {
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

// A fence object naming the largest token can never make the next token
// smaller (issue 23, 7: max(now, token+1) wrapped around): the lease and the
// delete that would need a larger token are refused, changing nothing.
func TestFenceAtTheLargestTokenNeverGoesBackwards(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := dirBucket(t)
	s := newStore(t, b)
	if _, err := s.Register(ctx, workset.RegisterRequest{ID: "ws"}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "worksets/ws/.worksetstate-fence-9223372036854775807", sentinel.Content{}); err != nil {
		t.Fatal(err)
	}
	l, err := s.AcquireLease(ctx, "ws", "m", time.Minute)
	if err == nil {
		t.Fatalf("a lease was issued with token %d after the largest token", l.Token)
	}
	if !errors.Is(err, workset.ErrConflict) || !strings.Contains(err.Error(), "largest") {
		t.Errorf("refusal %v; want ErrConflict naming the exhausted token", err)
	}
	if err := s.Delete(ctx, "ws", 0); !errors.Is(err, workset.ErrConflict) {
		t.Errorf("Delete: %v; want ErrConflict", err)
	}
	if w, err := s.Get(ctx, "ws"); err != nil || w.Lease != nil || w.State != workset.StateReady || w.FencingToken != math.MaxInt64 {
		t.Errorf("after the refusals: %+v, %v", w, err)
	}
}

// List comes in the key order of the folders, as its doc says (issue 23, 7:
// it said ID order), and cursors follow it: "ws-1-x/" lists before "ws-1/",
// and pages of one visit each once.
func TestListComesInFolderKeyOrder(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t, dirBucket(t))
	for _, id := range []string{"ws-1", "ws-1-x", "ws-10", "ws-0"} {
		if _, err := s.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := workset.ListQuery{Limit: 1}
	for {
		p, err := s.List(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range p.Worksets {
			got = append(got, w.ID)
		}
		if p.Cursor == "" {
			break
		}
		q.Cursor = p.Cursor
	}
	if want := []string{"ws-0", "ws-1-x", "ws-1", "ws-10"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pages of one listed %v, want %v (folder key order)", got, want)
	}
}
