package sentinel

import (
	"context"
	"errors"
	"time"
)

// Errors a Bucket returns (wrapped; match with errors.Is).
var (
	// ErrObjectNotFound: the object does not exist.
	ErrObjectNotFound = errors.New("sentinel: object not found")
	// ErrPreconditionFailed: a conditional write or delete did not apply (the
	// object exists for create-if-absent, or its ETag differs for If-Match).
	ErrPreconditionFailed = errors.New("sentinel: precondition failed")
)

// Object is one listed object.
type Object struct {
	Key          string
	ETag         string
	Size         int64
	LastModified time.Time
}

// ListInput asks for one page of a listing, as S3's ListObjectsV2 does.
type ListInput struct {
	Prefix string
	// Delimiter, when "/", groups keys below the next "/" into CommonPrefixes.
	Delimiter string
	// StartAfter lists keys after this one (first page only).
	StartAfter string
	// ContinuationToken continues a previous page.
	ContinuationToken string
	// MaxKeys bounds the page (1000 when zero or larger).
	MaxKeys int
}

// ListOutput is one page of a listing, keys in ascending byte order.
type ListOutput struct {
	Objects        []Object
	CommonPrefixes []string
	// NextContinuationToken is empty on the last page.
	NextContinuationToken string
}

// Content is an object's body and its user metadata (x-amz-meta-* on S3: at
// most 2 KB in all, lower-case keys, ASCII values). Metadata is written and
// read with the body, in the same request; a listing shows neither.
type Content struct {
	Body []byte
	Meta map[string]string
}

// Bucket is the small object-store surface the sentinel store needs. S3Bucket
// and DirBucket implement it. All methods are safe for concurrent use.
type Bucket interface {
	// List returns one page of keys under a prefix.
	List(ctx context.Context, in ListInput) (*ListOutput, error)
	// Get returns an object's body, metadata and ETag, or ErrObjectNotFound.
	Get(ctx context.Context, key string) (c Content, etag string, err error)
	// Create writes an object only if no object has the key (If-None-Match: *),
	// or fails with ErrPreconditionFailed. It returns the new ETag.
	Create(ctx context.Context, key string, c Content) (etag string, err error)
	// Replace overwrites an object only if its ETag is ifMatch (If-Match), or
	// fails with ErrPreconditionFailed (ErrObjectNotFound when it is gone).
	// The ETag may depend on the body alone (S3's is its MD5), so a caller
	// that compares and swaps writes a body that differs from the last one.
	Replace(ctx context.Context, key string, c Content, ifMatch string) (etag string, err error)
	// Delete removes an object; with ifMatch set, only if its ETag matches
	// (else ErrPreconditionFailed). Deleting a missing object is not an error.
	Delete(ctx context.Context, key string, ifMatch string) error
	// Name identifies the bucket (an S3 bucket name or a directory path).
	Name() string
}
