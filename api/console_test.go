package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// headerAuth is a test Authenticator: the X-Test-User header says who calls
// ("operator" or "customer:<name>"); none is unauthenticated.
type headerAuth struct{}

func (headerAuth) Authenticate(r *http.Request) (*api.Identity, error) {
	u := r.Header.Get("X-Test-User")
	switch {
	case u == "operator":
		return &api.Identity{Subject: "op-1", Operator: true}, nil
	case strings.HasPrefix(u, "customer:"):
		c := strings.TrimPrefix(u, "customer:")
		return &api.Identity{Subject: "user-" + c, Customer: c}, nil
	}
	return nil, fmt.Errorf("%w: no test user", api.ErrUnauthenticated)
}

// consoleStore holds worksets in every state, two customers' among them.
func consoleStore(t *testing.T) *memstore.Store {
	t.Helper()
	ctx := t.Context()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	reg := func(id, customer string) {
		t.Helper()
		req := workset.RegisterRequest{ID: id, Bucket: "data", Prefix: "worksets/" + id + "/"}
		if customer != "" {
			req.Attributes = map[string]any{"customer_id": customer}
		}
		if _, err := s.Register(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	move := func(id string, to workset.State, force bool, details string) {
		t.Helper()
		if _, err := s.Transition(ctx, workset.TransitionRequest{ID: id, To: to, Force: force, Reason: "to " + string(to), ErrorDetails: details}); err != nil {
			t.Fatal(err)
		}
	}
	for _, st := range workset.States() {
		reg("ws-"+string(st), "acme")
		if st != workset.StateReady {
			move("ws-"+string(st), st, true, map[bool]string{true: "bwa exited 137 (out of memory)"}[st == workset.StateError])
		}
	}
	reg("ws-run", "other")
	l, err := s.AcquireLease(ctx, "ws-run", "monitor-7", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, workset.TransitionRequest{ID: "ws-run", To: workset.StateInProgress, Lease: l}); err != nil {
		t.Fatal(err)
	}
	reg("ws-broke", "acme")
	move("ws-broke", workset.StateInProgress, false, "")
	move("ws-broke", workset.StateError, false, "samtools: truncated file")
	return s
}

type consoleClient struct {
	t    *testing.T
	base string
	user string
	c    *http.Client
}

func (c consoleClient) do(method, path string, form url.Values, header ...string) (int, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.user != "" {
		req.Header.Set("X-Test-User", c.user)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var tokenRE = regexp.MustCompile(`name="token" value="([0-9a-f]+)"`)

// The console's authentication, scoping and forms: a customer sees only its
// own worksets and may not act; a form needs its token and this origin; an
// action needs a reason, which the history records.
func TestConsoleAuthorization(t *testing.T) {
	t.Parallel()
	s := consoleStore(t)
	console, err := api.NewConsole(s, func(o *api.Options) { o.Auth = headerAuth{} })
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	noRedirect := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	anon := consoleClient{t, srv.URL, "", noRedirect}
	op := consoleClient{t, srv.URL, "operator", noRedirect}
	acme := consoleClient{t, srv.URL, "customer:acme", noRedirect}

	if code, _ := anon.do("GET", "/console/", nil); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated overview: %d", code)
	}
	code, body := acme.do("GET", "/console/", nil)
	if code != 200 || !strings.Contains(body, `id="total">11<`) || strings.Contains(body, "ws-run") || strings.Contains(body, "Migration") {
		t.Errorf("customer overview (%d) shows another customer's worksets or the wrong total:\n%s", code, body)
	}
	if code, _ := acme.do("GET", "/console/worksets/ws-run", nil); code != http.StatusNotFound {
		t.Errorf("another customer's workset: %d, want 404", code)
	}
	code, body = acme.do("GET", "/console/worksets/ws-error", nil)
	if code != 200 || strings.Contains(body, "<form") {
		t.Errorf("customer's own workset (%d) offers actions:\n%s", code, body)
	}
	m := tokenRE.FindStringSubmatch(body)
	if m != nil {
		t.Fatalf("a customer's page carries a form token")
	}
	_, opPage := op.do("GET", "/console/worksets/ws-error", nil)
	m = tokenRE.FindStringSubmatch(opPage)
	if m == nil {
		t.Fatalf("operator page has no form:\n%s", opPage)
	}
	token := m[1]
	stateOf := func(id string) workset.State {
		w, err := s.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return w.State
	}
	// A customer may not act, even with an operator's token.
	if code, _ := acme.do("POST", "/console/worksets/ws-error/action", url.Values{"action": {"requeue"}, "reason": {"x"}, "token": {token}}); code != http.StatusForbidden {
		t.Errorf("customer action: %d, want 403", code)
	}
	// No token, a wrong one, or another site: refused.
	for name, c := range map[string]struct {
		form   url.Values
		header []string
	}{
		"no token":     {url.Values{"action": {"requeue"}, "reason": {"x"}}, nil},
		"wrong token":  {url.Values{"action": {"requeue"}, "reason": {"x"}, "token": {strings.Repeat("0", 64)}}, nil},
		"cross-site":   {url.Values{"action": {"requeue"}, "reason": {"x"}, "token": {token}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"other origin": {url.Values{"action": {"requeue"}, "reason": {"x"}, "token": {token}}, []string{"Origin", "https://evil.example"}},
	} {
		if code, _ := op.do("POST", "/console/worksets/ws-error/action", c.form, c.header...); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	// No reason: refused, nothing changed.
	if code, _ := op.do("POST", "/console/worksets/ws-error/action", url.Values{"action": {"requeue"}, "reason": {"  "}, "token": {token}}); code != http.StatusBadRequest {
		t.Errorf("action without a reason: %d, want 400", code)
	}
	// An action the state does not allow: refused.
	if code, _ := op.do("POST", "/console/worksets/ws-complete/action", url.Values{"action": {"ignore"}, "reason": {"x"}, "token": {token}}); code != http.StatusConflict {
		t.Errorf("ignore a complete workset: %d, want 409", code)
	}
	if st := stateOf("ws-error"); st != workset.StateError {
		t.Fatalf("refused actions changed the state to %s", st)
	}
	code, _ = op.do("POST", "/console/worksets/ws-error/action", url.Values{"action": {"requeue"}, "reason": {"reference fixed"}, "token": {token}}, "Sec-Fetch-Site", "same-origin")
	if code != http.StatusSeeOther {
		t.Fatalf("requeue: %d, want 303", code)
	}
	w, _ := s.Get(t.Context(), "ws-error")
	if last := w.History[len(w.History)-1]; w.State != workset.StateReady || !strings.Contains(last.Reason, "reference fixed") || !strings.Contains(last.Reason, "op-1") {
		t.Errorf("requeue recorded %s %+v", w.State, last)
	}
}

// Without Auth every caller is an operator: that is for loopback only, as
// the JSON API (examples/api refuses to listen elsewhere).
func TestConsolePagesRender(t *testing.T) {
	t.Parallel()
	console, err := api.NewConsole(consoleStore(t))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console)
	defer srv.Close()
	c := consoleClient{t, srv.URL, "", srv.Client()}
	for path, want := range map[string][]string{
		"/console/":                  {`id="count-error">2<`, "monitor-7", "Failures in the last hour (4)"},
		"/console/queue":             {"ws-ready"},
		"/console/stuck":             {"ws-broke", "samtools: truncated file", "ws-in_progress"},
		"/console/worksets/ws-broke": {"samtools: truncated file", `class="timeline"`, "reason-requeue"},
		"/console/worksets/ws-nope":  {"not found"},
	} {
		code, body := c.do("GET", path, nil)
		if (code != 200) != strings.HasSuffix(path, "ws-nope") {
			t.Errorf("%s: %d", path, code)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
		if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script") {
			t.Errorf("%s fetches from elsewhere or runs script", path)
		}
	}
}

// Over a DualWriter the overview shows the migration: the phase, the
// divergences recorded, and a verify an operator starts from the page.
func TestConsoleMigrationView(t *testing.T) {
	t.Parallel()
	dw, legacy := dualStore(t)
	console, err := api.NewConsole(dw)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(console)
	defer srv.Close()
	c := consoleClient{t, srv.URL, "", &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, body := c.do("GET", "/console/", nil)
	if !strings.Contains(body, `id="phase">new-primary<`) || !strings.Contains(body, "No verify run") {
		t.Fatalf("migration view:\n%s", body)
	}
	token := tokenRE.FindStringSubmatch(body)[1]
	if code, _ := c.do("POST", "/console/migration/verify", url.Values{}); code != http.StatusForbidden {
		t.Errorf("verify without a token: %d", code)
	}
	if code, _ := c.do("POST", "/console/migration/verify", url.Values{"token": {token}}); code != http.StatusSeeOther {
		t.Fatalf("verify: %d", code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(body, "Last verify") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		_, body = c.do("GET", "/console/", nil)
	}
	if !strings.Contains(body, "<strong>1 discrepancies</strong>") || !strings.Contains(body, "ws-2") || !strings.Contains(body, "state_differs") {
		t.Errorf("verify result:\n%s", body)
	}
	if w, _ := legacy.Get(t.Context(), "ws-2"); w.State != workset.StateIgnored {
		t.Errorf("verify changed the legacy store: %s", w.State)
	}
}

// dualStore is a DualWriter in NewPrimary over two memory stores, with ws-2
// moved in the legacy store only (a divergence verify finds).
func dualStore(t *testing.T) (*dualwrite.Writer, *memstore.Store) {
	t.Helper()
	clock := storetest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) // one clock: the stores stamp alike
	legacy, _ := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	next, _ := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	dw, err := dualwrite.New(legacy, next, func(o *dualwrite.Options) { o.Phase = dualwrite.NewPrimary })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ws-1", "ws-2", "ws-3"} {
		if _, err := dw.Register(t.Context(), workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := legacy.Transition(t.Context(), workset.TransitionRequest{ID: "ws-2", To: workset.StateIgnored}); err != nil {
		t.Fatal(err)
	}
	return dw, legacy
}
