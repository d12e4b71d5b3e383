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
)

// cursor is the position of a list: the priority rank being read (state
// queries walk urgent, normal, low in turn) and DynamoDB's LastEvaluatedKey.
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
// state-priority-index once per priority in dispatch order (the index sorts
// priorities alphabetically, which is not dispatch order); without one, it scans.
// Every LastEvaluatedKey is followed: a page is short only at the end.
func (s *Store) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	if err := q.Normalize(); err != nil {
		return nil, err
	}
	c, err := parseCursor(q.Cursor)
	if err != nil {
		return nil, err
	}
	if q.State != "" {
		return s.queryState(ctx, q, c)
	}
	return s.scan(ctx, q, c)
}

func (s *Store) queryState(ctx context.Context, q workset.ListQuery, c cursor) (*workset.Page, error) {
	prios := workset.Priorities()
	if q.Priority != "" {
		prios = []workset.Priority{q.Priority}
		c.Rank = 0
	}
	page := &workset.Page{}
	for rank := c.Rank; rank < len(prios); rank++ {
		start := stringsToKey(c.Key)
		if rank != c.Rank {
			start = nil
		}
		expr, err := expression.NewBuilder().WithKeyCondition(expression.KeyAnd(
			expression.Key(attrState).Equal(expression.Value(string(q.State))),
			expression.Key(attrPriority).Equal(expression.Value(string(prios[rank]))))).Build()
		if err != nil {
			return nil, err
		}
		for {
			out, err := s.client.Query(ctx, &dynamodb.QueryInput{
				TableName: aws.String(s.table), IndexName: aws.String(StatePriorityIndex),
				KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(),
				ExpressionAttributeValues: expr.Values(), ExclusiveStartKey: start,
				Limit: aws.Int32(int32(q.Limit - len(page.Worksets))),
			})
			if err != nil {
				return nil, interpret("Query", string(q.State), err)
			}
			s.appendItems(ctx, page, out.Items)
			start = out.LastEvaluatedKey
			if len(page.Worksets) < q.Limit && start != nil {
				continue
			}
			if len(page.Worksets) == q.Limit {
				switch {
				case start != nil:
					page.Cursor = cursor{Rank: rank, Key: keyToStrings(start)}.encode()
				case rank+1 < len(prios):
					page.Cursor = cursor{Rank: rank + 1}.encode()
				}
				return page, nil
			}
			break
		}
	}
	return page, nil
}

func (s *Store) scan(ctx context.Context, q workset.ListQuery, c cursor) (*workset.Page, error) {
	in := &dynamodb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(s.opts.ConsistentReads), ExclusiveStartKey: stringsToKey(c.Key)}
	if q.Priority != "" {
		expr, err := expression.NewBuilder().WithFilter(expression.Name(attrPriority).Equal(expression.Value(string(q.Priority)))).Build()
		if err != nil {
			return nil, err
		}
		in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.Filter(), expr.Names(), expr.Values()
	}
	page := &workset.Page{}
	for {
		in.Limit = aws.Int32(int32(q.Limit - len(page.Worksets)))
		out, err := s.client.Scan(ctx, in)
		if err != nil {
			return nil, interpret("Scan", s.table, err)
		}
		s.appendItems(ctx, page, out.Items)
		if out.LastEvaluatedKey == nil {
			return page, nil
		}
		if len(page.Worksets) == q.Limit {
			page.Cursor = cursor{Key: keyToStrings(out.LastEvaluatedKey)}.encode()
			return page, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
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
