// Package storetest is the conformance suite every workset.StateStore passes.
//
// A backend's test calls Run with a Harness that makes fresh stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
//				s, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
//				if err != nil {
//					t.Fatal(err)
//				}
//				return s
//			},
//		})
//	}
//
// Parts a store cannot support (per its Capabilities) are skipped with a logged
// reason, never silently.
package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/google/go-cmp/cmp"
)

// Harness makes stores for the suite.
type Harness struct {
	// NewStore returns a fresh, empty store that tells time with clock. It is
	// called once per subtest, possibly from parallel subtests.
	NewStore func(t *testing.T, clock workset.Clock) workset.StateStore
	// SkewMargin is the lease skew margin the stores are configured with.
	SkewMargin time.Duration
	// Sequential runs subtests one at a time (for stores that share a server
	// that dislikes parallel load).
	Sequential bool
	// Faulty, when set, returns a store whose infrastructure fails with the
	// given kind: workset.ErrUnavailable (its server does not answer: a closed
	// port) or workset.ErrMisconfigured (its table or bucket is missing, or its
	// credentials are refused). The suite checks that every call then fails
	// with that kind, in the contract's format. Without it that case is
	// skipped, with the reason logged.
	Faulty func(t *testing.T, kind error) workset.StateStore
}

// Start is the time the suite's clocks start at.
var Start = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

type env struct {
	h     *Harness
	t     testing.TB
	ctx   context.Context
	s     workset.StateStore
	clock *Clock
	caps  workset.Capabilities
	skew  time.Duration
}

// suite is the conformance suite: each group is one concern of the contract,
// each case one behaviour, named for what a store must do (run one with
// go test -run 'Conformance/Leases/ExpiredLeaseIsTakenOverAndFenced').
var suite = []struct {
	group string
	cases []behaviour
}{
	{"Register", []behaviour{
		{"StoresAReadyRecordWithOneHistoryEntry", testRegister},
		{"RefusesBadRequestsWritingNothing", testRegisterInvalid},
		{"GetOfAMissingIDIsNotFound", testGetMissing},
	}},
	{"Transitions", []behaviour{
		{"FollowTheGraphAndRecordHistory", testTransitions},
		{"RefuseUnmetExpectations", testTransitionConflicts},
		{"RefuseBadRequestsWritingNothing", testTransitionInvalidInput},
		{"KeepLifecycleBookkeeping", testLifecycle},
		{"ConcurrentMovesFromOneStateApplyOnce", testRaceTransition},
		{"IdempotencyKeysApplyOnce", testIdempotencyKeys},
		{"ExpectationsHoldUnderRaces", testExpectationsUnderRaces},
	}},
	{"Records", []behaviour{
		{"MetadataRoundTrips", testMetadata},
		{"ValuesFollowTheValueModel", testValueModel},
		{"ImportWritesWholeRecords", testImport},
		{"DeleteRemovesRecords", testDelete},
		{"NotesChangeNothingButTheHistory", testNote},
		{"AbilitiesTellTheTruth", testAbilitiesTellTheTruth},
	}},
	{"Reads", []behaviour{
		{"ListPagesVisitEveryMatchOnce", testListPaging},
		{"ReadyQueueComesInPriorityOrder", testReadyQueue},
		{"ListRefusesBadQueries", testListInvalid},
		{"ListByCustomerSelectsByAttribute", testListByCustomer},
		{"ScanVisitsEveryMatchOnce", testScan},
		{"GetManyReturnsThePresentOnes", testGetMany},
		{"CursorsHoldWhileWorksetsAreClaimed", testCursorsWhileClaiming},
	}},
	{"Leases", []behaviour{
		{"AcquireRenewReleaseWithGrowingTokens", testLeases},
		{"ExpiredLeaseIsTakenOverAndFenced", testLeaseExpiry},
		{"RefuseBadRequests", testLeaseInvalid},
		{"ConcurrentAcquisitionsHaveOneWinner", testRaceLease},
		{"ClaimLeasesAndStartsTogether", testClaim},
		{"ForeignWorkIsNeverTakenOver", testForeignWork},
		{"LeaseWritesBumpVersionAndUpdatedAt", testLeaseWritesBumpVersion},
	}},
	{"Retries", []behaviour{
		{"RecordFailureRetriesThenFails", testRecordFailure},
		{"ConcurrentFailuresLoseNoCount", testRecordFailureRace},
		{"HugeDetailsAreBoundedAndLoseNoCount", testHugeDetails},
		{"SuccessClearsTheFailureFields", testSuccessAfterFailure},
	}},
	{"Context", []behaviour{
		{"CanceledCallsFailWithTheContextErrorWritingNothing", testCanceledContext},
	}},
	{"Faults", []behaviour{
		{"InfrastructureFaultsHaveTheirKinds", testFaultKinds},
	}},
}

// behaviour is one case of the suite.
type behaviour struct {
	name string
	fn   func(e *env)
}

// Run runs the conformance suite, one subtest a behaviour, grouped by concern.
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, g := range suite {
		t.Run(g.group, func(t *testing.T) {
			if !h.Sequential {
				t.Parallel()
			}
			for _, tc := range g.cases {
				t.Run(tc.name, func(t *testing.T) {
					if !h.Sequential {
						t.Parallel()
					}
					clock := NewClock(Start)
					s := h.NewStore(t, clock)
					tc.fn(&env{h: &h, t: t, ctx: t.Context(), s: s, clock: clock, caps: s.Capabilities(), skew: h.SkewMargin})
				})
			}
		})
	}
}

func (e *env) skipUnless(ok bool, reason string) {
	e.t.Helper()
	if !ok {
		e.t.Skipf("store lacks capability: %s", reason)
	}
}

func (e *env) register(id string, p workset.Priority) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Register(e.ctx, workset.RegisterRequest{ID: id, Priority: p, Bucket: "bkt", Prefix: "worksets/" + id + "/"})
	if err != nil {
		e.t.Fatalf("Register(%s): %v", id, err)
	}
	return w
}

func (e *env) get(id string) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Get(e.ctx, id)
	if err != nil {
		e.t.Fatalf("Get(%s): %v", id, err)
	}
	return w
}

func (e *env) transition(req workset.TransitionRequest) *workset.Workset {
	e.t.Helper()
	w, err := e.s.Transition(e.ctx, req)
	if err != nil {
		e.t.Fatalf("Transition(%s -> %s): %v", req.ID, req.To, err)
	}
	return w
}

func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// unchanged fails unless the stored record equals before (ignoring nothing).
func (e *env) unchanged(before *workset.Workset, what string) {
	e.t.Helper()
	after := e.get(before.ID)
	if d := cmp.Diff(before, after); d != "" {
		e.t.Fatalf("%s changed the stored record (-before +after):\n%s", what, d)
	}
}
