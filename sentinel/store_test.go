package sentinel_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/sentinel"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

const skew = 200 * time.Millisecond

func s3Bucket(t *testing.T) *sentinel.S3Bucket {
	t.Helper()
	c := testenv.S3(t)
	b, err := sentinel.NewS3Bucket(c, testenv.Bucket(t, c))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newStore(t *testing.T, b sentinel.Bucket, optFns ...func(*sentinel.Options)) *sentinel.Store {
	t.Helper()
	s, err := sentinel.New(b, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Probe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Atomic() || !r.ConditionalDelete {
		t.Fatalf("probe: %+v", r)
	}
	return s
}

func TestConformanceS3(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		SkewMargin: skew,
		NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
			return newStore(t, s3Bucket(t), func(o *sentinel.Options) { o.Clock, o.SkewMargin = clock, skew })
		},
		Faulty: func(t *testing.T, kind error) workset.StateStore {
			c, name := testenv.S3(t), "no-such-bucket" // a missing bucket is a misconfiguration
			if kind == workset.ErrUnavailable {
				c, name = testenv.S3(t, func(o *s3.Options) { o.BaseEndpoint, o.RetryMaxAttempts = aws.String(testenv.ClosedEndpoint(t)), 1 }), "b"
			}
			b, err := sentinel.NewS3Bucket(c, name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := sentinel.New(b)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}

func TestConformanceDir(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		SkewMargin: skew,
		NewStore: func(t *testing.T, clock workset.Clock) workset.StateStore {
			b, err := sentinel.NewDirBucket(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return newStore(t, b, func(o *sentinel.Options) {
				o.Clock, o.SkewMargin, o.Naming, o.NoSentinel = clock, skew, sentinel.DaylilyNaming(), sentinel.NoSentinelReady
			})
		},
	})
}
