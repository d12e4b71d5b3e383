package dynamostore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/workset"
)

// CountByState counts worksets per state with Select=COUNT queries on
// state-priority-index, one per state, following every page (no scan, no
// items read).
func (s *Store) CountByState(ctx context.Context) (map[workset.State]int64, error) {
	out := make(map[workset.State]int64)
	for _, st := range workset.States() {
		expr, err := expression.NewBuilder().WithKeyCondition(expression.Key(attrState).Equal(expression.Value(string(st)))).Build()
		if err != nil {
			return nil, err
		}
		p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName: aws.String(s.table), IndexName: aws.String(StatePriorityIndex), Select: types.SelectCount,
			KeyConditionExpression: expr.KeyCondition(), ExpressionAttributeNames: expr.Names(), ExpressionAttributeValues: expr.Values(),
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, interpret("Query", string(st), err)
			}
			out[st] += int64(page.Count)
		}
	}
	return out, nil
}
