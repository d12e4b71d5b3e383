package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/daylily-informatics/worksetstate/workset"
)

// floor issues n conditional PutItems of migrated-sized items at the given
// concurrency, and nothing else: the ceiling this server allows.
func floor(ctx context.Context, c *dynamodb.Client, table string, n, concurrency int) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	for range concurrency {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return nil
				}
				id := fmt.Sprintf("ws-%05d", i)
				now := workset.FormatTime(time.Now())
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(table),
					Item: map[string]types.AttributeValue{
						"workset_id": s(id), "state": s("complete"), "priority": s("normal"), "bucket": s("bench-legacy"),
						"prefix": s("worksets/" + id + "/"), "created_at": s(now), "updated_at": s(now),
						"state_history": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
							"state": s("complete"), "timestamp": s(now), "reason": s("Migrated from S3 sentinel files")}}}},
						"metadata": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"migrated_from_s3": &types.AttributeValueMemberBOOL{Value: true}}},
						"version":  &types.AttributeValueMemberN{Value: "1"},
					},
					ConditionExpression: aws.String("attribute_not_exists(workset_id)"),
				})
				if err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
