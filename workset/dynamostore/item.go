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
//     can tell whether its own write applied;
//   - sdk_state: the state this SDK last wrote, beside state. The deployed code
//     writes state without it, so a record whose state differs from sdk_state
//     (or has none) had its state written by another tool: Workset.Foreign.
//     An import of a foreign record leaves it out, so the provenance survives a
//     migration.
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
	attrSDKState       = "sdk_state"
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
	id, err := str(it, attrID)
	if err != nil || id == "" {
		return nil, raw{}, &workset.MalformedError{ID: "?", Attribute: attrID, Detail: "missing or not a string"}
	}
	d := &decoder{it: it, w: &workset.Workset{ID: id}}
	d.stateAndPriority()
	d.fields()
	d.times()
	d.documents()
	d.lease()
	d.extraAttributes()
	if d.bad != nil {
		return d.w, d.r, d.bad
	}
	return d.w, d.r, nil
}

// decoder reads one item into a Workset, step by step, keeping the first
// attribute it cannot interpret.
type decoder struct {
	it  item
	w   *workset.Workset
	r   raw
	bad *workset.MalformedError
}

func (d *decoder) fail(attr string, err error) {
	if d.bad == nil {
		d.bad = &workset.MalformedError{ID: d.w.ID, Attribute: attr, Detail: err.Error()}
	}
}

// str is the string attribute name ("" when absent or malformed).
func (d *decoder) str(name string) string {
	v, err := str(d.it, name)
	if err != nil {
		d.fail(name, err)
	}
	return v
}

// time is the timestamp attribute name (zero when absent or malformed).
func (d *decoder) time(name string) time.Time {
	v := d.str(name)
	if v == "" {
		return time.Time{}
	}
	t, err := storekit.ParseTime(v)
	if err != nil {
		d.fail(name, err)
	}
	return t
}

// num is the numeric attribute name and whether it is present.
func (d *decoder) num(name string) (int64, bool) {
	n, ok, err := num(d.it, name)
	if err != nil {
		d.fail(name, err)
	}
	return n, ok
}

func (d *decoder) stateAndPriority() {
	s, err := str(d.it, attrState)
	switch {
	case err != nil:
		d.fail(attrState, err)
	case s == "":
		d.fail(attrState, errors.New("missing or empty"))
	default:
		d.w.State = storekit.ReadState(s)
	}
	d.w.Priority = workset.PriorityNormal
	if p := d.str(attrPriority); p != "" {
		pr, err := workset.ParsePriority(p)
		if err != nil {
			d.fail(attrPriority, err)
			return
		}
		d.w.Priority = pr
	}
}

// fields reads the plain string and number attributes.
func (d *decoder) fields() {
	w := d.w
	w.Bucket, w.Prefix = d.str(attrBucket), d.str(attrPrefix)
	w.ErrorDetails, w.ClusterName, w.FailedStep = d.str(attrErrorDetails), d.str(attrClusterName), d.str(attrFailedStep)
	if c := d.str(attrErrorCategory); c != "" {
		w.ErrorCategory = workset.ErrorCategory(c)
	}
	w.RetryAfter = d.time(attrRetryAfter)
	n, _ := d.num(attrRetryCount)
	w.RetryCount = int(n)
	n, _ = d.num(attrMaxRetries)
	w.MaxRetries = int(n)
	w.Version, d.r.hasVersion = d.num(attrVersion)
	w.FencingToken, _ = d.num(attrLeaseToken)
	d.r.lastOp, _ = str(d.it, attrLastOp)
	sdkState, _ := str(d.it, attrSDKState)
	if st, _ := str(d.it, attrState); sdkState != st {
		w.Foreign = true
	}
}

// times reads created_at and updated_at, keeping updated_at's exact string
// for the conditions of later writes.
func (d *decoder) times() {
	d.w.CreatedAt = d.time(attrCreatedAt)
	d.w.UpdatedAt = d.time(attrUpdatedAt)
	if sv, ok := d.it[attrUpdatedAt].(*types.AttributeValueMemberS); ok {
		d.r.updatedAt = &sv.Value
	}
}

// documents reads metadata, metrics and the history.
func (d *decoder) documents() {
	if v, ok := d.it[attrMetadata]; ok {
		if err := unmarshalMap(v, &d.w.Metadata); err != nil {
			d.fail(attrMetadata, err)
		}
	}
	if v, ok := d.it[attrMetrics]; ok {
		if err := unmarshalMap(v, &d.w.Metrics); err != nil {
			d.fail(attrMetrics, err)
		}
	}
	if v, ok := d.it[attrHistory]; ok {
		var err error
		if d.w.History, err = decodeHistory(v); err != nil {
			d.fail(attrHistory, err)
		}
	}
}

// lease reads the deployed lock attributes, and the SDK's fencing token
// while the lock is still the SDK's own (isOurs).
func (d *decoder) lease() {
	owner := d.str(attrLockOwner)
	if owner == "" {
		return
	}
	l := &workset.Lease{WorksetID: d.w.ID, Owner: owner, Token: d.w.FencingToken}
	l.AcquiredAt = d.time(attrLockAcquiredAt)
	if v := d.str(attrLockExpiresAt); v != "" {
		d.r.lockExpiresAt = &v
		// The deployed code counts an unparsable expiry as stale; so does this
		// read (the lock is reported, and can be taken over).
		l.ExpiresAt = d.time(attrLockExpiresAt)
	} else if !l.AcquiredAt.IsZero() {
		l.ExpiresAt = l.AcquiredAt.Add(deployedLockTimeout)
	}
	if !isOurs(d.it) {
		l.Token = 0 // a lock written by another tool carries no fencing token
	}
	d.w.Lease = l
}

// extraAttributes keeps every attribute the SDK does not model.
func (d *decoder) extraAttributes() {
	for k, v := range d.it {
		if storekit.IsModeledAttribute(k) {
			continue
		}
		var x any
		if err := attributevalue.Unmarshal(v, &x); err != nil {
			d.fail(k, err)
			continue
		}
		if d.w.Attributes == nil {
			d.w.Attributes = make(map[string]any)
		}
		d.w.Attributes[k] = x
	}
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
	if !w.Foreign {
		it[attrSDKState] = sv(string(w.State))
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
