package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// Identity is an authenticated caller.
type Identity struct {
	// Subject identifies the caller (the token's sub), for logs.
	Subject string
	// Customer is the customer whose worksets the caller may see and change.
	Customer string
	// Operator callers (operators and monitors) act on every workset.
	Operator bool
}

// Authenticator identifies the caller of a request. The handler calls it for
// every route but GET /. An error means the caller is not authenticated
// (401); wrap ErrUnauthenticated so its text is the reason logged.
// Implementations can read a bearer token (OIDC), an API key, or an identity a
// proxy vouched for (mTLS).
type Authenticator interface {
	Authenticate(r *http.Request) (*Identity, error)
}

// ErrUnauthenticated: the request carries no valid credentials.
var ErrUnauthenticated = errors.New("api: not authenticated")

// OIDCConfig configures OIDCAuthenticator. Cognito user pools are OIDC issuers
// (https://cognito-idp.<region>.amazonaws.com/<pool-id>).
type OIDCConfig struct {
	// Issuer is the issuer URL; its discovery document and JWKS are fetched
	// from it (the keys are cached and fetched again on an unknown key id).
	Issuer string
	// Audience must be in the token's aud claim, or be its client_id claim
	// (Cognito access tokens carry client_id instead of aud).
	Audience string
	// CustomerClaim names the claim holding the caller's customer (default
	// "custom:customer_id", as in Cognito).
	CustomerClaim string
	// GroupsClaim names the claim listing the caller's groups (default
	// "cognito:groups"); a caller in OperatorGroup is an operator.
	GroupsClaim   string
	OperatorGroup string
	// HTTPClient fetches discovery and keys (default: a client whose requests
	// end after KeyFetchTimeout, reading at most 1 MiB of a key set).
	HTTPClient *http.Client
	// KeyFetchTimeout bounds how long a request waits for the issuer's keys
	// (default 5s). While keys cannot be had (the issuer is down or stalls),
	// requests whose token needs them answer 503 at once after it, and the
	// next request fetches again: the authenticator recovers by itself.
	KeyFetchTimeout time.Duration
}

// ErrKeysUnavailable marks a token that could not be checked because the
// issuer's keys could not be fetched in time: the API answers 503, not 401.
var ErrKeysUnavailable = errors.New("api: the issuer's keys cannot be fetched")

// maxKeySet bounds a fetched discovery document or key set.
const maxKeySet = 1 << 20

// limitedBodies caps every response body it carries at maxKeySet bytes.
type limitedBodies struct{ next http.RoundTripper }

func (l limitedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, maxKeySet), resp.Body}
	}
	return resp, err
}

// asymmetricAlgs are the signature algorithms accepted: no "none", and no
// HMAC (which would let a public key be used as a shared secret).
var asymmetricAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA}

// OIDCAuthenticator verifies bearer JWTs of one OpenID Connect issuer.
type OIDCAuthenticator struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
}

// NewOIDCAuthenticator fetches the issuer's discovery document and returns an
// authenticator for its tokens.
func NewOIDCAuthenticator(ctx context.Context, cfg OIDCConfig) (*OIDCAuthenticator, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: api: OIDC needs an issuer and an audience", workset.ErrInvalidInput)
	}
	if cfg.CustomerClaim == "" {
		cfg.CustomerClaim = "custom:customer_id"
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "cognito:groups"
	}
	if cfg.KeyFetchTimeout <= 0 {
		cfg.KeyFetchTimeout = 5 * time.Second
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: cfg.KeyFetchTimeout, Transport: limitedBodies{http.DefaultTransport}}
	}
	ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	p, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("api: OIDC issuer %s: %w", cfg.Issuer, err)
	}
	// The key set is fetched with a client that outlives ctx.
	keyCtx := oidc.ClientContext(context.Background(), cfg.HTTPClient)
	var claims struct {
		JWKS string `json:"jwks_uri"`
	}
	if err := p.Claims(&claims); err != nil || claims.JWKS == "" {
		return nil, fmt.Errorf("api: OIDC issuer %s: discovery document has no jwks_uri", cfg.Issuer)
	}
	keys := oidc.NewRemoteKeySet(keyCtx, claims.JWKS)
	v := oidc.NewVerifier(cfg.Issuer, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: asymmetricAlgs})
	return &OIDCAuthenticator{cfg: cfg, verifier: v}, nil
}

// Authenticate implements Authenticator: signature, issuer, expiry,
// not-before, then audience (aud or client_id).
func (a *OIDCAuthenticator) Authenticate(r *http.Request) (*Identity, error) {
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	ok = ok && strings.EqualFold(scheme, "Bearer") // the scheme is case-insensitive (RFC 9110, 11.1)
	if !ok || strings.TrimSpace(raw) == "" {
		if h == "" {
			return nil, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
		}
		return nil, fmt.Errorf("%w: Authorization is not a bearer token", ErrUnauthenticated)
	}
	vctx, cancel := context.WithTimeout(r.Context(), a.cfg.KeyFetchTimeout)
	defer cancel()
	tok, err := a.verifier.Verify(vctx, strings.TrimSpace(raw))
	if err != nil {
		if vctx.Err() != nil || strings.Contains(err.Error(), "fetching keys") {
			return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrUnauthenticated, err)
	}
	if !slices.Contains(tok.Audience, a.cfg.Audience) && claims["client_id"] != a.cfg.Audience {
		return nil, fmt.Errorf("%w: token is for audience %v, not %s", ErrUnauthenticated, tok.Audience, a.cfg.Audience)
	}
	id := &Identity{Subject: tok.Subject}
	if c, ok := claims[a.cfg.CustomerClaim].(string); ok {
		id.Customer = c
	}
	if groups, ok := claims[a.cfg.GroupsClaim].([]any); ok && a.cfg.OperatorGroup != "" {
		for _, g := range groups {
			if g == a.cfg.OperatorGroup {
				id.Operator = true
			}
		}
	}
	if !id.Operator && id.Customer == "" {
		return nil, fmt.Errorf("%w: token names no customer (%s) and no operator group", ErrUnauthenticated, a.cfg.CustomerClaim)
	}
	return id, nil
}

// ownerOf is the customer a workset belongs to: its customer_id attribute,
// else, for rows older than that attribute, metadata.submitted_by.
func ownerOf(w *workset.Workset) string {
	if c, ok := w.Attributes[storekit.AttrCustomerID].(string); ok && c != "" {
		return c
	}
	if c, ok := w.Metadata["submitted_by"].(string); ok {
		return c
	}
	return ""
}

type identityKey struct{}

func identity(r *http.Request) *Identity {
	id, _ := r.Context().Value(identityKey{}).(*Identity)
	return id
}

// errForbidden: authenticated, without the right.
var errForbidden = errors.New("api: forbidden")
