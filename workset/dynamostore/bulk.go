package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// GetMany implements workset.BatchGetter: one BatchGetItem per 100 IDs, with
// unprocessed keys retried after a short, growing pause.
func (s *Store) GetMany(ctx context.Context, ids []string) (_ map[string]*workset.Workset, err error) {
	defer storekit.WrapContextError(&err, "")
	out := make(map[string]*workset.Workset, len(ids))
	var unreadable []error
	seen := make(map[string]bool, len(ids))
	var keys []item
	for _, id := range ids {
		if err := workset.ValidateID(id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			keys = append(keys, key(id))
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 100)
		pending := map[string]types.KeysAndAttributes{s.table: {Keys: keys[:n], ConsistentRead: aws.Bool(s.opts.ConsistentReads)}}
		keys = keys[n:]
		for attempt := 0; len(pending) > 0; attempt++ {
			if attempt > 0 {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(min(time.Duration(1<<attempt)*10*time.Millisecond, time.Second)):
				}
			}
			res, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, interpret("BatchGetItem", s.table, err)
			}
			for _, it := range res.Responses[s.table] {
				w, _, err := decode(it)
				if err != nil {
					// Reported beside the others, never failing the batch.
					s.opts.Logger.WarnContext(ctx, "dynamostore: an unreadable record", "err", err)
					unreadable = append(unreadable, err)
					continue
				}
				out[w.ID] = w
			}
			pending = res.UnprocessedKeys
		}
	}
	return out, errors.Join(unreadable...)
}

// Import implements workset.Importer with one UpdateItem that sets every field
// of the record (so attributes the record does not name are kept), removes the
// optional fields it leaves empty, and keeps the destination's lease.
func (s *Store) Import(ctx context.Context, req workset.ImportRequest) (_ *workset.Workset, err error) {
	defer storekit.WrapContextError(&err, storekit.ImportID(req))
	if err := storekit.ValidateImport(req); err != nil {
		return nil, err
	}
	w := req.Workset.Clone()
	storekit.PrepareImport(w, req.Reason, s.now())
	op := newOpID()
	if req.IfAbsent {
		return s.importNew(ctx, w, op)
	}
	upd := expression.
		Set(expression.Name(attrState), expression.Value(string(w.State))).
		Set(expression.Name(attrPriority), expression.Value(string(w.Priority))).
		Set(expression.Name(attrBucket), expression.Value(w.Bucket)).
		Set(expression.Name(attrPrefix), expression.Value(w.Prefix)).
		Set(expression.Name(attrCreatedAt), expression.Value(storekit.FormatTime(w.CreatedAt))).
		Set(expression.Name(attrUpdatedAt), expression.Value(storekit.FormatTime(w.UpdatedAt))).
		Set(expression.Name(attrHistory), expression.Value(historyValue(w.History))).
		Set(expression.Name(attrLastOp), expression.Value(op)).
		Set(expression.Name(attrVersion), expression.Plus(expression.IfNotExists(expression.Name(attrVersion), expression.Value(0)), expression.Value(1)))
	if w.Foreign {
		upd = upd.Remove(expression.Name(attrSDKState))
	} else {
		upd = upd.Set(expression.Name(attrSDKState), expression.Value(string(w.State)))
	}
	opt := item{}
	if err := encodeOptional(opt, w); err != nil {
		return nil, err
	}
	for k, v := range opt {
		upd = upd.Set(expression.Name(k), expression.Value(v))
	}
	for _, k := range []string{attrErrorDetails, attrErrorCategory, attrClusterName, attrMetadata, attrMetrics, attrRetryCount, attrRetryAfter, attrFailedStep} {
		if _, set := opt[k]; !set {
			upd = upd.Remove(expression.Name(k))
		}
	}
	cond := exists()
	switch {
	case req.IfAbsent:
		cond = expression.AttributeNotExists(expression.Name(attrID))
	case req.ExpectedVersion != 0 && req.ExpectedState != "":
		cond = and(cond, expression.Name(attrVersion).Equal(expression.Value(req.ExpectedVersion)), expression.Name(attrState).Equal(expression.Value(string(req.ExpectedState))))
	case req.ExpectedVersion != 0:
		cond = and(cond, expression.Name(attrVersion).Equal(expression.Value(req.ExpectedVersion)))
	case req.ExpectedState != "":
		cond = and(cond, expression.Name(attrState).Equal(expression.Value(string(req.ExpectedState))))
	}
	got, ok, err := s.update(ctx, w.ID, upd, cond)
	if err != nil || ok {
		return got, err
	}
	cur, r, found, err := s.read(ctx, w.ID)
	switch {
	case err != nil:
		return nil, err
	case found && r.lastOp == op:
		return cur, nil
	case req.IfAbsent:
		return nil, &workset.Error{ID: w.ID, Kind: workset.ErrAlreadyExists}
	case !found:
		return nil, notFound(w.ID)
	default:
		if err := storekit.CheckImportReplace(cur, req); err != nil {
			return nil, err
		}
		return nil, &workset.Error{ID: w.ID, Kind: workset.ErrConflict, Detail: "record changed concurrently"}
	}
}

// importNew creates a record with one conditional PutItem: there is nothing
// to preserve in an absent item, and a put costs the server less than an update.
func (s *Store) importNew(ctx context.Context, w *workset.Workset, op string) (*workset.Workset, error) {
	w.Lease, w.FencingToken, w.Version = nil, 0, 1
	it, err := encode(w, op)
	if err != nil {
		return nil, err
	}
	stored, _, err := decode(it) // what a Get will return, numbers and all
	if err != nil {
		return nil, err
	}
	_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: it,
		ConditionExpression:      aws.String("attribute_not_exists(#id)"),
		ExpressionAttributeNames: map[string]string{"#id": attrID},
	})
	if !isCondFailed(err) {
		if err != nil {
			return nil, interpret("PutItem", w.ID, err)
		}
		return stored, nil
	}
	cur, r, found, rerr := s.read(ctx, w.ID)
	switch {
	case rerr != nil:
		return nil, rerr
	case found && r.lastOp == op: // our own first attempt applied
		return cur, nil
	default:
		return nil, &workset.Error{ID: w.ID, Kind: workset.ErrAlreadyExists}
	}
}

// Delete implements workset.Deleter (one DeleteItem). A delete retried after an
// ambiguous failure whose first attempt applied reports ErrNotFound.
func (s *Store) Delete(ctx context.Context, id string, expectedVersion int64) (err error) {
	defer storekit.WrapContextError(&err, id)
	if err := workset.ValidateID(id); err != nil {
		return err
	}
	cond := exists()
	if expectedVersion != 0 {
		cond = and(cond, expression.Name(attrVersion).Equal(expression.Value(expectedVersion)))
	}
	expr, err := expression.NewBuilder().WithCondition(cond).Build()
	if err != nil {
		return err
	}
	_, err = s.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(id), ConditionExpression: expr.Condition(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
	})
	if !isCondFailed(err) {
		return interpret("DeleteItem", id, err)
	}
	cur, _, found, rerr := s.read(ctx, id)
	switch {
	case rerr != nil:
		return rerr
	case !found:
		return notFound(id)
	default:
		return &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("expected version %d, found %d", expectedVersion, cur.Version)}
	}
}
