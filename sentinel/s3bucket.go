package sentinel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/daylily-informatics/worksetstate/internal/awserr"
	"github.com/daylily-informatics/worksetstate/workset"
)

// S3Client is the subset of *s3.Client that S3Bucket calls.
type S3Client interface {
	ListObjectsV2(context.Context, *s3.ListObjectsV2Input, ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

var _ S3Client = (*s3.Client)(nil)

// S3Bucket is a Bucket over an S3 (or S3-compatible) bucket. Create uses
// If-None-Match: *, Replace and conditional Delete use If-Match. A 409
// ConditionalRequestConflict (a concurrent conditional write on the same key)
// is retried a few times with a short backoff before it is reported as
// ErrPreconditionFailed.
type S3Bucket struct {
	client S3Client
	bucket string
}

var _ Bucket = (*S3Bucket)(nil)

// NewS3Bucket returns a Bucket over the named S3 bucket.
func NewS3Bucket(client S3Client, bucket string) (*S3Bucket, error) {
	if client == nil || bucket == "" {
		return nil, fmt.Errorf("%w: sentinel: NewS3Bucket needs a client and a bucket name", workset.ErrInvalidInput)
	}
	return &S3Bucket{client: client, bucket: bucket}, nil
}

// Name returns the bucket name.
func (b *S3Bucket) Name() string { return b.bucket }

// List implements Bucket with one ListObjectsV2 call.
func (b *S3Bucket) List(ctx context.Context, in ListInput) (*ListOutput, error) {
	max := in.MaxKeys
	if max <= 0 || max > 1000 {
		max = 1000
	}
	req := &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(in.Prefix), MaxKeys: aws.Int32(int32(max))}
	if in.Delimiter != "" {
		req.Delimiter = aws.String(in.Delimiter)
	}
	if in.ContinuationToken != "" {
		req.ContinuationToken = aws.String(in.ContinuationToken)
	} else if in.StartAfter != "" {
		req.StartAfter = aws.String(in.StartAfter)
	}
	out, err := b.client.ListObjectsV2(ctx, req)
	if err != nil {
		return nil, b.interpret("ListObjectsV2", in.Prefix, err)
	}
	res := &ListOutput{Objects: make([]Object, 0, len(out.Contents))}
	for _, o := range out.Contents {
		res.Objects = append(res.Objects, Object{Key: aws.ToString(o.Key), ETag: aws.ToString(o.ETag), Size: aws.ToInt64(o.Size), LastModified: aws.ToTime(o.LastModified)})
	}
	for _, p := range out.CommonPrefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, aws.ToString(p.Prefix))
	}
	if aws.ToBool(out.IsTruncated) {
		res.NextContinuationToken = aws.ToString(out.NextContinuationToken)
	}
	return res, nil
}

// Get implements Bucket.
func (b *S3Bucket) Get(ctx context.Context, key string) (Content, string, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		return Content{}, "", b.interpret("GetObject", key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, maxBody+1))
	if err != nil {
		return Content{}, "", fmt.Errorf("sentinel: reading s3://%s/%s: %w", b.bucket, key, err)
	}
	return Content{Body: body, Meta: out.Metadata}, aws.ToString(out.ETag), nil
}

// Create implements Bucket.
func (b *S3Bucket) Create(ctx context.Context, key string, c Content) (string, error) {
	return b.put(ctx, key, c, func(in *s3.PutObjectInput) { in.IfNoneMatch = aws.String("*") })
}

// Replace implements Bucket.
func (b *S3Bucket) Replace(ctx context.Context, key string, c Content, ifMatch string) (string, error) {
	if ifMatch == "" {
		return "", fmt.Errorf("sentinel: Replace %s without an ETag", key)
	}
	return b.put(ctx, key, c, func(in *s3.PutObjectInput) { in.IfMatch = aws.String(ifMatch) })
}

func (b *S3Bucket) put(ctx context.Context, key string, c Content, cond func(*s3.PutObjectInput)) (string, error) {
	for attempt := 0; ; attempt++ {
		in := &s3.PutObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key), Body: bytes.NewReader(c.Body),
			ContentLength: aws.Int64(int64(len(c.Body))), ContentType: aws.String("text/plain; charset=utf-8"), Metadata: c.Meta}
		cond(in)
		out, err := b.client.PutObject(ctx, in)
		if err == nil {
			return aws.ToString(out.ETag), nil
		}
		if !isConflict(err) || attempt >= 4 {
			return "", b.interpret("PutObject", key, err)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(10<<attempt) * time.Millisecond):
		}
	}
}

// Delete implements Bucket.
func (b *S3Bucket) Delete(ctx context.Context, key string, ifMatch string) error {
	in := &s3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)}
	if ifMatch != "" {
		in.IfMatch = aws.String(ifMatch)
	}
	_, err := b.client.DeleteObject(ctx, in)
	if err = b.interpret("DeleteObject", key, err); errors.Is(err, ErrObjectNotFound) {
		return nil
	}
	return err
}

func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func isConflict(err error) bool {
	var ae smithy.APIError
	return status(err) == http.StatusConflict || (errors.As(err, &ae) && ae.ErrorCode() == "ConditionalRequestConflict")
}

// interpret maps S3 errors onto the Bucket errors, keeping the cause.
func (b *S3Bucket) interpret(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var nsk *types.NoSuchKey
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket":
		return &workset.Error{Kind: workset.ErrMisconfigured, Detail: fmt.Sprintf("sentinel: %s: bucket %s does not exist", op, b.bucket), Err: err}
	case errors.As(err, &ae) && awserr.Kind(err) == workset.ErrMisconfigured:
		return &workset.Error{Kind: workset.ErrMisconfigured, Detail: fmt.Sprintf("sentinel: %s s3://%s/%s: %s", op, b.bucket, key, awserr.Hint(workset.ErrMisconfigured)), Err: err}
	case errors.As(err, &nsk) || status(err) == http.StatusNotFound:
		return fmt.Errorf("%w: s3://%s/%s: %w", ErrObjectNotFound, b.bucket, key, err)
	case status(err) == http.StatusPreconditionFailed || isConflict(err):
		return fmt.Errorf("%w: %s s3://%s/%s: %w", ErrPreconditionFailed, op, b.bucket, key, err)
	}
	if kind := awserr.Kind(err); kind != nil {
		return &workset.Error{Kind: kind, Detail: fmt.Sprintf("sentinel: %s s3://%s/%s: %s", op, b.bucket, key, awserr.Hint(kind)), Err: err}
	}
	return fmt.Errorf("sentinel: %s s3://%s/%s: %w", op, b.bucket, key, err)
}
