package main

import (
	"encoding/json"
	"fmt"
	"strings"
)

// policyActions are the API actions the migration CLI calls, per service.
var (
	dynamoActions = []string{"dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:UpdateItem"}
	s3ObjectActs  = []string{"s3:DeleteObject", "s3:GetObject", "s3:PutObject"}
)

// iamPolicy renders the least-privilege policy for the CLI: only the table
// (and its indexes' ARNs, for scans by the deployed tooling sharing the
// policy), only the objects under the prefix, only the actions the CLI uses.
func iamPolicy(region, account, table, bucket string, prefixes []string, createTable bool) ([]byte, error) {
	if account == "" {
		account = "*"
	}
	actions := append([]string(nil), dynamoActions...)
	if createTable {
		actions = append(actions, "dynamodb:CreateTable")
	}
	tableARN := fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", region, account, table)
	var objects, listed []string
	for _, prefix := range prefixes {
		listPrefix := strings.TrimSuffix(prefix, "/") + "/*"
		if prefix == "" {
			listPrefix = "*"
		}
		objects = append(objects, "arn:aws:s3:::"+bucket+"/"+listPrefix)
		listed = append(listed, prefix, listPrefix)
	}
	doc := map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{
			{"Sid": "WorksetTable", "Effect": "Allow", "Action": actions, "Resource": []string{tableARN, tableARN + "/index/*"}},
			{"Sid": "SentinelObjects", "Effect": "Allow", "Action": s3ObjectActs, "Resource": objects},
			{"Sid": "ListWorksetPrefix", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::" + bucket,
				"Condition": map[string]any{"StringLike": map[string]any{"s3:prefix": listed}}},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}
