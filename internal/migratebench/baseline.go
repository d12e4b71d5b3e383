package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// guideMigrate is a faithful Go port of the migration guide's script (Phase 2,
// step 2.1), with one deviation so that it migrates the same worksets as the
// Migrator: the listing of workset prefixes follows continuation tokens (the
// original reads one page of 1,000 and silently skips the rest). For each
// workset, sequentially: one ListObjectsV2 (MaxKeys=100) to find its
// sentinels, one conditional PutItem (register_workset) and, when the state is
// not ready, one UpdateItem (update_state).
func guideMigrate(ctx context.Context, s3c *s3.Client, ddb *dynamodb.Client, bucket, prefix, table string) (int, error) {
	n := 0
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), Delimiter: aws.String("/")}
	for {
		out, err := s3c.ListObjectsV2(ctx, in)
		if err != nil {
			return n, err
		}
		for _, cp := range out.CommonPrefixes {
			wsPrefix := aws.ToString(cp.Prefix)
			id := wsPrefix[strings.LastIndex(strings.TrimSuffix(wsPrefix, "/"), "/")+1 : len(wsPrefix)-1]
			if err := guideMigrateOne(ctx, s3c, ddb, bucket, wsPrefix, id, table); err != nil {
				return n, fmt.Errorf("%s: %w", id, err)
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// getStateFromS3 is get_state_from_s3: COMPLETE > ERROR > LOCKED > READY,
// ready by default.
func getStateFromS3(ctx context.Context, s3c *s3.Client, bucket, prefix string) (string, error) {
	out, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(100)})
	if err != nil {
		return "", err
	}
	files := map[string]bool{}
	for _, o := range out.Contents {
		k := aws.ToString(o.Key)
		files[k[strings.LastIndex(k, "/")+1:]] = true
	}
	switch {
	case files["_COMPLETE"]:
		return "complete", nil
	case files["_ERROR"]:
		return "error", nil
	case files["_LOCKED"]:
		return "locked", nil
	default:
		return "ready", nil
	}
}

func pyNow() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") }

// guideMigrateOne is migrate_workset: register_workset then update_state.
func guideMigrateOne(ctx context.Context, s3c *s3.Client, ddb *dynamodb.Client, bucket, prefix, id, table string) error {
	state, err := getStateFromS3(ctx, s3c, bucket, prefix)
	if err != nil {
		return err
	}
	now := pyNow()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	_, err = ddb.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"workset_id": s(id), "state": s("ready"), "priority": s("normal"), "bucket": s(bucket), "prefix": s(prefix),
			"created_at": s(now), "updated_at": s(now),
			"state_history": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"state": s("ready"), "timestamp": s(now), "reason": s("Initial registration")}}}},
			"metadata": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"migrated_from_s3": &types.AttributeValueMemberBOOL{Value: true}}},
		},
		ConditionExpression: aws.String("attribute_not_exists(workset_id)"),
	})
	if err != nil {
		return err
	}
	if state == "ready" {
		return nil
	}
	now = pyNow()
	_, err = ddb.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(table),
		Key:                      map[string]types.AttributeValue{"workset_id": s(id)},
		UpdateExpression:         aws.String("SET #state = :state, updated_at = :now, state_history = list_append(state_history, :entry)"),
		ExpressionAttributeNames: map[string]string{"#state": "state"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":state": s(state), ":now": s(now),
			":entry": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
				"state": s(state), "timestamp": s(now), "reason": s("Migrated from S3 sentinel files")}}}},
		},
	})
	return err
}
