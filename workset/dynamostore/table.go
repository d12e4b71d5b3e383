package dynamostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// CreateTable creates the table as the deployed system does (key workset_id,
// PAY_PER_REQUEST, GSIs state-priority-index and created-at-index, projection
// ALL) unless it exists, then waits up to maxWait until the table and its
// indexes are active. It is idempotent. An existing table without
// state-priority-index is reported as an error (the store needs it).
func (s *Store) CreateTable(ctx context.Context, maxWait time.Duration) error {
	gsi := func(name, rangeKey string) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrState), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(rangeKey), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(s.table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrID), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrState), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrPriority), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrCreatedAt), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema:              []types.KeySchemaElement{{AttributeName: aws.String(attrID), KeyType: types.KeyTypeHash}},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{gsi(StatePriorityIndex, attrPriority), gsi(CreatedAtIndex, attrCreatedAt)},
	}
	if s.opts.CustomerIndex {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(storekit.AttrCustomerID), AttributeType: types.ScalarAttributeTypeS})
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(CustomerStateIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(storekit.AttrCustomerID), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrState), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		})
	}
	_, err := s.client.CreateTable(ctx, in)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return interpret("CreateTable", s.table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(s.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, maxWait); err != nil {
		return fmt.Errorf("dynamostore: waiting for table %s: %w", s.table, err)
	}
	deadline := time.Now().Add(maxWait)
	for {
		out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
		if err != nil {
			return interpret("DescribeTable", s.table, err)
		}
		ready, hasState := true, false
		for _, g := range out.Table.GlobalSecondaryIndexes {
			if aws.ToString(g.IndexName) == StatePriorityIndex {
				hasState = true
			}
			if g.IndexStatus != types.IndexStatusActive {
				ready = false
			}
		}
		if !hasState {
			return fmt.Errorf("dynamostore: table %s has no %s index; the store needs it for state queries", s.table, StatePriorityIndex)
		}
		if ready {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dynamostore: indexes of table %s not active after %v", s.table, maxWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
