// Package testenv gives tests the clients for the real servers that
// internal/withservers starts (see the Makefile). Without the servers a test
// skips with a message saying how to run it; under CI=true it fails instead.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/internal/servers"
)

// Region is the region the test clients use (any value works on loopback).
const Region = servers.S3Region

func endpoint(t testing.TB, name string) string {
	t.Helper()
	ep := os.Getenv(name)
	if ep == "" {
		msg := fmt.Sprintf("%s is not set: run the tests with `make test`, which starts the servers", name)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if !strings.HasPrefix(ep, "http://127.0.0.1:") {
		t.Fatalf("%s=%q: tests only talk to http://127.0.0.1:PORT", name, ep)
	}
	return ep
}

// AWSConfig returns a config with static dummy credentials and no shared config
// files, so nothing can reach real AWS.
func AWSConfig(accessKey, secretKey string) aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
	}
}

// DynamoDB returns a client for the test DynamoDB server.
func DynamoDB(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	ep := endpoint(t, servers.EnvDynamoDBEndpoint)
	cfg := AWSConfig("dummy", "dummy")
	return dynamodb.NewFromConfig(cfg, append([]func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(ep)
	}}, optFns...)...)
}

// S3 returns a path-style client for the test S3 server.
func S3(t testing.TB, optFns ...func(*s3.Options)) *s3.Client {
	t.Helper()
	ep := endpoint(t, servers.EnvS3Endpoint)
	cfg := AWSConfig(os.Getenv(servers.EnvS3AccessKey), os.Getenv(servers.EnvS3SecretKey))
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.UsePathStyle = true
	}}, optFns...)...)
}

var seq atomic.Int64

// UniqueName returns a name unique to this process run, usable as a table or
// bucket name (lower case, digits and dashes).
func UniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, seq.Add(1))
}

// Bucket creates a fresh bucket and returns its name.
func Bucket(t testing.TB, c *s3.Client) string {
	t.Helper()
	name := UniqueName("wst")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// S3IgnoringConditions returns a path-style client for s3rver, an S3 server
// that ignores conditional writes (If-None-Match, If-Match), and a fresh bucket
// on it: the negative target for the sentinel store's refusal of racy writes.
func S3IgnoringConditions(t testing.TB) (*s3.Client, string) {
	t.Helper()
	ep := endpoint(t, servers.EnvS3rverEndpoint)
	c := s3.NewFromConfig(AWSConfig("S3RVER", "S3RVER"), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(ep)
		o.UsePathStyle = true
	})
	return c, Bucket(t, c)
}

// ClosedEndpoint returns an http://127.0.0.1:PORT address nothing listens on
// (a port taken and let go), for tests of a store whose server is gone.
func ClosedEndpoint(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// Chromium returns the path of Debian's chromium for the browser tests (make
// test installs it with apt-get when missing); without it the test skips, and
// under CI=true it fails.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WORKSET_TEST_CHROMIUM"), "/usr/bin/chromium"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "chromium is not installed: run the tests with `make test`, which installs it (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// ArtifactDir is where tests save what a person should look at
// (screenshots): .cache/<name> under the module when make test runs, else a
// temporary directory.
func ArtifactDir(t testing.TB, name string) string {
	t.Helper()
	dir := t.TempDir()
	if c := os.Getenv("WORKSET_TEST_CACHE"); c != "" {
		dir = filepath.Join(c, name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}
