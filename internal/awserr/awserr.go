// Package awserr sorts the failures of AWS SDK calls into the contract's two
// infrastructure kinds: workset.ErrUnavailable (retry later) and
// workset.ErrMisconfigured (no retry will help until the configuration is
// fixed). The stores over AWS APIs (dynamostore, the sentinel store's S3Bucket)
// share it, so that one fault reads the same from every store.
package awserr

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/daylily-informatics/worksetstate/workset"
)

// misconfigured are the error codes that say who or where the caller is is
// wrong: a missing table or bucket, refused credentials, a wrong region.
var misconfigured = map[string]bool{
	"ResourceNotFoundException": true, "NoSuchBucket": true, "InvalidBucketName": true,
	"AccessDenied": true, "AccessDeniedException": true, "AllAccessDisabled": true, "AccountProblem": true,
	"UnrecognizedClientException": true, "InvalidAccessKeyId": true, "InvalidClientTokenId": true,
	"SignatureDoesNotMatch": true, "InvalidSignatureException": true, "IncompleteSignature": true, "IncompleteSignatureException": true,
	"MissingAuthenticationToken": true, "MissingAuthenticationTokenException": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "AuthorizationHeaderMalformed": true, "PermanentRedirect": true,
	// S3-compatible servers' own answers to an unknown access key (versitygw
	// sends it with status 404).
	"XAdminUserNotFound": true,
}

// unavailable are the error codes of a server that is there but cannot
// answer now: throttling past the SDK's retries, internal failures.
var unavailable = map[string]bool{
	"ThrottlingException": true, "Throttling": true, "ProvisionedThroughputExceededException": true, "RequestLimitExceeded": true,
	"SlowDown": true, "ServiceUnavailable": true, "ServiceUnavailableException": true,
	"InternalServerError": true, "InternalError": true, "InternalFailure": true,
	"RequestTimeout": true, "RequestTimeoutException": true, "TransactionInProgressException": true,
}

// Kind returns workset.ErrMisconfigured or workset.ErrUnavailable for an
// infrastructure failure, or nil for anything else (a refused condition, a
// validation error, a context that ended: those have their own kinds).
func Kind(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch code := ae.ErrorCode(); {
		case misconfigured[code]:
			return workset.ErrMisconfigured
		case unavailable[code]:
			return workset.ErrUnavailable
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code >= 500 || code == 429:
			return workset.ErrUnavailable
		case code == 401 || code == 403:
			return workset.ErrMisconfigured
		}
	}
	msg := err.Error()
	for _, s := range []string{"server gave HTTP response to HTTPS client", "first record does not look like a TLS handshake",
		"x509:", "failed to retrieve credentials", "failed to refresh cached credentials", "static credentials are empty",
		"unsupported protocol scheme"} {
		if strings.Contains(msg, s) {
			return workset.ErrMisconfigured // a wrong endpoint or no credentials: retrying changes nothing
		}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		if dns.IsNotFound {
			return workset.ErrMisconfigured
		}
		return workset.ErrUnavailable
	}
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return workset.ErrUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return workset.ErrUnavailable
	}
	return nil
}

// Hint is what an operator should do about a failure of kind.
func Hint(kind error) string {
	switch kind {
	case workset.ErrMisconfigured:
		return "no retry will help: check the endpoint, region, credentials and that the table or bucket exists"
	case workset.ErrUnavailable:
		return "retry later"
	}
	return ""
}
