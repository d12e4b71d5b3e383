// Package dynamostore is the DynamoDB workset.StateStore, item-compatible with
// the deployed daylily-worksets table: Python and Go monitors can share a table.
//
// # Round trips per operation
//
//	Register                         1 PutItem
//	Get                              1 GetItem
//	Transition                       1 UpdateItem (+1 UpdateItem when the history passes its bound)
//	AcquireLease (free, or expired
//	  lease written by this SDK)     1 UpdateItem
//	AcquireLease (holder extends, or
//	  stale lock of another tool)    3 (UpdateItem refused, GetItem, pinned UpdateItem)
//	RenewLease, ReleaseLease         1 UpdateItem
//	List (one page)                  1 Query or Scan per call (+1 per priority crossed)
//	GetMany                          1 BatchGetItem per 100 IDs
//	any refused write                +1 GetItem, to report the exact reason
//
// Every check (the transition graph, expected state and version, the lease's
// fencing token, a live lease held by someone else) is inside the write's
// condition; a refused write is then read once to say which check failed.
//
// # Retries
//
// The AWS SDK retries throttling and 5xx responses. Every write carries a fresh
// operation id in last_op, so when a retried write is refused because its first
// attempt already applied, the store reads the item, sees its own id, and reports
// success instead of a failure (and never applies the write twice).
package dynamostore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/internal/awserr"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Client is the subset of *dynamodb.Client the store calls.
type Client interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ Client = (*dynamodb.Client)(nil)

// DefaultTable is the deployed table name.
const DefaultTable = "daylily-worksets"

// The deployed indexes.
const (
	StatePriorityIndex = "state-priority-index"
	CreatedAtIndex     = "created-at-index"
	// CustomerStateIndex (customer_id HASH, state RANGE) is the index a later
	// deployed version added. CreateTable makes it with Options.CustomerIndex;
	// a list by customer uses it when the table has it.
	CustomerStateIndex = "customer-id-state-index"
)

// Options configure a Store.
type Options struct {
	// Clock tells the time (default workset.SystemClock).
	Clock workset.Clock
	// Logger receives debug logs, and warnings about stored records that cannot
	// be read (default: discarded).
	Logger *slog.Logger
	// SkewMargin is how long past its expiry a lease is still respected, to allow
	// for monitors whose clocks disagree (default 1s).
	SkewMargin time.Duration
	// HistoryLimit bounds state_history: when it passes HistoryLimit plus a
	// tenth, the oldest entries are trimmed back to HistoryLimit (default 100;
	// a hundred entries are about 10 KB, far from the 400 KB item limit).
	HistoryLimit int
	// ConsistentReads makes Get, GetMany, Scan-based lists and the read after a
	// refused write strongly consistent (default true). Index queries are always
	// eventually consistent (a DynamoDB rule).
	ConsistentReads bool
	// MaxPinnedRetries bounds how often a write is retried when the record moved
	// between the refused write and the read that explained it (default 5).
	MaxPinnedRetries int
	// CustomerIndex makes CreateTable create customer-id-state-index as well.
	CustomerIndex bool
}

// Store is the DynamoDB StateStore.
type Store struct {
	client Client
	table  string
	opts   Options

	customerIndex atomic.Int32 // 0 unknown, 1 the table has customer-id-state-index, 2 it has not
}

// hasCustomerIndex reports whether the table has customer-id-state-index,
// asking DescribeTable once. If it cannot tell (the call failed, say for lack of
// permission) it answers false, so lists fall back to a filtered scan, and asks
// again next time.
func (s *Store) hasCustomerIndex(ctx context.Context) bool {
	switch s.customerIndex.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "dynamostore: cannot tell whether the customer index exists; scanning", "err", err)
		return false
	}
	for _, g := range out.Table.GlobalSecondaryIndexes {
		if aws.ToString(g.IndexName) == CustomerStateIndex && g.IndexStatus == types.IndexStatusActive {
			s.customerIndex.Store(1)
			return true
		}
	}
	s.customerIndex.Store(2)
	return false
}

var (
	_ workset.StateStore  = (*Store)(nil)
	_ workset.Importer    = (*Store)(nil)
	_ workset.Deleter     = (*Store)(nil)
	_ workset.BatchGetter = (*Store)(nil)
	_ workset.Noter       = (*Store)(nil)
)

// New returns a store over table. It makes no request; see CreateTable.
func New(client Client, table string, optFns ...func(*Options)) (*Store, error) {
	o := Options{Clock: workset.SystemClock, SkewMargin: time.Second, HistoryLimit: 100, ConsistentReads: true, MaxPinnedRetries: 5}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	switch {
	case client == nil:
		return nil, fmt.Errorf("%w: dynamostore: nil client", workset.ErrInvalidInput)
	case table == "":
		return nil, fmt.Errorf("%w: dynamostore: empty table name", workset.ErrInvalidInput)
	case o.Clock == nil:
		return nil, fmt.Errorf("%w: dynamostore: nil Clock", workset.ErrInvalidInput)
	case o.SkewMargin < 0:
		return nil, fmt.Errorf("%w: dynamostore: negative SkewMargin %v", workset.ErrInvalidInput, o.SkewMargin)
	case o.HistoryLimit < 1:
		return nil, fmt.Errorf("%w: dynamostore: HistoryLimit %d must be at least 1", workset.ErrInvalidInput, o.HistoryLimit)
	case o.MaxPinnedRetries < 1:
		return nil, fmt.Errorf("%w: dynamostore: MaxPinnedRetries %d must be at least 1", workset.ErrInvalidInput, o.MaxPinnedRetries)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Store{client: client, table: table, opts: o}, nil
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

// Capabilities: everything, durably.
func (s *Store) Capabilities() workset.Capabilities {
	return workset.Capabilities{
		Kept: workset.Kept{History: true, Priority: true, Metadata: true, Versions: true,
			Timestamps: true, Location: true, Retries: true},
		Guarantees: workset.Guarantees{AtomicLeases: true, Durable: true},
	}
}

func (s *Store) now() time.Time { return storekit.TruncateTime(s.opts.Clock.Now()) }

func newOpID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func key(id string) item { return item{attrID: sv(id)} }

// interpret translates an SDK error into the package's errors, keeping the SDK
// error reachable. Conditional check failures are handled by the callers.
func interpret(op, id string, err error) error {
	if err == nil {
		return nil
	}
	var rnf *types.ResourceNotFoundException
	var cond *types.ConditionalCheckFailedException
	var ve interface{ ErrorCode() string }
	switch {
	case errors.As(err, &cond):
		return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: op + ": condition not met", Err: err}
	case errors.As(err, &rnf):
		return &workset.Error{ID: id, Kind: workset.ErrMisconfigured, Detail: fmt.Sprintf("dynamostore: %s: table or index missing (create it with CreateTable)", op), Err: err}
	case errors.As(err, &ve) && ve.ErrorCode() == "ValidationException" && strings.Contains(err.Error(), "exceeded the maximum allowed size"):
		// What the request adds is bounded (workset.MaxErrorDetails, ...): a
		// record this large is the stored data's doing, not the caller's.
		return &workset.MalformedError{ID: id, Attribute: "item", Detail: "the stored record is too large to write (DynamoDB's 400 KB item limit): trim its history, metadata or metrics"}
	case errors.As(err, &ve) && ve.ErrorCode() == "ValidationException":
		return fmt.Errorf("%w: dynamostore: %s %s: %w", workset.ErrInvalidInput, op, id, err)
	}
	if kind := awserr.Kind(err); kind != nil {
		return &workset.Error{ID: id, Kind: kind, Detail: fmt.Sprintf("dynamostore: %s: %s", op, awserr.Hint(kind)), Err: err}
	}
	return fmt.Errorf("dynamostore: %s %s: %w", op, id, err)
}

func isCondFailed(err error) bool {
	var cond *types.ConditionalCheckFailedException
	return errors.As(err, &cond)
}

// read fetches and decodes one item; ok is false when it does not exist.
func (s *Store) read(ctx context.Context, id string) (*workset.Workset, raw, bool, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(id), ConsistentRead: aws.Bool(s.opts.ConsistentReads),
	})
	if err != nil {
		return nil, raw{}, false, interpret("GetItem", id, err)
	}
	return s.decodeRead(ctx, id, out.Item)
}

// decodeRead decodes an item read (nil: it does not exist).
func (s *Store) decodeRead(ctx context.Context, id string, it item) (*workset.Workset, raw, bool, error) {
	if it == nil {
		return nil, raw{}, false, nil
	}
	w, r, err := decode(it)
	if err != nil {
		s.opts.Logger.WarnContext(ctx, "dynamostore: unreadable record", "workset", id, "err", err)
		return nil, raw{}, false, err
	}
	return w, r, true, nil
}

func notFound(id string) error { return &workset.Error{ID: id, Kind: workset.ErrNotFound} }

// Get implements workset.StateStore.
func (s *Store) Get(ctx context.Context, id string) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := workset.ValidateID(id); err != nil {
		return nil, err
	}
	w, _, ok, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(id)
	}
	return w, nil
}

// Register implements workset.StateStore.
func (s *Store) Register(ctx context.Context, req workset.RegisterRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := storekit.NormalizeRegister(&req); err != nil {
		return nil, err
	}
	w := storekit.NewWorkset(req, s.now())
	op := newOpID()
	it, err := encode(w, op)
	if err != nil {
		return nil, err
	}
	cond, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(attrID))).Build()
	if err != nil {
		return nil, err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: it, ConditionExpression: cond.Condition(),
		ExpressionAttributeNames: cond.Names(),
	})
	if isCondFailed(err) {
		cur, r, ok, rerr := s.read(ctx, req.ID)
		if rerr != nil {
			return nil, rerr
		}
		if ok && r.lastOp == op { // our own earlier attempt applied
			return cur, nil
		}
		return nil, &workset.Error{ID: req.ID, Kind: workset.ErrAlreadyExists}
	}
	if err != nil {
		return nil, interpret("PutItem", req.ID, err)
	}
	s.opts.Logger.DebugContext(ctx, "registered", "workset", w.ID, "priority", w.Priority)
	return w, nil
}

// update runs one conditional UpdateItem returning the new item, with the
// well-formedness guard added to cond. cond must be a conjunction (every caller
// starts it with exists()), so the guard is appended without another level of
// parentheses, which dynalite parses slowly. ok is false when the condition
// was not met.
func (s *Store) update(ctx context.Context, id string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (*workset.Workset, bool, error) {
	w, ok, _, err := s.tryUpdate(ctx, id, upd, cond)
	return w, ok, err
}

// tryUpdate is update that also returns, when the condition is refused, the
// item as the refused check saw it, if the server sends it
// (ReturnValuesOnConditionCheckFailure: DynamoDB does; some emulators do not,
// and old is nil then).
func (s *Store) tryUpdate(ctx context.Context, id string, upd expression.UpdateBuilder, cond expression.ConditionBuilder) (_ *workset.Workset, ok bool, old item, err error) {
	expr, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		return nil, false, nil, fmt.Errorf("dynamostore: building update for %s: %w", id, err)
	}
	names, values := expr.Names(), expr.Values()
	if values == nil {
		values = make(map[string]types.AttributeValue, len(wellFormedValues))
	}
	maps.Copy(names, wellFormedNames)
	maps.Copy(values, wellFormedValues)
	out, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(id),
		UpdateExpression: expr.Update(), ConditionExpression: aws.String(*expr.Condition() + " AND " + wellFormedGuard),
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
		ReturnValues: types.ReturnValueAllNew, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) {
		return nil, false, refused.Item, nil
	}
	if err != nil {
		return nil, false, nil, interpret("UpdateItem", id, err)
	}
	w, _, err := decode(out.Attributes)
	if err != nil {
		if w == nil {
			return nil, false, nil, err
		}
		// The write applied: report it as applied, with the record as far as it
		// reads, and say what another tool left unreadable in it.
		s.opts.Logger.WarnContext(ctx, "dynamostore: written record has an unreadable attribute", "workset", id, "err", err)
	}
	return w, true, nil, nil
}

// write runs a conditional update. When the condition is refused it reads the
// record once: if its own earlier attempt applied (last_op is op) that is a
// success; otherwise judge says why the write is not allowed, or, when it is
// allowed on what was read (the record moved, or holds a lock of another tool
// whose expiry only a parse can judge), which update to retry pinned to exactly
// that record.
func (s *Store) write(ctx context.Context, id, op string, upd expression.UpdateBuilder, cond expression.ConditionBuilder,
	judge func(cur *workset.Workset) (expression.UpdateBuilder, error)) (*workset.Workset, error) {
	for attempt := 0; ; attempt++ {
		w, ok, old, err := s.tryUpdate(ctx, id, upd, cond)
		if err != nil || ok {
			return w, err
		}
		var cur *workset.Workset
		var r raw
		var found bool
		if old != nil { // the server sent the record the condition refused: no read needed
			cur, r, found, err = s.decodeRead(ctx, id, old)
		} else {
			cur, r, found, err = s.read(ctx, id)
		}
		switch {
		case err != nil:
			return nil, err
		case !found:
			return nil, notFound(id)
		case r.lastOp == op:
			return cur, nil
		}
		if upd, err = judge(cur); err != nil {
			return nil, err
		}
		if attempt >= s.opts.MaxPinnedRetries {
			return nil, &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("record kept changing; gave up after %d attempts", attempt+1)}
		}
		cond = pinned(cur, r)
	}
}

// wellFormedGuard holds when the attributes the store decodes have the types
// it expects and its timestamps at least have a timestamp's length, so that a
// write does not land on an item a read would refuse (one written by another
// tool, say); the refused write is then read, and the read names the bad
// attribute. It is a constant, written flat: emulators such as dynalite parse
// deeply parenthesised conditions (as the expression builder nests them)
// hundreds of times slower.
const wellFormedGuard = `(attribute_not_exists(#wf_h) OR attribute_type(#wf_h, :wf_L) OR attribute_type(#wf_h, :wf_NULL))` +
	` AND (attribute_not_exists(#wf_m) OR attribute_type(#wf_m, :wf_M) OR attribute_type(#wf_m, :wf_NULL))` +
	` AND (attribute_not_exists(#wf_x) OR attribute_type(#wf_x, :wf_M) OR attribute_type(#wf_x, :wf_NULL))` +
	` AND (attribute_not_exists(#wf_v) OR attribute_type(#wf_v, :wf_N))` +
	` AND (attribute_not_exists(#wf_t) OR attribute_type(#wf_t, :wf_N))` +
	` AND (attribute_not_exists(#wf_c) OR size(#wf_c) BETWEEN :wf_min AND :wf_max)` +
	` AND (attribute_not_exists(#wf_u) OR size(#wf_u) BETWEEN :wf_min AND :wf_max)`

var (
	wellFormedNames = map[string]string{"#wf_h": attrHistory, "#wf_m": attrMetadata, "#wf_x": attrMetrics,
		"#wf_v": attrVersion, "#wf_t": attrLeaseToken, "#wf_c": attrCreatedAt, "#wf_u": attrUpdatedAt}
	wellFormedValues = map[string]types.AttributeValue{":wf_L": sv("L"), ":wf_M": sv("M"), ":wf_N": sv("N"),
		":wf_NULL": sv("NULL"), ":wf_min": nv(19), ":wf_max": nv(35)}
)

// stamp adds what every write sets: version+1, updated_at and last_op.
func stamp(upd expression.UpdateBuilder, now time.Time, op string) expression.UpdateBuilder {
	return upd.
		Set(expression.Name(attrVersion), expression.Plus(expression.IfNotExists(expression.Name(attrVersion), expression.Value(0)), expression.Value(1))).
		Set(expression.Name(attrUpdatedAt), expression.Value(storekit.FormatTime(now))).
		Set(expression.Name(attrLastOp), expression.Value(op))
}

func and(first expression.ConditionBuilder, rest ...expression.ConditionBuilder) expression.ConditionBuilder {
	if len(rest) == 0 {
		return first
	}
	return expression.And(first, rest[0], rest[1:]...)
}

func exists() expression.ConditionBuilder { return expression.AttributeExists(expression.Name(attrID)) }

// pinned is a condition that holds only while the record is exactly as read:
// same state, version, updated_at and lock. Writes that were refused and then
// judged allowed on a fresh read are retried under it.
func pinned(w *workset.Workset, r raw) expression.ConditionBuilder {
	c := []expression.ConditionBuilder{expression.Name(attrState).Equal(expression.Value(string(w.State)))}
	if r.hasVersion {
		c = append(c, expression.Name(attrVersion).Equal(expression.Value(w.Version)))
	} else {
		c = append(c, expression.AttributeNotExists(expression.Name(attrVersion)))
	}
	if r.updatedAt != nil {
		c = append(c, expression.Name(attrUpdatedAt).Equal(expression.Value(*r.updatedAt)))
	}
	if w.Lease == nil {
		c = append(c, expression.AttributeNotExists(expression.Name(attrLockOwner)))
	} else {
		c = append(c, expression.Name(attrLockOwner).Equal(expression.Value(w.Lease.Owner)))
		if r.lockExpiresAt != nil {
			c = append(c, expression.Name(attrLockExpiresAt).Equal(expression.Value(*r.lockExpiresAt)))
		}
	}
	return and(exists(), c...)
}

// leaseFree holds when no live lease of this SDK is held, judged numerically.
// A lock written by another tool (including one that took over a lease of this
// SDK) never counts as free here; the slow path parses its timestamps.
func (s *Store) leaseFree(now time.Time) expression.ConditionBuilder {
	return expression.Or(
		expression.AttributeNotExists(expression.Name(attrLockOwner)),
		s.expiredOurs(now),
	)
}

// fenced holds while l is the current lock: same owner, and for a lease of this
// SDK the same fencing token on a lock that is still the SDK's (see ours); for a
// lock of another tool (token 0), a lock that is not the SDK's.
func fenced(l *workset.Lease) expression.ConditionBuilder {
	owner := expression.Name(attrLockOwner).Equal(expression.Value(l.Owner))
	if l.Token == 0 {
		return and(owner, expression.Not(ours()))
	}
	return and(owner, expression.Name(attrLeaseToken).Equal(expression.Value(l.Token)), ours())
}

// Transition implements workset.StateStore.
func (s *Store) Transition(ctx context.Context, req workset.TransitionRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, req.ID)
	if err := storekit.NormalizeTransition(&req); err != nil {
		return nil, err
	}
	now := s.now()
	op := newOpID()
	if req.IdempotencyKey != "" {
		// The caller's key is this write's last_op: a retry whose condition is
		// refused finds its own key there and reports success (see write).
		op = "key:" + req.IdempotencyKey
	}
	upd, err := transitionUpdate(req, now, op)
	if err != nil {
		return nil, err
	}
	c := []expression.ConditionBuilder{}
	if !req.Force {
		from := storekit.AllowedFrom(req.To)
		ops := make([]expression.OperandBuilder, len(from))
		for i, st := range from {
			ops[i] = expression.Value(string(st))
		}
		if len(ops) == 1 {
			c = append(c, expression.Name(attrState).Equal(ops[0]))
		} else {
			c = append(c, expression.Name(attrState).In(ops[0], ops[1:]...))
		}
	}
	if req.ExpectedState != "" {
		c = append(c, expression.Name(attrState).Equal(expression.Value(string(req.ExpectedState))))
	}
	if req.ExpectedVersion != 0 {
		c = append(c, expression.Name(attrVersion).Equal(expression.Value(req.ExpectedVersion)))
	}
	switch {
	case req.Lease != nil:
		c = append(c, fenced(req.Lease))
	case !req.Force:
		c = append(c, s.leaseFree(now))
	}
	if req.IdempotencyKey != "" {
		// Never apply a keyed request twice, even one the graph would allow
		// again (a forced one): its retry is refused here and reported as the
		// success it was by write, which finds the key in last_op.
		c = append(c, expression.Not(expression.Name(attrLastOp).Equal(expression.Value(op))))
	}
	w, err := s.write(ctx, req.ID, op, upd, and(exists(), c...), func(cur *workset.Workset) (expression.UpdateBuilder, error) {
		return upd, storekit.CheckTransition(cur, req, now, s.opts.SkewMargin)
	})
	if err != nil {
		return nil, err
	}
	s.trimHistory(ctx, w)
	s.opts.Logger.DebugContext(ctx, "transition", "workset", w.ID, "to", w.State, "forced", req.Force, "version", w.Version)
	return w, nil
}

func transitionUpdate(req workset.TransitionRequest, now time.Time, op string) (expression.UpdateBuilder, error) {
	entry := historyValue([]workset.HistoryEntry{storekit.HistoryEntryFor(req, now)})
	upd := stamp(expression.Set(expression.Name(attrState), expression.Value(string(req.To))), now, op).
		Set(expression.Name(attrSDKState), expression.Value(string(req.To))).
		Set(expression.Name(attrHistory), expression.ListAppend(
			expression.IfNotExists(expression.Name(attrHistory), expression.Value(&types.AttributeValueMemberL{Value: []types.AttributeValue{}})),
			expression.Value(entry)))
	if req.Retry != nil {
		upd = upd.Set(expression.Name(attrRetryCount), expression.Value(req.Retry.Count)).
			Set(expression.Name(attrRetryAfter), expression.Value(storekit.FormatTime(req.Retry.After)))
	}
	for name, v := range map[string]string{attrErrorDetails: req.ErrorDetails, attrErrorCategory: string(req.ErrorCategory),
		attrClusterName: req.ClusterName, attrFailedStep: req.FailedStep} {
		if v != "" {
			upd = upd.Set(expression.Name(name), expression.Value(v))
		}
	}
	set, remove := storekit.LifecycleUpdate(req, now)
	remove = append(remove, storekit.ClearedOnSuccess(req)...)
	for name, v := range set {
		upd = upd.Set(expression.Name(name), expression.Value(v))
	}
	if req.To == workset.StateArchived {
		// The state left: every SET reads the item as it was before the update.
		upd = upd.Set(expression.Name(storekit.AttrOriginalState), expression.Name(attrState))
	}
	for _, name := range remove {
		upd = upd.Remove(expression.Name(name))
	}
	if req.Metrics != nil {
		m, err := marshal(req.Metrics)
		if err != nil {
			return upd, &workset.Error{ID: req.ID, Kind: workset.ErrInvalidInput, Detail: fmt.Sprintf("metrics: %v", err)}
		}
		upd = upd.Set(expression.Name(attrMetrics), expression.Value(m))
	}
	return upd, nil
}

// trimHistory drops the oldest history entries once the history has grown a
// tenth past HistoryLimit. It reads the stored entries as they are (another
// tool may have added keys to them) and writes back the newest HistoryLimit in
// one SET, however long the history grew (a REMOVE per entry would pass
// DynamoDB's 4 KB expression limit for a history of a few hundred entries). It
// is best effort and never races another write: it is conditioned on the version
// just written and on the history's length (the deployed code appends without
// touching the version); a skipped trim happens next time.
func (s *Store) trimHistory(ctx context.Context, w *workset.Workset) {
	limit := s.opts.HistoryLimit
	if len(w.History) <= limit+limit/10 {
		return
	}
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(w.ID),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("#h"), ExpressionAttributeNames: map[string]string{"#h": attrHistory}})
	if err != nil {
		s.opts.Logger.DebugContext(ctx, "history trim skipped", "workset", w.ID, "err", err)
		return
	}
	stored, ok := out.Item[attrHistory].(*types.AttributeValueMemberL)
	if !ok || len(stored.Value) <= limit {
		return
	}
	n := len(stored.Value)
	kept := &types.AttributeValueMemberL{Value: stored.Value[n-limit:]}
	upd := expression.Set(expression.Name(attrHistory), expression.Value(kept))
	cond := and(exists(), expression.Name(attrVersion).Equal(expression.Value(w.Version)),
		expression.Size(expression.Name(attrHistory)).Equal(expression.Value(n)))
	trimmed, ok, err := s.update(ctx, w.ID, upd, cond)
	if err != nil || !ok {
		s.opts.Logger.DebugContext(ctx, "history trim skipped", "workset", w.ID, "err", err)
		return
	}
	w.History = trimmed.History
}

// Note implements workset.Noter: one UpdateItem appends the entry (with the
// state as read, and conditioned on it) to state_history and counts the
// write; the state, the lock and sdk_state are left as they are, so another
// tool's work stays another tool's.
func (s *Store) Note(ctx context.Context, id, reason string) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, id)
	if err := storekit.NormalizeNote(id, &reason); err != nil {
		return nil, err
	}
	cur, _, ok, err := s.read(ctx, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(id)
	}
	now := s.now()
	op := newOpID()
	update := func(state workset.State) expression.UpdateBuilder {
		entry := historyValue([]workset.HistoryEntry{{State: state, Timestamp: now, Reason: reason}})
		return stamp(expression.Set(expression.Name(attrHistory), expression.ListAppend(
			expression.IfNotExists(expression.Name(attrHistory), expression.Value(&types.AttributeValueMemberL{Value: []types.AttributeValue{}})),
			expression.Value(entry))), now, op)
	}
	cond := and(exists(), expression.Name(attrState).Equal(expression.Value(string(cur.State))))
	w, err := s.write(ctx, id, op, update(cur.State), cond, func(c *workset.Workset) (expression.UpdateBuilder, error) {
		return update(c.State), nil // the state moved since the read: note it as it is now
	})
	if err != nil {
		return nil, err
	}
	s.trimHistory(ctx, w)
	return w, nil
}
