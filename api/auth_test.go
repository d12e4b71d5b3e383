package api_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/go-cmp/cmp"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// issuer is a test OpenID Connect issuer on loopback: discovery, a JWKS it can
// rotate, and a signer for tokens.
type issuer struct {
	srv *httptest.Server
	mu  sync.Mutex
	key *rsa.PrivateKey
	kid string
	// stalled makes the JWKS endpoint hang until it is cleared.
	stalled atomic.Bool
}

func newIssuer(t *testing.T) *issuer {
	t.Helper()
	is := &issuer{}
	is.rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": is.srv.URL, "jwks_uri": is.srv.URL + "/jwks",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		for is.stalled.Load() && r.Context().Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		is.mu.Lock()
		defer is.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &is.key.PublicKey, KeyID: is.kid, Algorithm: "RS256", Use: "sig"}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// rotate replaces the signing key (the JWKS then lists only the new one).
func (is *issuer) rotate(t *testing.T) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.key, is.kid = k, fmt.Sprintf("key-%d", time.Now().UnixNano())
}

const audience = "workset-api-client"

type claims struct {
	jwt.Claims
	Customer string   `json:"custom:customer_id,omitempty"`
	Groups   []string `json:"cognito:groups,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
}

func (is *issuer) claims(customer string, groups ...string) claims {
	now := time.Now()
	return claims{Claims: jwt.Claims{Issuer: is.srv.URL, Subject: "user-" + customer, Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), Expiry: jwt.NewNumericDate(now.Add(time.Hour))},
		Customer: customer, Groups: groups}
}

func (is *issuer) sign(t *testing.T, c claims) string {
	t.Helper()
	is.mu.Lock()
	key, kid := is.key, is.kid
	is.mu.Unlock()
	return signWith(t, key, kid, c)
}

func signWith(t *testing.T, key *rsa.PrivateKey, kid string, c claims) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// snapshot is what the store holds, to prove a refused call changed nothing.
func snapshot(t *testing.T, s workset.StateStore) map[string]string {
	t.Helper()
	out := map[string]string{}
	for w, err := range workset.All(t.Context(), s, workset.ListQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		lease := ""
		if w.Lease != nil {
			lease = w.Lease.Owner
		}
		out[w.ID] = fmt.Sprintf("%s v%d lease=%s customer=%v", w.State, w.Version, lease, w.Attributes["customer_id"])
	}
	return out
}

func TestOIDCAuthentication(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for id, attrs := range map[string]map[string]any{"a-1": {"customer_id": "cust-a"}, "b-1": {"customer_id": "cust-b"}, "old-b": nil} {
		req := workset.RegisterRequest{ID: id, Attributes: attrs}
		if attrs == nil {
			req.Metadata = map[string]any{"submitted_by": "cust-b"} // an older row: ownership from metadata
		}
		if _, err := store.Register(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	auth, err := api.NewOIDCAuthenticator(ctx, api.OIDCConfig{Issuer: is.srv.URL, Audience: audience, OperatorGroup: "operators"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(store, func(o *api.Options) { o.Auth, o.CORSOrigins = auth, []string{"https://portal.example.org"} })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	tokA, tokB, tokOp := is.sign(t, is.claims("cust-a")), is.sign(t, is.claims("cust-b")), is.sign(t, is.claims("", "operators"))
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	expired := is.claims("cust-a")
	expired.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	early := is.claims("cust-a")
	early.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour))
	wrongIss := is.claims("cust-a")
	wrongIss.Issuer = "https://evil.example.org"
	wrongAud := is.claims("cust-a")
	wrongAud.Audience = jwt.Audience{"someone-else"}
	noCustomer := is.claims("")
	pubDER, err := x509.MarshalPKIXPublicKey(&is.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	hmacSigner, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: pubDER}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", is.kid))
	if err != nil {
		t.Fatal(err)
	}
	hmacTok, err := jwt.Signed(hmacSigner).Claims(is.claims("cust-a")).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	noneTok := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(is.claims("cust-a")) + "."

	type tc struct {
		name, method, path, token, body string
		code                            int
		changes                         bool
	}
	cases := []tc{
		{"no token", "GET", "/worksets/a-1", "", "", 401, false},
		{"garbage", "GET", "/worksets/a-1", "xyz", "", 401, false},
		{"alg none", "GET", "/worksets/a-1", noneTok, "", 401, false},
		{"HMAC with the public key", "GET", "/worksets/a-1", hmacTok, "", 401, false},
		{"wrong signature", "GET", "/worksets/a-1", signWith(t, other, is.kid, is.claims("cust-a")), "", 401, false},
		{"expired", "GET", "/worksets/a-1", is.sign(t, expired), "", 401, false},
		{"not yet valid", "GET", "/worksets/a-1", is.sign(t, early), "", 401, false},
		{"wrong issuer", "GET", "/worksets/a-1", is.sign(t, wrongIss), "", 401, false},
		{"wrong audience", "GET", "/worksets/a-1", is.sign(t, wrongAud), "", 401, false},
		{"no customer, no group", "GET", "/worksets/a-1", is.sign(t, noCustomer), "", 401, false},
		{"no token, write", "PUT", "/worksets/a-1/state", "", `{"state":"in_progress"}`, 401, false},
		{"health needs none", "GET", "/", "", "", 200, false},
		{"A reads own", "GET", "/worksets/a-1", tokA, "", 200, false},
		{"A reads B's", "GET", "/worksets/b-1", tokA, "", 404, false},
		{"A reads B's older row", "GET", "/worksets/old-b", tokA, "", 404, false},
		{"A locks B's", "POST", "/worksets/b-1/lock?owner_id=x", tokA, "", 404, false},
		{"A unlocks B's", "DELETE", "/worksets/b-1/lock?owner_id=x", tokA, "", 404, false},
		{"A moves B's", "PUT", "/worksets/b-1/state", tokA, `{"state":"in_progress"}`, 404, false},
		{"A moves own", "PUT", "/worksets/a-1/state", tokA, `{"state":"in_progress"}`, 403, false},
		{"A locks own", "POST", "/worksets/a-1/lock?owner_id=x", tokA, "", 403, false},
		{"A registers for B", "POST", "/worksets", tokA, `{"workset_id":"forged","customer_id":"cust-b"}`, 403, false},
		{"B reads own older row", "GET", "/worksets/old-b", tokB, "", 200, false},
		{"operator reads B's", "GET", "/worksets/b-1", tokOp, "", 200, false},
		{"operator locks B's", "POST", "/worksets/b-1/lock?owner_id=monitor-1", tokOp, "", 200, true},
		{"A registers", "POST", "/worksets", tokA, `{"workset_id":"a-2"}`, 201, true},
	}
	call := func(method, path, token, body string) (int, string, http.Header) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b), resp.Header
	}
	for _, c := range cases {
		before := snapshot(t, store)
		code, _, hdr := call(c.method, c.path, c.token, c.body)
		if code != c.code {
			t.Errorf("%s: %s %s answered %d, want %d", c.name, c.method, c.path, code, c.code)
		}
		if code == 401 && !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without WWW-Authenticate: Bearer", c.name)
		}
		if d := cmp.Diff(before, snapshot(t, store)); (d != "") != c.changes {
			t.Errorf("%s: store changed=%v, want %v:\n%s", c.name, d != "", c.changes, d)
		}
	}
	// The new workset is A's: stamped from the token.
	if w, err := store.Get(ctx, "a-2"); err != nil || w.Attributes["customer_id"] != "cust-a" {
		t.Errorf("a-2 registered by A: %v, %v", w, err)
	}

	// Lists, next and stats are filtered to the customer; the operator sees all.
	list := func(token, path string) []string {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ws []api.Workset
		if err := json.NewDecoder(resp.Body).Decode(&ws); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var ids []string
		for _, w := range ws {
			ids = append(ids, w.WorksetID)
		}
		return ids
	}
	if got := list(tokA, "/worksets"); fmt.Sprint(got) != "[a-1 a-2]" {
		t.Errorf("A lists %v, want [a-1 a-2]", got)
	}
	// The scheme is case-insensitive (issue 26, API 8).
	req, err := http.NewRequest("GET", srv.URL+"/worksets/a-1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer "+tokA)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("a lowercase bearer scheme: %v %v", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	if got := list(tokOp, "/worksets"); len(got) != 4 {
		t.Errorf("operator lists %v, want all 4", got)
	}
	var stats struct {
		Total int64 `json:"total_worksets"`
	}
	req, err = http.NewRequest("GET", srv.URL+"/queue/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tokB)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if stats.Total != 1 {
		t.Errorf("B's queue stats count %d worksets, want 1 (its own with customer_id)", stats.Total)
	}

	// The issuer rotates its key: a token signed with the new key is accepted
	// (the key set is fetched again for the unknown key id).
	is.rotate(t)
	if code, _, _ := call("GET", "/worksets/a-1", is.sign(t, is.claims("cust-a")), ""); code != 200 {
		t.Errorf("token signed with a rotated key: %d, want 200", code)
	}

	// CORS: only the configured origin, never a wildcard.
	for origin, want := range map[string]string{"https://portal.example.org": "https://portal.example.org", "https://evil.example.org": ""} {
		req, err := http.NewRequest("OPTIONS", srv.URL+"/worksets", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != want {
			t.Errorf("CORS for %s: allow-origin %q, want %q", origin, got, want)
		}
	}
}

// One stalled key fetch no longer blocks key rotation until a restart (issue
// 26, API 7): while the issuer's JWKS endpoint hangs, a token signed with a
// rotated-in key answers 503 after KeyFetchTimeout instead of hanging, and once
// the issuer recovers the same token is accepted, without a restart.
func TestStalledKeyFetchRecovers(t *testing.T) {
	t.Parallel()
	is := newIssuer(t)
	store, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.NewOIDCAuthenticator(t.Context(), api.OIDCConfig{Issuer: is.srv.URL, Audience: audience, OperatorGroup: "operators", KeyFetchTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(store, func(o *api.Options) { o.Auth = auth })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	get := func(token string) int {
		req, err := http.NewRequest("GET", srv.URL+"/worksets", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		c := &http.Client{Timeout: 20 * time.Second} // far above the fetch bound: a hang fails here
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(is.sign(t, is.claims("", "operators"))); code != 200 {
		t.Fatalf("before the stall: %d", code)
	}
	is.rotate(t)
	is.stalled.Store(true)
	rotated := is.sign(t, is.claims("", "operators"))
	if code := get(rotated); code != http.StatusServiceUnavailable {
		t.Errorf("a rotated-in key while the issuer stalls: %d, want 503", code)
	}
	is.stalled.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for code := get(rotated); code != 200; code = get(rotated) {
		if time.Now().After(deadline) {
			t.Fatalf("the issuer recovered, the token still answers %d", code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
