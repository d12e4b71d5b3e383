package migrate_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// End to end against versitygw and dynalite: legacy layouts migrated exactly,
// a rerun writes nothing, verify reports zero, a live monitor is never
// overwritten, rollback rebuilds the sentinels, cleanup removes sentinels only.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		naming sentinel.Naming
		policy sentinel.NoSentinel
		root   string
	}{
		{"guide", sentinel.GuideNaming(), sentinel.NoSentinelReady, "worksets/"},
		{"daylily", sentinel.DaylilyNaming(), sentinel.NoSentinelSkip, "daylily_monitoring/active_worksets/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s3c := testenv.S3(t)
			bucket, err := sentinel.NewS3Bucket(s3c, testenv.Bucket(t, s3c))
			if err != nil {
				t.Fatal(err)
			}
			layout, err := legacy.Seed(ctx, bucket, tc.root, tc.naming, 2500, 11)
			if err != nil {
				t.Fatal(err)
			}
			// The legacy monitors are stopped: their lock files (written seconds
			// ago by the seeding) count as stale, so cleanup may remove them.
			legacyStore, err := sentinel.New(bucket, func(o *sentinel.Options) {
				o.Root, o.Naming, o.NoSentinel, o.LegacyLockTTL = tc.root, tc.naming, tc.policy, time.Nanosecond
			})
			if err != nil {
				t.Fatal(err)
			}
			counter := &transport.Counter{}
			ddb, err := dynamostore.New(testenv.DynamoDB(t, func(o *dynamodb.Options) { o.HTTPClient = &http.Client{Transport: counter} }), testenv.UniqueName("e2e"))
			if err != nil {
				t.Fatal(err)
			}
			if err := ddb.CreateTable(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			// A live monitor moves ten records right before the migrator's write.
			monitored := map[string]bool{}
			for _, w := range layout.Worksets[:40] {
				if w.State == workset.StateComplete && len(monitored) < 10 {
					monitored[w.ID] = true
					if _, err := ddb.Register(ctx, workset.RegisterRequest{ID: w.ID, Bucket: bucket.Name(), Prefix: legacyStore.Prefix(w.ID)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			dst := &counting{StateStore: ddb, before: func(id string) {
				if monitored[id] {
					if _, err := ddb.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Reason: "live monitor"}); err != nil {
						t.Errorf("monitor: %v", err)
					}
				}
			}}
			m, err := migrate.New(legacyStore, dst)
			if err != nil {
				t.Fatal(err)
			}
			want := layout.Expected(tc.policy)
			counter.Reset()
			res, err := m.Apply(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Errors) > 0 || res.Outcomes[migrate.OutcomeConflict] != int64(len(monitored)) {
				t.Fatalf("apply: %+v failures %v", res.Outcomes, res.Errors)
			}
			writes := counter.Counts()["UpdateItem"] + counter.Counts()["PutItem"]
			created := res.Outcomes[migrate.OutcomeCreated]
			if created != int64(len(want)-len(monitored)) {
				t.Errorf("created %d, want %d", created, len(want)-len(monitored))
			}
			t.Logf("%s: %d worksets, %d DynamoDB writes (incl. %d monitor writes), %v", tc.name, len(want), writes, len(monitored), res.Elapsed)
			if float64(writes-len(monitored)) > 1.05*float64(created) {
				t.Errorf("%d DynamoDB writes for %d created records", writes, created)
			}
			got := map[string]workset.State{}
			for w, err := range workset.Scan(ctx, ddb, workset.ListQuery{}) {
				if err != nil {
					t.Fatal(err)
				}
				got[w.ID] = w.State
				if monitored[w.ID] {
					if w.State != workset.StateInProgress {
						t.Errorf("%s: the monitor's write was overwritten (state %s)", w.ID, w.State)
					}
					got[w.ID] = want[w.ID] // for the comparison below
				} else if w.Metadata["migrated_from_s3"] != true || w.Bucket != bucket.Name() || !strings.HasSuffix(w.Prefix, w.ID+"/") {
					t.Errorf("%s: record %+v", w.ID, w)
				}
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Fatalf("migrated states (-want +got):\n%s", d)
			}
			// The monitor's worksets are then brought back in line; a rerun of the
			// rest writes nothing.
			for id := range monitored {
				if _, err := ddb.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete}); err != nil {
					t.Fatal(err)
				}
			}
			dst.before = nil
			counter.Reset()
			if res, err = m.Apply(ctx, nil); err != nil || res.Outcomes[migrate.OutcomeUnchanged] != int64(len(want)) {
				t.Fatalf("rerun: %+v, %v", res, err)
			}
			if n := counter.Counts()["UpdateItem"] + counter.Counts()["PutItem"]; n != 0 {
				t.Errorf("rerun made %d DynamoDB writes", n)
			}
			if res, err = m.Verify(ctx, nil); err != nil || res.Discrepancies() != 0 {
				t.Fatalf("verify: %+v, %v", res.Kinds, err)
			}
			// Phase 3 moves some worksets on in DynamoDB; rollback rebuilds the sentinels.
			moved := 0
			for _, w := range layout.Worksets {
				if want[w.ID] == workset.StateReady && moved < 25 {
					if _, err := ddb.Transition(ctx, workset.TransitionRequest{ID: w.ID, To: workset.StateInProgress}); err != nil {
						t.Fatal(err)
					}
					want[w.ID] = workset.StateInProgress
					moved++
				}
			}
			back := m.Reverse()
			if res, err = back.Apply(ctx, nil); err != nil || res.Outcomes[migrate.OutcomeUpdated] != int64(moved) || len(res.Errors) > 0 {
				t.Fatalf("rollback: %+v %v, %v", res.Outcomes, res.Errors, err)
			}
			for _, w := range layout.Worksets[:200] {
				if s, ok := want[w.ID]; ok {
					g, err := legacyStore.Get(ctx, w.ID)
					if err != nil || g.State != s {
						t.Errorf("after rollback %s = %v, %v; want %s", w.ID, g, err, s)
					}
				}
			}
			// Cleanup removes sentinel objects of verified worksets and nothing else.
			if res, err = m.Cleanup(ctx, false, nil); err != nil || res.Outcomes[migrate.OutcomeDeleted] != int64(len(want)) || len(res.Errors) > 0 {
				t.Fatalf("cleanup: %+v %v, %v", res.Outcomes, res.Errors, err)
			}
			in := sentinel.ListInput{Prefix: tc.root}
			data := 0
			for {
				out, err := bucket.List(ctx, in)
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range out.Objects {
					name := o.Key[strings.LastIndex(o.Key, "/")+1:]
					rest := strings.TrimPrefix(o.Key, tc.root)
					if _, isSentinel := sentinelNames(tc.naming)[name]; isSentinel && strings.Count(rest, "/") == 1 {
						if _, kept := want[strings.Split(rest, "/")[0]]; kept {
							t.Errorf("sentinel left after cleanup: %s", o.Key)
						}
					}
					data++
				}
				if out.NextContinuationToken == "" {
					break
				}
				in.ContinuationToken = out.NextContinuationToken
			}
			wantData := 0
			for i := range layout.Worksets {
				wantData += 2
				if i%7 == 0 {
					wantData += 2
				}
			}
			if data != wantData {
				t.Errorf("%d objects left after cleanup, want the %d data files and decoys", data, wantData)
			}
		})
	}
}

func sentinelNames(n sentinel.Naming) map[string]bool {
	out := map[string]bool{}
	for _, v := range n.Names {
		out[v] = true
	}
	return out
}
