package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// Transitions under random 0–2 ms deadlines (growing on each try), each retried by the caller with
// the same idempotency key until it succeeds: every retry loop ends in
// success, and each change is applied exactly once, on every store. (The
// short deadlines abort requests mid-flight on purpose.)
func TestCallerRetriesWithIdempotencyKeys(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) workset.StateStore{
		"memory": func(t *testing.T) workset.StateStore {
			s, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"dynamodb": func(t *testing.T) workset.StateStore {
			s, err := dynamostore.New(testenv.DynamoDB(t), testenv.UniqueName("idem"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTable(t.Context(), time.Minute); err != nil {
				t.Fatal(err)
			}
			return s
		},
		"sentinel-s3": func(t *testing.T) workset.StateStore {
			c := testenv.S3(t)
			b, err := sentinel.NewS3Bucket(c, testenv.Bucket(t, c))
			if err != nil {
				t.Fatal(err)
			}
			s, err := sentinel.New(b)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"dualwrite": func(t *testing.T) workset.StateStore {
			a, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			b, err := memstore.New()
			if err != nil {
				t.Fatal(err)
			}
			w, err := dualwrite.New(a, b, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })
			if err != nil {
				t.Fatal(err)
			}
			return w
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mk(t)
			ctx := t.Context()
			const worksets = 100
			for i := range worksets {
				if _, err := s.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("r-%03d", i)}); err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(3, 4))
			retried, attempts := 0, 0
			for i := range worksets {
				id := fmt.Sprintf("r-%03d", i)
				for step, to := range []workset.State{workset.StateInProgress, workset.StateComplete} {
					req := workset.TransitionRequest{ID: id, To: to, Reason: fmt.Sprintf("step %d", step), IdempotencyKey: fmt.Sprintf("%s/%d", id, step)}
					for try := 0; ; try++ {
						attempts++
						// 0–2 ms first, then longer, so that some attempts apply
						// and lose their answer (the ambiguous case), then 30 s.
						deadline := time.Duration(rng.IntN(2001)<<(2*try)) * time.Microsecond
						if try >= 5 {
							deadline = 30 * time.Second // the caller stops being impatient
						}
						tctx, cancel := context.WithTimeout(ctx, deadline)
						_, err := s.Transition(tctx, req)
						cancel()
						if err == nil {
							break
						}
						if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
							t.Fatalf("%s -> %s (try %d): %v", id, to, try, err)
						}
						if try >= 6 {
							t.Fatalf("%s -> %s: no success after %d tries: %v", id, to, try+1, err)
						}
						retried++
					}
				}
				w, err := s.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if w.State != workset.StateComplete {
					t.Errorf("%s ended %s", id, w.State)
				}
				if s.Capabilities().Kept.History {
					n := map[string]int{}
					for _, h := range w.History {
						n[h.Reason]++
					}
					if n["step 0"] != 1 || n["step 1"] != 1 {
						t.Errorf("%s: history %+v: a change applied more than once (or never)", id, w.History)
					}
				}
			}
			// A forced request the graph would allow again is still applied once.
			forced := workset.TransitionRequest{ID: "r-000", To: workset.StateReady, Force: true, Reason: "forced requeue", IdempotencyKey: "r-000/force"}
			for range 2 {
				if _, err := s.Transition(ctx, forced); err != nil {
					t.Fatal(err)
				}
			}
			if s.Capabilities().Kept.History {
				w, err := s.Get(ctx, "r-000")
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, h := range w.History {
					if h.Reason == "forced requeue" {
						n++
					}
				}
				if n != 1 {
					t.Errorf("a forced keyed transition sent twice was applied %d times", n)
				}
			}
			t.Logf("%d transitions, %d attempts, %d retried after a deadline", 2*worksets, attempts, retried)
		})
	}
}
