// Package api serves the deployed daylily-workset-api over any
// workset.StateStore, with the same paths and JSON fields, and with its bugs
// fixed: /worksets/next is reachable, errors carry proper status codes (400 bad
// input, 404, 409, 403 not the owner, 413 too large), request bodies are
// bounded, and lists are paginated (the next page's cursor is in the
// X-Next-Cursor header, so the body stays the deployed JSON array).
//
// Routes (GET /openapi.json serves their OpenAPI 3 document):
//
//	GET    /                            health: 200, or 503 when the store does not answer
//	POST   /worksets                    register {workset_id, bucket, prefix, priority, metadata}
//	GET    /worksets?state=&priority=&limit=&cursor=
//	GET    /worksets/next               the next ready workset in dispatch order
//	GET    /worksets/{id}
//	PUT    /worksets/{id}/state         {state, reason, error_details, cluster_name, metrics,
//	                                     error_category, failed_step, owner_id, fencing_token}
//	POST   /worksets/{id}/lock?owner_id=
//	DELETE /worksets/{id}/lock?owner_id=
//	GET    /queue/stats
//
// Console (NewConsole) serves the operator console in the browser beside it,
// with the same authentication and scoping.
//
// Unknown query parameters are refused (400), as are unknown body fields and
// keys given twice; unknown routes answer 404 and wrong methods 405 (with
// Allow), in JSON.
//
// Workset IDs are one namespace across customers: registering an ID another
// customer holds answers 409, as any taken ID does, while reading it answers
// 404. No answer to a registration can hide that an ID is taken; where that
// matters, give each customer's IDs a prefix of its own.
package api

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// ServiceName is reported by GET /.
const ServiceName = "daylily-workset-api"

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 1 << 20

// DefaultLeaseTTL is the lease duration of POST /worksets/{id}/lock (the
// deployed default lock timeout).
const DefaultLeaseTTL = time.Hour

// Options configure the handler.
type Options struct {
	// Auth, when set, authenticates every request but GET / (401 when it
	// fails) and the handler authorizes what the caller may do: a customer sees
	// and lists only its own worksets (another customer's answer 404, as if
	// absent), registers only for itself (customer_id is stamped from its
	// identity), and may not lock, unlock or move worksets (403); an operator
	// may do everything. Without Auth every caller may do everything: serve
	// that only on loopback (examples/api refuses otherwise).
	Auth Authenticator
	// CORSOrigins lists the browser origins allowed to call the API with
	// credentials (exact matches; never a wildcard). Empty: no CORS headers.
	CORSOrigins []string
	// LeaseTTL is the lease duration for lock requests (default 1h).
	LeaseTTL time.Duration
	// Clock (default workset.SystemClock); Logger (default discarded).
	Clock  workset.Clock
	Logger *slog.Logger
}

// Handler serves the API.
type Handler struct {
	store workset.StateStore
	opts  Options
	mux   *http.ServeMux
}

// New returns the API handler over store.
func New(store workset.StateStore, optFns ...func(*Options)) (*Handler, error) {
	o := Options{LeaseTTL: DefaultLeaseTTL, Clock: workset.SystemClock}
	for _, fn := range optFns {
		if fn != nil { // a nil option is no option
			fn(&o)
		}
	}
	if store == nil || o.Clock == nil || o.LeaseTTL <= 0 {
		return nil, fmt.Errorf("%w: api: a store, a clock and a positive LeaseTTL are required", workset.ErrInvalidInput)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, opts: o, mux: http.NewServeMux()}
	for _, rt := range h.routes() {
		h.mux.HandleFunc(rt.pattern, h.onlyParams(rt.fn, rt.params...))
	}
	return h, nil
}

// route is one route: its pattern, its handler and the query parameters it
// reads; any other is refused (400, naming it), so a script's typo
// (?status=ready) never acts on all. openapi.json documents the same table
// (a test keeps them equal).
type route struct {
	pattern string
	fn      http.HandlerFunc
	params  []string
}

func (h *Handler) routes() []route {
	return []route{
		{"GET /{$}", h.health, nil},
		{"GET /openapi.json", serveOpenAPI, nil},
		{"POST /worksets", h.register, nil},
		{"GET /worksets", h.list, []string{"state", "priority", "limit", "cursor"}},
		{"GET /worksets/next", h.next, nil},
		{"GET /worksets/{id}", h.get, nil},
		{"PUT /worksets/{id}/state", h.transition, nil},
		{"POST /worksets/{id}/lock", h.lock, []string{"owner_id"}},
		{"DELETE /worksets/{id}/lock", h.unlock, []string{"owner_id"}},
		{"GET /queue/stats", h.stats, nil},
	}
}

//go:embed openapi.json
var openAPI []byte

// serveOpenAPI serves the OpenAPI 3 document of the routes.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// onlyParams refuses a request with a query parameter the route does not
// read, or one given twice.
func (h *Handler) onlyParams(fn http.HandlerFunc, allowed ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.URL.Query() {
			switch {
			case !slices.Contains(allowed, k):
				known := "none"
				if len(allowed) > 0 {
					known = strings.Join(allowed, ", ")
				}
				h.fail(w, r, fmt.Errorf("%w: unknown query parameter %q (this route takes: %s)", workset.ErrInvalidInput, k, known))
				return
			case len(vs) > 1:
				h.fail(w, r, fmt.Errorf("%w: query parameter %q given %d times", workset.ErrInvalidInput, k, len(vs)))
				return
			}
		}
		fn(w, r)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(h.opts.CORSOrigins, origin) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if h.opts.Auth != nil && !(r.Method == http.MethodGet && r.URL.Path == "/") {
		var ok bool
		if r, ok = authenticate(h.opts, w, r); !ok {
			return
		}
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.noRoute(w, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// authenticate runs o.Auth on r and returns r carrying the caller's
// identity, or answers 401 (503 while the issuer's keys cannot be fetched)
// and returns false.
func authenticate(o Options, w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	id, err := o.Auth.Authenticate(r)
	if errors.Is(err, ErrKeysUnavailable) {
		o.Logger.ErrorContext(r.Context(), "api: the issuer's keys cannot be fetched", "err", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"detail": "authentication is unavailable: the issuer's keys cannot be fetched; retry later"})
		return r, false
	}
	if err != nil {
		// The reason is logged, never the token.
		o.Logger.WarnContext(r.Context(), "api: unauthenticated request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", err)
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+ServiceName+`", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"detail": "not authenticated"})
		return r, false
	}
	return r.WithContext(context.WithValue(r.Context(), identityKey{}, id)), true
}

// noRoute answers an unknown route (404) or a wrong method (405, with Allow)
// in the API's JSON, as every other error.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	probe := &statusWriter{header: http.Header{}}
	h.mux.ServeHTTP(probe, r) // the mux's own answer says which
	if allow := probe.header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"detail": fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allow)})
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"detail": fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)})
}

// statusWriter keeps a handler's headers and status and drops its body.
type statusWriter struct {
	header http.Header
	status int
}

func (s *statusWriter) Header() http.Header         { return s.header }
func (s *statusWriter) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusWriter) WriteHeader(code int)        { s.status = code }

// visible reports whether the caller may see w (always, without Auth).
func visible(r *http.Request, w *workset.Workset) bool {
	id := identity(r)
	return id == nil || id.Operator || ownerOf(w) == id.Customer
}

// customer is the customer the caller is limited to ("" for operators and
// without Auth).
func customer(r *http.Request) string {
	if id := identity(r); id != nil && !id.Operator {
		return id.Customer
	}
	return ""
}

// getVisible reads a workset the caller may see: another customer's answers
// as not found.
func (h *Handler) getVisible(r *http.Request, id string) (*workset.Workset, error) {
	ws, err := h.store.Get(r.Context(), id)
	if err == nil && !visible(r, ws) {
		h.opts.Logger.WarnContext(r.Context(), "api: another customer's workset refused", "workset", id, "caller", identity(r).Subject, "path", r.URL.Path)
		return nil, &workset.Error{ID: id, Kind: workset.ErrNotFound}
	}
	return ws, err
}

// mayOperate refuses customers the calls that drive processing (lock, unlock,
// state changes): 404 for another customer's workset, 403 for their own.
func (h *Handler) mayOperate(w http.ResponseWriter, r *http.Request) bool {
	if customer(r) == "" {
		return true
	}
	if _, err := h.getVisible(r, r.PathValue("id")); err != nil {
		h.fail(w, r, err)
		return false
	}
	h.opts.Logger.WarnContext(r.Context(), "api: customer may not drive processing", "workset", r.PathValue("id"), "caller", identity(r).Subject, "path", r.URL.Path)
	h.fail(w, r, fmt.Errorf("%w: only operators and monitors may %s %s", errForbidden, r.Method, r.URL.Path))
	return false
}

// Workset is the deployed response shape.
type Workset struct {
	WorksetID    string         `json:"workset_id"`
	State        string         `json:"state"`
	Priority     string         `json:"priority"`
	Bucket       string         `json:"bucket"`
	Prefix       string         `json:"prefix"`
	CreatedAt    string         `json:"created_at"`
	UpdatedAt    string         `json:"updated_at"`
	ClusterName  *string        `json:"cluster_name"`
	ErrorDetails *string        `json:"error_details"`
	Metrics      map[string]any `json:"metrics"`
	Metadata     map[string]any `json:"metadata,omitempty"`
	LockOwner    string         `json:"lock_owner,omitempty"`
}

func toJSON(w *workset.Workset) Workset {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	out := Workset{WorksetID: w.ID, State: string(w.State), Priority: string(w.Priority), Bucket: w.Bucket, Prefix: w.Prefix,
		CreatedAt: storekit.FormatTime(w.CreatedAt), UpdatedAt: storekit.FormatTime(w.UpdatedAt),
		ClusterName: opt(w.ClusterName), ErrorDetails: opt(w.ErrorDetails), Metrics: w.Metrics, Metadata: w.Metadata}
	if w.Lease != nil {
		out.LockOwner = w.Lease.Owner
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// statusOf is the HTTP status an error's kind calls for.
func statusOf(err error) int {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, workset.ErrInvalidInput):
		return http.StatusBadRequest
	case errors.Is(err, workset.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, workset.ErrAlreadyExists), errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrInvalidTransition), errors.Is(err, workset.ErrNotLeasable),
		errors.Is(err, workset.ErrLeaseHeld):
		return http.StatusConflict
	case errors.Is(err, workset.ErrLeaseLost), errors.Is(err, errForbidden):
		return http.StatusForbidden
	case errors.Is(err, workset.ErrUnsupported):
		return http.StatusNotImplemented
	case errors.Is(err, workset.ErrUnavailable), errors.Is(err, workset.ErrMisconfigured):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// fail writes the error with the status its kind calls for.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	if errors.Is(err, workset.ErrMalformed) {
		// The store's data, not the request: the body names the record and attribute.
		h.opts.Logger.ErrorContext(r.Context(), "api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, code, map[string]string{"detail": err.Error()})
		return
	}
	if code >= http.StatusInternalServerError {
		// The detail goes to the log, under an incident ID the client can
		// quote: never the store's internals (endpoints, credential chains).
		incident := rand.Text()[:12]
		h.opts.Logger.ErrorContext(r.Context(), "api: request failed", "incident", incident, "method", r.Method, "path", r.URL.Path, "err", err)
		detail := "internal error"
		switch {
		case errors.Is(err, workset.ErrUnavailable):
			detail = "the store is unavailable; retry later"
		case errors.Is(err, workset.ErrMisconfigured):
			detail = "the store is misconfigured; the operator has been told"
		}
		writeJSON(w, code, map[string]string{"detail": detail + " (incident " + incident + ")", "incident": incident})
		return
	}
	writeJSON(w, code, map[string]string{"detail": err.Error()})
}

// decode reads exactly one JSON document into v: unknown fields, and anything
// after the document but white space, are refused.
func decode(r *http.Request, v any) error {
	bad := func(err error) error {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: request body: %v", workset.ErrInvalidInput, err)
	}
	data, err := io.ReadAll(r.Body) // bounded by MaxBodyBytes
	if err != nil {
		return bad(err)
	}
	if k, dup := duplicateKey(data); dup {
		return fmt.Errorf("%w: request body: key %q appears twice in one object", workset.ErrInvalidInput, k)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bad(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return bad(err)
		}
		return fmt.Errorf("%w: request body: data after the JSON document", workset.ErrInvalidInput)
	}
	return nil
}

// duplicateKey finds a key given twice in one JSON object, at any depth
// (encoding/json would keep the last one silently). A body that does not
// parse is left to the decoder to report.
func duplicateKey(data []byte) (string, bool) {
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []*frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				if top != nil && top.keys != nil {
					top.expectKey = true // the value of the key before it
				}
				f := &frame{}
				if d == '{' {
					f.keys, f.expectKey = map[string]bool{}, true
				}
				stack = append(stack, f)
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top == nil || top.keys == nil {
			continue
		}
		if top.expectKey {
			k, _ := tok.(string)
			if top.keys[k] {
				return k, true
			}
			top.keys[k], top.expectKey = true, false
		} else {
			top.expectKey = true
		}
	}
}

// health answers whether the store answers (one list of at most one ready
// workset, bounded to 5s), so a load balancer can act on it: 200 healthy, or
// 503 unhealthy with the kind of the failure (never its internals: those go
// to the log).
func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	body := map[string]string{"status": "healthy", "service": ServiceName, "timestamp": storekit.FormatTime(h.opts.Clock.Now())}
	if _, err := h.store.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 1}); err != nil && !errors.Is(err, workset.ErrUnsupported) {
		h.opts.Logger.ErrorContext(r.Context(), "api: health check: the store does not answer", "err", err)
		body["status"], body["store"] = "unhealthy", "the store does not answer"
		switch {
		case errors.Is(err, workset.ErrMisconfigured):
			body["store"] = "the store is misconfigured (see the server's log)"
		case errors.Is(err, workset.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
			body["store"] = "the store is unavailable"
		}
		writeJSON(w, http.StatusServiceUnavailable, body)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

type registerBody struct {
	WorksetID  string         `json:"workset_id"`
	CustomerID string         `json:"customer_id"`
	Bucket     string         `json:"bucket"`
	Prefix     string         `json:"prefix"`
	Priority   string         `json:"priority"`
	Metadata   map[string]any `json:"metadata"`
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var b registerBody
	if err := decode(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	req := workset.RegisterRequest{ID: b.WorksetID, Bucket: b.Bucket, Prefix: b.Prefix, Metadata: b.Metadata}
	owner := b.CustomerID
	if c := customer(r); c != "" {
		if owner != "" && owner != c {
			h.opts.Logger.WarnContext(r.Context(), "api: register for another customer refused", "caller", identity(r).Subject, "customer_id", owner)
			h.fail(w, r, fmt.Errorf("%w: customer_id %q is not the caller's", errForbidden, owner))
			return
		}
		owner = c // stamped from the identity, never from the body
	}
	if owner != "" {
		req.Attributes = map[string]any{storekit.AttrCustomerID: owner}
	}
	if b.Priority != "" {
		p, err := workset.ParsePriority(b.Priority)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		req.Priority = p
	}
	if err := storekit.NormalizeRegister(&req); err != nil { // refused before any store call
		h.fail(w, r, err)
		return
	}
	ws, err := h.store.Register(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toJSON(ws))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	ws, err := h.getVisible(r, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(ws))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := workset.ListQuery{Cursor: r.URL.Query().Get("cursor"), Limit: 100, Customer: customer(r)}
	if s := r.URL.Query().Get("state"); s != "" {
		st, err := workset.ParseState(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		q.State = st
	}
	if s := r.URL.Query().Get("priority"); s != "" {
		p, err := workset.ParsePriority(s)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		q.Priority = p
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > workset.MaxPageSize {
			h.fail(w, r, fmt.Errorf("%w: limit %q must be between 1 and %d", workset.ErrInvalidInput, s, workset.MaxPageSize))
			return
		}
		q.Limit = n
	}
	page, err := h.store.List(r.Context(), q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := make([]Workset, len(page.Worksets))
	for i, ws := range page.Worksets {
		out[i] = toJSON(ws)
	}
	if page.Cursor != "" {
		w.Header().Set("X-Next-Cursor", page.Cursor)
	}
	writeJSON(w, http.StatusOK, out)
}

// next returns the first ready workset in dispatch order that holds no live
// lease (a customer's own only), or 404 when there is none.
func (h *Handler) next(w http.ResponseWriter, r *http.Request) {
	now := h.opts.Clock.Now()
	c := customer(r)
	var best *workset.Workset
	for ws, err := range workset.All(r.Context(), h.store, workset.ListQuery{State: workset.StateReady, Limit: 100, Customer: c}) {
		if errors.Is(err, workset.ErrMalformed) {
			continue // one unreadable record never blocks the queue (the store logged it)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ws.Lease != nil && !ws.Lease.Expired(now, 0) {
			continue
		}
		if best == nil || ws.Priority.Rank() < best.Priority.Rank() {
			best = ws
		}
		if c == "" || best.Priority.Rank() == 0 {
			break // without a customer the list is in dispatch order already
		}
	}
	if best == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"detail": "no ready workset"})
		return
	}
	writeJSON(w, http.StatusOK, toJSON(best))
}

// stateBody is the body of PUT /worksets/{id}/state: the deployed fields,
// then the deployed attributes of a failure, then the lock holder's: a caller
// that holds the workset's lock (POST .../lock) names itself in owner_id, and
// the move is made under its lock (fenced with fencing_token when given,
// else with the lock owner_id holds now).
type stateBody struct {
	State         string         `json:"state"`
	Reason        string         `json:"reason"`
	ErrorDetails  string         `json:"error_details"`
	ClusterName   string         `json:"cluster_name"`
	Metrics       map[string]any `json:"metrics"`
	ErrorCategory string         `json:"error_category"`
	FailedStep    string         `json:"failed_step"`
	OwnerID       string         `json:"owner_id"`
	FencingToken  int64          `json:"fencing_token"`
}

func (h *Handler) transition(w http.ResponseWriter, r *http.Request) {
	if !h.mayOperate(w, r) {
		return
	}
	var b stateBody
	if err := decode(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	st, err := workset.ParseState(b.State)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	req := workset.TransitionRequest{ID: r.PathValue("id"), To: st, Reason: b.Reason,
		ErrorDetails: b.ErrorDetails, ClusterName: b.ClusterName, Metrics: b.Metrics,
		ErrorCategory: workset.ErrorCategory(b.ErrorCategory), FailedStep: b.FailedStep}
	if b.FencingToken != 0 && b.OwnerID == "" {
		h.fail(w, r, fmt.Errorf("%w: fencing_token without owner_id", workset.ErrInvalidInput))
		return
	}
	if b.OwnerID != "" {
		req.Lease = &workset.Lease{WorksetID: req.ID, Owner: b.OwnerID, Token: b.FencingToken}
	}
	if err := storekit.NormalizeTransition(&req); err != nil { // refused before any store call
		h.fail(w, r, err)
		return
	}
	if req.Lease != nil && b.FencingToken == 0 {
		// The holder moves its workset under the lock it holds now.
		cur, err := h.store.Get(r.Context(), req.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if cur.Lease == nil || cur.Lease.Owner != b.OwnerID {
			h.fail(w, r, &workset.Error{ID: req.ID, Kind: workset.ErrLeaseLost, Detail: fmt.Sprintf("%q holds no lock on it", b.OwnerID)})
			return
		}
		req.Lease.Token = cur.Lease.Token
	}
	ws, err := h.store.Transition(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(ws))
}

// countCustomer counts one customer's worksets by state (through the
// customer index where the store has one).
func countCustomer(ctx context.Context, s workset.StateStore, c string) (map[workset.State]int64, error) {
	counts := map[workset.State]int64{}
	for ws, err := range workset.All(ctx, s, workset.ListQuery{Customer: c, Limit: workset.MaxPageSize}) {
		if errors.Is(err, workset.ErrMalformed) {
			continue
		}
		if err != nil {
			return nil, err
		}
		counts[ws.State]++
	}
	return counts, nil
}

func owner(r *http.Request) (string, error) {
	o := r.URL.Query().Get("owner_id")
	if o == "" {
		return "", fmt.Errorf("%w: owner_id query parameter is required", workset.ErrInvalidInput)
	}
	return o, nil
}

func (h *Handler) lock(w http.ResponseWriter, r *http.Request) {
	if !h.mayOperate(w, r) {
		return
	}
	o, err := owner(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.store.AcquireLease(r.Context(), r.PathValue("id"), o, h.opts.LeaseTTL)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "locked", "workset_id": l.WorksetID, "owner_id": l.Owner, "locked": true,
		"fencing_token": l.Token, "lock_expires_at": storekit.FormatTime(l.ExpiresAt)})
}

// unlock releases the lock if owner_id holds it: 403 otherwise.
func (h *Handler) unlock(w http.ResponseWriter, r *http.Request) {
	if !h.mayOperate(w, r) {
		return
	}
	o, err := owner(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ws, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if ws.Lease == nil || ws.Lease.Owner != o {
		writeJSON(w, http.StatusForbidden, map[string]string{"detail": fmt.Sprintf("workset %s is not locked by %q", ws.ID, o)})
		return
	}
	if err := h.store.ReleaseLease(r.Context(), *ws.Lease); err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "unlocked", "workset_id": ws.ID, "owner_id": o, "released": true})
}

// countVisible counts the worksets per state the caller may see: a
// customer's own, or all.
func countVisible(r *http.Request, s workset.StateStore) (map[workset.State]int64, error) {
	if c := customer(r); c != "" {
		return countCustomer(r.Context(), s, c)
	}
	return observe.CountByState(r.Context(), s)
}

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	counts, err := countVisible(r, h.store)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var total int64
	for _, n := range counts {
		total += n
	}
	// The deployed shape: queue_depth maps every state to its count.
	depth := make(map[string]int64, len(counts))
	for _, st := range workset.States() {
		depth[string(st)] = counts[st]
	}
	for st, n := range counts {
		depth[string(st)] = n
	}
	writeJSON(w, http.StatusOK, map[string]any{"queue_depth": depth, "total_worksets": total,
		"ready_worksets": counts[workset.StateReady], "in_progress_worksets": counts[workset.StateInProgress], "error_worksets": counts[workset.StateError]})
}
