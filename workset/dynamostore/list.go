package dynamostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// cursor is the position of a list: DynamoDB's LastEvaluatedKey. (Rank is
// the priority being read by cursors of earlier versions, which queried one
// priority at a time; it is accepted and ignored.)
type cursor struct {
	Rank int               `json:"r,omitempty"`
	Key  map[string]string `json:"k,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Rank < 0 || c.Rank > 2 {
		return c, fmt.Errorf("%w: malformed list cursor %q", workset.ErrInvalidInput, s)
	}
	return c, nil
}

func keyToStrings(k item) map[string]string {
	if len(k) == 0 {
		return nil
	}
	out := make(map[string]string, len(k))
	for name, v := range k {
		if s, ok := v.(*types.AttributeValueMemberS); ok {
			out[name] = s.Value
		}
	}
	return out
}

func stringsToKey(m map[string]string) item {
	if len(m) == 0 {
		return nil
	}
	out := make(item, len(m))
	for k, v := range m {
		out[k] = sv(v)
	}
	return out
}

// List implements workset.StateStore. With a state, it queries
// state-priority-index backwards (see queryState); without one, it scans.
// With a customer, see listCustomer. Every LastEvaluatedKey is followed: a page
// is short only at the end.
func (s *Store) List(ctx context.Context, q workset.ListQuery) (_ *workset.Page, err error) {
	defer storekit.WrapContextError(&err, "")
	if err := storekit.NormalizeList(&q); err != nil {
		return nil, err
	}
	c, err := parseCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	if q.Customer != "" {
		return s.listCustomer(ctx, q, c)
	}
	if q.State != "" {
		return s.queryState(ctx, q, c)
	}
	return s.scan(ctx, q, c)
}

// queryState lists the worksets in q.State in dispatch order with one Query a
// page: the index sorts by priority, and the deployed priorities sort, read
// backwards, in dispatch order ("urgent" > "normal" > "low"). A priority
// stored in another spelling (upper case, say) sorts outside the three and so
// is listed after them, in its byte order; it is listed all the same.
func (s *Store) queryState(ctx context.Context, q workset.ListQuery, c cursor) (*workset.Page, error) {
	key := expression.Key(attrState).Equal(expression.Value(string(q.State)))
	if q.Priority != "" {
		key = expression.KeyAnd(key, expression.Key(attrPriority).Equal(expression.Value(string(q.Priority))))
	}
	expr, err := expression.NewBuilder().WithKeyCondition(key).Build()
	if err != nil {
		return nil, err
	}
	page := &workset.Page{}
	start := stringsToKey(c.Key)
	for {
		out, err := s.client.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(s.table), IndexName: aws.String(StatePriorityIndex),
			KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(),
			ExpressionAttributeValues: expr.Values(), ExclusiveStartKey: start,
			ScanIndexForward: aws.Bool(false),
			Limit:            aws.Int32(int32(q.Limit - len(page.Worksets))),
		})
		if err != nil {
			return nil, interpret("Query", string(q.State), err)
		}
		s.appendItems(ctx, page, out.Items)
		start = out.LastEvaluatedKey
		switch {
		case start == nil:
			return page, nil
		case len(page.Worksets) >= q.Limit:
			page.Cursor = cursor{Key: keyToStrings(start)}.encode()
			return page, nil
		}
	}
}

func (s *Store) scan(ctx context.Context, q workset.ListQuery, c cursor) (*workset.Page, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(s.opts.ConsistentReads)}
	var filter []expression.ConditionBuilder
	if q.Priority != "" {
		filter = append(filter, expression.Name(attrPriority).Equal(expression.Value(string(q.Priority))))
	}
	if q.Customer != "" {
		filter = append(filter, expression.Name(storekit.AttrCustomerID).Equal(expression.Value(q.Customer)))
		if q.State != "" {
			filter = append(filter, expression.Name(attrState).Equal(expression.Value(string(q.State))))
		}
	}
	if len(filter) > 0 {
		expr, err := expression.NewBuilder().WithFilter(and(filter[0], filter[1:]...)).Build()
		if err != nil {
			return nil, err
		}
		in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.Filter(), expr.Names(), expr.Values()
	}
	return s.pages(ctx, q, c, func(start item, limit int32) ([]item, item, error) {
		in.ExclusiveStartKey, in.Limit = start, aws.Int32(limit)
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return nil, nil, interpret("Scan", s.table, err)
		}
		return out.Items, out.LastEvaluatedKey, nil
	})
}

// listCustomer lists one customer's worksets: through customer-id-state-index
// when the table has it (a state filter is then part of the key condition),
// else by a filtered scan. Either way every page is followed; results are in
// the index's or the table's order, not dispatch order.
func (s *Store) listCustomer(ctx context.Context, q workset.ListQuery, c cursor) (*workset.Page, error) {
	if !s.hasCustomerIndex(ctx) {
		return s.scan(ctx, q, c)
	}
	key := expression.Key(storekit.AttrCustomerID).Equal(expression.Value(q.Customer))
	if q.State != "" {
		key = expression.KeyAnd(key, expression.Key(attrState).Equal(expression.Value(string(q.State))))
	}
	b := expression.NewBuilder().WithKeyCondition(key)
	if q.Priority != "" {
		b = b.WithFilter(expression.Name(attrPriority).Equal(expression.Value(string(q.Priority))))
	}
	expr, err := b.Build()
	if err != nil {
		return nil, err
	}
	in := &dynamodb.QueryInput{TableName: aws.String(s.table), IndexName: aws.String(CustomerStateIndex),
		KeyConditionExpression: expr.KeyCondition(), FilterExpression: expr.Filter(),
		ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values()}
	return s.pages(ctx, q, c, func(start item, limit int32) ([]item, item, error) {
		in.ExclusiveStartKey, in.Limit = start, aws.Int32(limit)
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, nil, interpret("Query", q.Customer, err)
		}
		return out.Items, out.LastEvaluatedKey, nil
	})
}

// pages reads with read from c until the page holds q.Limit worksets or the
// reads end, following every LastEvaluatedKey (a filtered read may return
// few or no items and still have more).
func (s *Store) pages(ctx context.Context, q workset.ListQuery, c cursor, read func(start item, limit int32) ([]item, item, error)) (*workset.Page, error) {
	page := &workset.Page{}
	start := stringsToKey(c.Key)
	for {
		items, last, err := read(start, int32(q.Limit-len(page.Worksets)))
		if err != nil {
			return nil, err
		}
		s.appendItems(ctx, page, items)
		if last == nil {
			return page, nil
		}
		if len(page.Worksets) == q.Limit {
			page.Cursor = cursor{Key: keyToStrings(last)}.encode()
			return page, nil
		}
		start = last
	}
}

// appendItems adds the items that decode to the page; one that does not is
// reported in page.Malformed and logged, never failing the page.
func (s *Store) appendItems(ctx context.Context, page *workset.Page, items []item) {
	for _, it := range items {
		w, _, err := decode(it)
		if err != nil {
			var m *workset.MalformedError
			if !errors.As(err, &m) {
				m = &workset.MalformedError{ID: "?", Attribute: "?", Detail: err.Error()}
			}
			s.opts.Logger.WarnContext(ctx, "dynamostore: skipping an unreadable record", "workset", m.ID, "err", err)
			page.Malformed = append(page.Malformed, m)
			continue
		}
		page.Worksets = append(page.Worksets, w)
	}
}
