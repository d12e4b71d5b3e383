package main

import (
	"context"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"
)

// migratedItems reads, untimed, the items the Migrator wrote, so that the
// floor writes exactly the same items.
func migratedItems(ctx context.Context, c *dynamodb.Client, table string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, page.Items...)
	}
	return items, nil
}

// floor issues one conditional PutItem per item at the given concurrency, and
// nothing else: the ceiling this server allows for these writes.
func floor(ctx context.Context, c *dynamodb.Client, table string, items []map[string]types.AttributeValue, concurrency int) error {
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range concurrency {
		g.Go(func() error {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(items)) {
					return nil
				}
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
					TableName: aws.String(table), Item: items[i],
					ConditionExpression:      aws.String("attribute_not_exists(#id)"),
					ExpressionAttributeNames: map[string]string{"#id": "workset_id"},
				})
				if err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}
