package reliability

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
)

// Infrastructure failures have documented kinds on every store, in the
// contract's format (issue 26, errors): a caller tells "fix your
// configuration" (ErrMisconfigured) from "retry later" (ErrUnavailable,
// workset.Retryable) without matching strings.
func TestInfrastructureFailuresHaveKinds(t *testing.T) {
	t.Parallel()
	noRetry := func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
	s3NoRetry := func(o *s3.Options) { o.RetryMaxAttempts = 1 }
	s3c := testenv.S3(t)
	bucket := testenv.Bucket(t, s3c)
	sentinelOver := func(t *testing.T, c *s3.Client, bucket string) workset.StateStore {
		b, err := sentinel.NewS3Bucket(c, bucket)
		if err != nil {
			t.Fatal(err)
		}
		s, err := sentinel.New(b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) workset.StateStore
		kind  error
	}{
		{"DynamoDB/MissingTable", func(t *testing.T) workset.StateStore {
			s, err := dynamostore.New(testenv.DynamoDB(t), "no-such-table")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, workset.ErrMisconfigured},
		{"DynamoDB/DeadEndpoint", func(t *testing.T) workset.StateStore {
			s, err := dynamostore.New(testenv.DynamoDB(t, noRetry, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(testenv.ClosedEndpoint(t)) }), "t")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, workset.ErrUnavailable},
		{"DynamoDB/HTTPSAgainstHTTP", func(t *testing.T) workset.StateStore {
			ep := strings.Replace(*testenv.DynamoDB(t).Options().BaseEndpoint, "http://", "https://", 1)
			s, err := dynamostore.New(testenv.DynamoDB(t, noRetry, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ep) }), "t")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, workset.ErrMisconfigured},
		{"S3/MissingBucket", func(t *testing.T) workset.StateStore {
			return sentinelOver(t, testenv.S3(t), "no-such-bucket")
		}, workset.ErrMisconfigured},
		{"S3/BadCredentials", func(t *testing.T) workset.StateStore {
			return sentinelOver(t, testenv.S3(t, s3NoRetry, func(o *s3.Options) {
				o.Credentials = credentials.NewStaticCredentialsProvider("wrong-key", "wrong-secret", "")
			}), bucket)
		}, workset.ErrMisconfigured},
		{"S3/DeadEndpoint", func(t *testing.T) workset.StateStore {
			return sentinelOver(t, testenv.S3(t, s3NoRetry, func(o *s3.Options) { o.BaseEndpoint = aws.String(testenv.ClosedEndpoint(t)) }), bucket)
		}, workset.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.store(t)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := s.Get(ctx, "ws-1")
			if !errors.Is(err, tc.kind) || !strings.HasPrefix(err.Error(), "workset ws-1: ") {
				t.Fatalf("Get: %v; want %v in the format \"workset ws-1: <kind>: <detail>\"", err, tc.kind)
			}
			if got, want := workset.Retryable(err), tc.kind == workset.ErrUnavailable; got != want {
				t.Errorf("Retryable(%v) = %v, want %v", err, got, want)
			}
			_, err = s.List(ctx, workset.ListQuery{State: workset.StateReady})
			if !errors.Is(err, tc.kind) {
				t.Errorf("List: %v; want %v", err, tc.kind)
			}
		})
	}

	// A monitor pointed at a missing table ends Run at once, with the error,
	// instead of polling for a minute (issue 26, monitor 4).
	t.Run("MonitorEndsOnAMissingTable", func(t *testing.T) {
		t.Parallel()
		s, err := dynamostore.New(testenv.DynamoDB(t), "no-such-table")
		if err != nil {
			t.Fatal(err)
		}
		m, err := monitor.New(s, func(context.Context, *workset.Workset) error { return nil }, func(o *monitor.Options) { o.PollInterval = 20 * time.Millisecond })
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if err := m.Run(ctx); !errors.Is(err, workset.ErrMisconfigured) || ctx.Err() != nil {
			t.Errorf("Run on a missing table = %v (context: %v); want ErrMisconfigured at once", err, ctx.Err())
		}
	})
}
