package dynamostore

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Attribute names. The first group is the deployed schema; the second is what
// this SDK adds, each for a reason:
//   - version: optimistic concurrency (ExpectedVersion), bumped on every write;
//   - lease_token: the fencing counter, only ever incremented, kept after release;
//   - lease_expires_ms: the lease expiry as a number, so conditions compare
//     numbers instead of timestamps of mixed string formats; present only while
//     this SDK's lease is held (removed with the lock attributes);
//   - lease_lock_expires_at: a copy of the lock_expires_at string this SDK wrote
//     with its lease. The deployed code never writes the SDK's attributes, so
//     after a Python monitor takes a lock over (or releases it and locks again)
//     lease_expires_ms and lease_token are stale. They describe the lock only
//     while lock_expires_at still equals this copy: every condition and every
//     read checks that (see ours), and otherwise treats the lock as another
//     tool's, judged by its parsed timestamps;
//   - last_op: the id of the last write, so a retry after an ambiguous failure
//     can tell whether its own write applied.
const (
	attrID             = "workset_id"
	attrState          = "state"
	attrPriority       = "priority"
	attrBucket         = "bucket"
	attrPrefix         = "prefix"
	attrCreatedAt      = "created_at"
	attrUpdatedAt      = "updated_at"
	attrHistory        = "state_history"
	attrMetadata       = "metadata"
	attrLockOwner      = "lock_owner"
	attrLockAcquiredAt = "lock_acquired_at"
	attrLockExpiresAt  = "lock_expires_at"
	attrErrorDetails   = "error_details"
	attrErrorCategory  = "error_category"
	attrClusterName    = "cluster_name"
	attrMetrics        = "metrics"

	attrRetryCount = "retry_count"
	attrRetryAfter = "retry_after"
	attrFailedStep = "failed_step"
	attrMaxRetries = "max_retries"

	attrVersion        = "version"
	attrLeaseToken     = "lease_token"
	attrLeaseExpiresMs = "lease_expires_ms"
	attrLeaseLockCopy  = "lease_lock_expires_at"
	attrLastOp         = "last_op"
)

// deployedLockTimeout is the deployed system's lock timeout, used to judge a
// lock that has lock_acquired_at but no lock_expires_at.
const deployedLockTimeout = time.Hour

// raw keeps the stored strings a pinned retry conditions on.
type raw struct {
	updatedAt     *string
	lockExpiresAt *string
	lastOp        string
	hasVersion    bool
}

type item = map[string]types.AttributeValue

// decode turns a stored item into a Workset. It reads every timestamp format
// the deployed system wrote, keeps states it does not model as written
// (workset.ReadState) and keeps unknown attributes in Attributes.
//
// An attribute it cannot interpret is left at its zero value and reported as a
// *workset.MalformedError (the first one found), beside the record read as far
// as it could be: a write that already applied still returns what it wrote, and
// a list skips the record. Only an item without a string workset_id returns nil.
func decode(it item) (*workset.Workset, raw, error) {
	var r raw
	w := &workset.Workset{}
	id, err := str(it, attrID)
	if err != nil || id == "" {
		return nil, r, &workset.MalformedError{ID: "?", Attribute: attrID, Detail: "missing or not a string"}
	}
	w.ID = id
	var bad *workset.MalformedError
	fail := func(attr string, err error) {
		if bad == nil {
			bad = &workset.MalformedError{ID: id, Attribute: attr, Detail: err.Error()}
		}
	}
	s, err := str(it, attrState)
	switch {
	case err != nil:
		fail(attrState, err)
	case s == "":
		fail(attrState, errors.New("missing or empty"))
	default:
		w.State = storekit.ReadState(s)
	}
	w.Priority = workset.PriorityNormal
	if p, err := str(it, attrPriority); err != nil {
		fail(attrPriority, err)
	} else if p != "" {
		if w.Priority, err = workset.ParsePriority(p); err != nil {
			w.Priority = workset.PriorityNormal
			fail(attrPriority, err)
		}
	}
	for name, dst := range map[string]*string{attrBucket: &w.Bucket, attrPrefix: &w.Prefix, attrErrorDetails: &w.ErrorDetails,
		attrClusterName: &w.ClusterName, attrFailedStep: &w.FailedStep} {
		if *dst, err = str(it, name); err != nil {
			fail(name, err)
		}
	}
	if v, err := str(it, attrRetryAfter); err != nil {
		fail(attrRetryAfter, err)
	} else if v != "" {
		if w.RetryAfter, err = storekit.ParseTime(v); err != nil {
			fail(attrRetryAfter, err)
		}
	}
	for name, dst := range map[string]*int{attrRetryCount: &w.RetryCount, attrMaxRetries: &w.MaxRetries} {
		n, _, err := num(it, name)
		if err != nil {
			fail(name, err)
		}
		*dst = int(n)
	}
	if c, err := str(it, attrErrorCategory); err != nil {
		fail(attrErrorCategory, err)
	} else if c != "" {
		w.ErrorCategory = workset.ErrorCategory(c)
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{attrCreatedAt, &w.CreatedAt}, {attrUpdatedAt, &w.UpdatedAt}} {
		v, err := str(it, f.name)
		if err != nil {
			fail(f.name, err)
			continue
		}
		if f.name == attrUpdatedAt {
			if sv, ok := it[f.name].(*types.AttributeValueMemberS); ok {
				r.updatedAt = &sv.Value
			}
		}
		if v != "" {
			if *f.dst, err = storekit.ParseTime(v); err != nil {
				fail(f.name, err)
			}
		}
	}
	if v, ok := it[attrMetadata]; ok {
		if err := unmarshalMap(v, &w.Metadata); err != nil {
			fail(attrMetadata, err)
		}
	}
	if v, ok := it[attrMetrics]; ok {
		if err := unmarshalMap(v, &w.Metrics); err != nil {
			fail(attrMetrics, err)
		}
	}
	if v, ok := it[attrHistory]; ok {
		if w.History, err = decodeHistory(v); err != nil {
			fail(attrHistory, err)
		}
	}
	if w.Version, r.hasVersion, err = num(it, attrVersion); err != nil {
		fail(attrVersion, err)
	}
	if w.FencingToken, _, err = num(it, attrLeaseToken); err != nil {
		fail(attrLeaseToken, err)
	}
	r.lastOp, _ = str(it, attrLastOp)
	if owner, err := str(it, attrLockOwner); err != nil {
		fail(attrLockOwner, err)
	} else if owner != "" {
		l := &workset.Lease{WorksetID: id, Owner: owner, Token: w.FencingToken}
		if v, err := str(it, attrLockAcquiredAt); err != nil {
			fail(attrLockAcquiredAt, err)
		} else if v != "" {
			if l.AcquiredAt, err = storekit.ParseTime(v); err != nil {
				fail(attrLockAcquiredAt, err)
			}
		}
		if v, err := str(it, attrLockExpiresAt); err != nil {
			fail(attrLockExpiresAt, err)
		} else if v != "" {
			r.lockExpiresAt = &v
			if l.ExpiresAt, err = storekit.ParseTime(v); err != nil {
				// The deployed code counts an unparsable expiry as stale; so does
				// this read (the lock is reported, and can be taken over).
				l.ExpiresAt = time.Time{}
				fail(attrLockExpiresAt, err)
			}
		} else if !l.AcquiredAt.IsZero() {
			l.ExpiresAt = l.AcquiredAt.Add(deployedLockTimeout)
		}
		if !isOurs(it) {
			l.Token = 0 // a lock written by another tool carries no fencing token
		}
		w.Lease = l
	}
	for k, v := range it {
		if storekit.IsModeledAttribute(k) {
			continue
		}
		var x any
		if err := attributevalue.Unmarshal(v, &x); err != nil {
			fail(k, err)
			continue
		}
		if w.Attributes == nil {
			w.Attributes = make(map[string]any)
		}
		w.Attributes[k] = x
	}
	if bad != nil {
		return w, r, bad
	}
	return w, r, nil
}

// isOurs reports whether the lock on it is this SDK's lease: the SDK's numeric
// expiry is there and lock_expires_at is still the string the SDK wrote with it.
// A deployed writer that took the lock over or locked afresh changed
// lock_expires_at and never touches the copy.
func isOurs(it item) bool {
	if _, ok := it[attrLeaseExpiresMs].(*types.AttributeValueMemberN); !ok {
		return false
	}
	cp, ok1 := it[attrLeaseLockCopy].(*types.AttributeValueMemberS)
	le, ok2 := it[attrLockExpiresAt].(*types.AttributeValueMemberS)
	return ok1 && ok2 && cp.Value == le.Value
}

func decodeHistory(v types.AttributeValue) ([]workset.HistoryEntry, error) {
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		if _, null := v.(*types.AttributeValueMemberNULL); null {
			return nil, nil
		}
		return nil, errors.New("not a list")
	}
	out := make([]workset.HistoryEntry, 0, len(l.Value))
	for i, e := range l.Value {
		m, ok := e.(*types.AttributeValueMemberM)
		if !ok {
			return nil, fmt.Errorf("entry %d is not a map", i)
		}
		var h workset.HistoryEntry
		s, err := str(m.Value, "state")
		if err != nil || s == "" {
			return nil, fmt.Errorf("entry %d has no string state", i)
		}
		h.State = storekit.ReadState(s)
		if ts, _ := str(m.Value, "timestamp"); ts != "" {
			if h.Timestamp, err = storekit.ParseTime(ts); err != nil {
				return nil, fmt.Errorf("entry %d: %w", i, err)
			}
		}
		h.Reason, _ = str(m.Value, "reason")
		if c, _ := str(m.Value, "error_category"); c != "" {
			h.ErrorCategory = workset.ErrorCategory(c)
		}
		if b, ok := m.Value["forced"].(*types.AttributeValueMemberBOOL); ok {
			h.Forced = b.Value
		}
		out = append(out, h)
	}
	return out, nil
}

// historyValue encodes entries the way the deployed system does: a list of
// maps {state, timestamp, reason}, plus error_category and forced when set.
func historyValue(entries []workset.HistoryEntry) *types.AttributeValueMemberL {
	l := &types.AttributeValueMemberL{Value: make([]types.AttributeValue, len(entries))}
	for i, h := range entries {
		m := item{
			"state":     &types.AttributeValueMemberS{Value: string(h.State)},
			"timestamp": &types.AttributeValueMemberS{Value: storekit.FormatTime(h.Timestamp)},
			"reason":    &types.AttributeValueMemberS{Value: h.Reason},
		}
		if h.ErrorCategory != "" {
			m["error_category"] = &types.AttributeValueMemberS{Value: string(h.ErrorCategory)}
		}
		if h.Forced {
			m["forced"] = &types.AttributeValueMemberBOOL{Value: true}
		}
		l.Value[i] = &types.AttributeValueMemberM{Value: m}
	}
	return l
}

func str(it item, name string) (string, error) {
	switch v := it[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return "", nil
	case *types.AttributeValueMemberS:
		return v.Value, nil
	default:
		return "", fmt.Errorf("%s is not a string", name)
	}
}

func num(it item, name string) (int64, bool, error) {
	switch v := it[name].(type) {
	case nil, *types.AttributeValueMemberNULL:
		return 0, false, nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			f, ferr := strconv.ParseFloat(v.Value, 64)
			if ferr != nil {
				return 0, false, fmt.Errorf("%s=%q is not a number", name, v.Value)
			}
			n = int64(f)
		}
		return n, true, nil
	default:
		return 0, false, fmt.Errorf("%s is not a number", name)
	}
}

func unmarshalMap(v types.AttributeValue, dst *map[string]any) error {
	if _, null := v.(*types.AttributeValueMemberNULL); null {
		return nil
	}
	if _, ok := v.(*types.AttributeValueMemberM); !ok {
		return errors.New("not a map")
	}
	return attributevalue.Unmarshal(v, dst)
}

func marshal(v any) (types.AttributeValue, error) {
	return attributevalue.MarshalWithOptions(v, func(o *attributevalue.EncoderOptions) { o.NullEmptySets = true })
}

func sv(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func nv(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// encode builds the full item for a new record (Register and Import of an
// absent record).
func encode(w *workset.Workset, op string) (item, error) {
	it := item{
		attrID:        sv(w.ID),
		attrState:     sv(string(w.State)),
		attrPriority:  sv(string(w.Priority)),
		attrBucket:    sv(w.Bucket),
		attrPrefix:    sv(w.Prefix),
		attrCreatedAt: sv(storekit.FormatTime(w.CreatedAt)),
		attrUpdatedAt: sv(storekit.FormatTime(w.UpdatedAt)),
		attrHistory:   historyValue(w.History),
		attrVersion:   nv(w.Version),
		attrLastOp:    sv(op),
	}
	if err := encodeOptional(it, w); err != nil {
		return nil, err
	}
	return it, nil
}

// encodeOptional adds the optional fields of w that are set.
func encodeOptional(it item, w *workset.Workset) error {
	for name, s := range map[string]string{attrErrorDetails: w.ErrorDetails, attrClusterName: w.ClusterName,
		attrErrorCategory: string(w.ErrorCategory), attrFailedStep: w.FailedStep} {
		if s != "" {
			it[name] = sv(s)
		}
	}
	if !w.RetryAfter.IsZero() {
		it[attrRetryAfter] = sv(storekit.FormatTime(w.RetryAfter))
	}
	for name, n := range map[string]int{attrRetryCount: w.RetryCount, attrMaxRetries: w.MaxRetries} {
		if n > 0 {
			it[name] = nv(int64(n))
		}
	}
	for name, m := range map[string]map[string]any{attrMetadata: w.Metadata, attrMetrics: w.Metrics} {
		if m != nil {
			v, err := marshal(m)
			if err != nil {
				return &workset.Error{ID: w.ID, Kind: workset.ErrInvalidInput, Detail: fmt.Sprintf("%s: %v", name, err)}
			}
			it[name] = v
		}
	}
	for k, x := range w.Attributes {
		v, err := marshal(x)
		if err != nil {
			return &workset.Error{ID: w.ID, Kind: workset.ErrInvalidInput, Detail: fmt.Sprintf("attribute %s: %v", k, err)}
		}
		it[k] = v
	}
	return nil
}
