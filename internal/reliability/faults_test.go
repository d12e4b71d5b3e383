package reliability

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/internal/legacy"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/internal/transport"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// env is a bucket and a table reachable through faulty and clean clients.
type env struct {
	bucket             string
	table              string
	faults             *transport.Faults
	counter            *transport.Counter
	cleanS3, faultyS3  *s3.Client
	cleanDDB, faultDDB *dynamodb.Client
}

func newEnv(t *testing.T, seed uint64, rate float64, attempts int) *env {
	t.Helper()
	e := &env{faults: transport.NewFaults(nil, seed, rate)}
	e.counter = &transport.Counter{Next: e.faults}
	hc := &http.Client{Transport: e.counter}
	e.cleanS3 = testenv.S3(t)
	e.faultyS3 = testenv.S3(t, func(o *s3.Options) { o.HTTPClient, o.RetryMaxAttempts = hc, attempts })
	e.cleanDDB = testenv.DynamoDB(t)
	e.faultDDB = testenv.DynamoDB(t, func(o *dynamodb.Options) { o.HTTPClient, o.RetryMaxAttempts = hc, attempts })
	e.bucket = testenv.Bucket(t, e.cleanS3)
	e.table = testenv.UniqueName("rel")
	st, err := dynamostore.New(e.cleanDDB, e.table)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) stores(t *testing.T, faulty bool) (*sentinel.Store, *dynamostore.Store) {
	t.Helper()
	s3c, ddbc := e.cleanS3, e.cleanDDB
	if faulty {
		s3c, ddbc = e.faultyS3, e.faultDDB
	}
	b, err := sentinel.NewS3Bucket(s3c, e.bucket)
	if err != nil {
		t.Fatal(err)
	}
	legacyStore, err := sentinel.New(b, func(o *sentinel.Options) { o.NoSentinel = sentinel.NoSentinelReady })
	if err != nil {
		t.Fatal(err)
	}
	ddb, err := dynamostore.New(ddbc, e.table)
	if err != nil {
		t.Fatal(err)
	}
	return legacyStore, ddb
}

// A migration of 3,000 worksets with 10% of requests failing converges: nothing
// lost, duplicated or wrong, and a rerun writes nothing.
func TestMigrationConvergesUnderFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, 0.10, 6)
	cleanBucket, err := sentinel.NewS3Bucket(e.cleanS3, e.bucket)
	if err != nil {
		t.Fatal(err)
	}
	layout, err := legacy.Seed(t.Context(), cleanBucket, "worksets/", sentinel.GuideNaming(), 3000, 3)
	if err != nil {
		t.Fatal(err)
	}
	src, dst := e.stores(t, true)
	m, err := migrate.New(src, dst, func(o *migrate.Options) { o.RetryBase = 5 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	// Converge: an interrupted run is simply run again.
	runs := 0
	for ; runs < 5; runs++ {
		res, err := m.Apply(t.Context(), nil)
		if err == nil && len(res.Errors) == 0 && res.Outcomes[migrate.OutcomeConflict] == 0 {
			break
		}
		t.Logf("run %d: err=%v failures=%d outcomes=%v", runs+1, err, len(res.Errors), res.Outcomes)
	}
	if runs == 5 {
		t.Fatal("did not converge in 5 runs")
	}
	t.Logf("converged after %d run(s); faults fired: %v", runs+1, e.faults.Counts())
	if total := sum(e.faults.Counts()); total < 100 {
		t.Fatalf("only %d faults fired: the test proves little", total)
	}
	cleanSrc, cleanDst := e.stores(t, false)
	want := layout.Expected(sentinel.NoSentinelReady)
	n := 0
	for w, err := range workset.Scan(t.Context(), cleanDst, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if want[w.ID] != w.State {
			t.Errorf("%s migrated as %s, want %s", w.ID, w.State, want[w.ID])
		}
		migrated := 0
		for _, h := range w.History {
			if h.Reason == migrate.DefaultReason {
				migrated++
			}
		}
		if migrated != 1 || w.Version != 1 {
			t.Errorf("%s written more than once: %d migration entries, version %d", w.ID, migrated, w.Version)
		}
	}
	if n != len(want) {
		t.Errorf("%d worksets migrated, want %d", n, len(want))
	}
	clean, err := migrate.New(cleanSrc, cleanDst)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := clean.Verify(t.Context(), nil); err != nil || res.Discrepancies() != 0 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
	e.faults.SetRate(0)
	e.counter.Reset()
	if _, err := m.Apply(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if c := e.counter.Counts(); c["PutItem"]+c["UpdateItem"] != 0 {
		t.Errorf("rerun wrote: %v", c)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// A DualWriter whose mirror (DynamoDB) fails a third of its requests records
// every divergence; the Migrator repairs them and verify reports zero.
func TestDualWriterDivergencesRepaired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2, 0.30, 1) // no SDK retries: failures reach the DualWriter
	legacyStore, _ := e.stores(t, false)
	if _, err := legacyStore.Probe(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, faultyDDB := e.stores(t, true)
	w, err := dualwrite.New(legacyStore, faultyDDB, func(o *dualwrite.Options) { o.Phase = dualwrite.LegacyPrimary })
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 15 {
				id := fmt.Sprintf("dw-%d-%02d", g, i)
				if _, err := w.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
					continue
				}
				l, err := w.AcquireLease(ctx, id, fmt.Sprint("m", g), time.Minute)
				if err != nil {
					continue
				}
				// Faults are injected into both stores: any of these may fail,
				// and what matters is the convergence checked below.
				_, _ = w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress, Lease: l})
				if i%3 == 0 {
					_, _ = w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateError, Lease: l, ErrorDetails: "exit 1"})
				} else {
					_, _ = w.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateComplete, Lease: l})
				}
				_ = w.ReleaseLease(ctx, *l)
			}
		}()
	}
	wg.Wait()
	recorded := map[string]bool{}
	for _, id := range w.Divergences().(*dualwrite.MemoryLog).IDs() {
		recorded[id] = true
	}
	_, cleanDDB := e.stores(t, false)
	diverged := 0
	for ws, err := range workset.Scan(ctx, legacyStore, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		other, err := cleanDDB.Get(ctx, ws.ID)
		if err != nil || other.State != ws.State {
			diverged++
			if !recorded[ws.ID] {
				t.Errorf("%s diverged silently: legacy %s, DynamoDB %v/%v", ws.ID, ws.State, other, err)
			}
		}
	}
	t.Logf("%d worksets diverged, %d recorded; faults fired: %v", diverged, len(recorded), e.faults.Counts())
	if diverged == 0 {
		t.Fatal("no divergence: the test proves nothing")
	}
	m, err := migrate.New(legacyStore, cleanDDB, func(o *migrate.Options) { o.OnConflict = migrate.SourceWins })
	if err != nil {
		t.Fatal(err)
	}
	if res, err := m.Apply(ctx, nil); err != nil || len(res.Errors) > 0 {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	if res, err := m.Verify(ctx, nil); err != nil || res.Discrepancies() != 0 {
		t.Fatalf("verify after repair: %+v, %v", res.Kinds, err)
	}
}

// Sentinel writes whose responses are lost after they applied are neither
// applied twice nor reported as failures.
func TestSentinelAmbiguousWrites(t *testing.T) {
	t.Parallel()
	// Every other PutObject response is lost after the write applied: each
	// write's first attempt, so the SDK's retry meets the write it made.
	var puts atomic.Int64
	fault := &transport.AmbiguousFailure{Times: 1 << 30, Match: func(r *http.Request) bool {
		return transport.Operation(r) == "PutObject" && puts.Add(1)%2 == 1
	}}
	s3c := testenv.S3(t, func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: fault} })
	name := testenv.Bucket(t, testenv.S3(t))
	b, err := sentinel.NewS3Bucket(s3c, name)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sentinel.New(b, func(o *sentinel.Options) { o.AllowRacyWrites = true })
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "a"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	l, err := st.AcquireLease(ctx, "a", "me", time.Minute)
	if err != nil {
		t.Fatalf("acquire: %v", err)
	}
	for _, to := range []workset.State{workset.StateInProgress, workset.StateComplete} {
		if _, err := st.Transition(ctx, workset.TransitionRequest{ID: "a", To: to, Lease: l}); err != nil {
			t.Fatalf("transition to %s: %v", to, err)
		}
	}
	if l, err = st.RenewLease(ctx, *l, time.Minute); err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := st.ReleaseLease(ctx, *l); err != nil {
		t.Fatalf("release: %v", err)
	}
	w, err := st.Get(ctx, "a")
	if err != nil || w.State != workset.StateComplete || w.Lease != nil {
		t.Fatalf("final %+v, %v", w, err)
	}
	if fault.Hits() < 5 {
		t.Fatalf("only %d lost responses: the test proves little", fault.Hits())
	}
}
