// Package api serves the deployed daylily-workset-api over any
// workset.StateStore, with the same paths and JSON fields, and with its bugs
// fixed: /worksets/next is reachable, errors carry proper status codes (400 bad
// input, 404, 409, 403 not the owner, 413 too large), request bodies are
// bounded, and lists are paginated (the next page's cursor is in the
// X-Next-Cursor header, so the body stays the deployed JSON array).
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
)

// ServiceName is reported by GET /.
const ServiceName = "daylily-workset-api"

// MaxBodyBytes bounds request bodies.
const MaxBodyBytes = 1 << 20

// DefaultLockTimeout is the lease duration of POST /worksets/{id}/lock (the
// deployed default lock timeout).
const DefaultLockTimeout = time.Hour

// Options configure the handler.
type Options struct {
	// LockTimeout is the lease duration for lock requests (default 1h).
	LockTimeout time.Duration
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
	o := Options{LockTimeout: DefaultLockTimeout, Clock: workset.SystemClock}
	for _, fn := range optFns {
		fn(&o)
	}
	if store == nil || o.Clock == nil || o.LockTimeout <= 0 {
		return nil, fmt.Errorf("%w: api: a store, a clock and a positive LockTimeout are required", workset.ErrInvalidInput)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, opts: o, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /{$}", h.health)
	h.mux.HandleFunc("POST /worksets", h.register)
	h.mux.HandleFunc("GET /worksets", h.list)
	h.mux.HandleFunc("GET /worksets/next", h.next)
	h.mux.HandleFunc("GET /worksets/{id}", h.get)
	h.mux.HandleFunc("PUT /worksets/{id}/state", h.transition)
	h.mux.HandleFunc("POST /worksets/{id}/lock", h.lock)
	h.mux.HandleFunc("DELETE /worksets/{id}/lock", h.unlock)
	h.mux.HandleFunc("GET /queue/stats", h.stats)
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	h.mux.ServeHTTP(w, r)
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
		CreatedAt: workset.FormatTime(w.CreatedAt), UpdatedAt: workset.FormatTime(w.UpdatedAt),
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

// fail writes the error with the status its kind calls for.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, workset.ErrInvalidInput):
		code = http.StatusBadRequest
	case errors.Is(err, workset.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, workset.ErrAlreadyExists), errors.Is(err, workset.ErrConflict), errors.Is(err, workset.ErrInvalidTransition),
		errors.Is(err, workset.ErrLockHeld):
		code = http.StatusConflict
	case errors.Is(err, workset.ErrLeaseLost):
		code = http.StatusForbidden
	case errors.Is(err, workset.ErrUnsupported):
		code = http.StatusNotImplemented
	case errors.Is(err, workset.ErrMalformed):
		code = http.StatusInternalServerError // the store's data, not the request: the body names the record and attribute
	}
	if code == http.StatusInternalServerError {
		h.opts.Logger.ErrorContext(r.Context(), "api: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, code, map[string]string{"detail": err.Error()})
}

// decode reads exactly one JSON document into v: unknown fields, and anything
// after the document but white space, are refused.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	bad := func(err error) error {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: request body: %v", workset.ErrInvalidInput, err)
	}
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

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "healthy", "service": ServiceName, "timestamp": workset.FormatTime(h.opts.Clock.Now())})
}

type registerBody struct {
	WorksetID string         `json:"workset_id"`
	Bucket    string         `json:"bucket"`
	Prefix    string         `json:"prefix"`
	Priority  string         `json:"priority"`
	Metadata  map[string]any `json:"metadata"`
}

func (h *Handler) register(w http.ResponseWriter, r *http.Request) {
	var b registerBody
	if err := decode(r, &b); err != nil {
		h.fail(w, r, err)
		return
	}
	req := workset.RegisterRequest{ID: b.WorksetID, Bucket: b.Bucket, Prefix: b.Prefix, Metadata: b.Metadata}
	if b.Priority != "" {
		p, err := workset.ParsePriority(b.Priority)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		req.Priority = p
	}
	if err := req.Normalize(); err != nil { // refused before any store call
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
	ws, err := h.store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(ws))
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := workset.ListQuery{Cursor: r.URL.Query().Get("cursor"), Limit: 100}
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
// lease, or 404 when the queue is empty.
func (h *Handler) next(w http.ResponseWriter, r *http.Request) {
	now := h.opts.Clock.Now()
	for ws, err := range workset.All(r.Context(), h.store, workset.ListQuery{State: workset.StateReady, Limit: 100}) {
		if errors.Is(err, workset.ErrMalformed) {
			continue // one unreadable record never blocks the queue (the store logged it)
		}
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if ws.Lease == nil || ws.Lease.Expired(now, 0) {
			writeJSON(w, http.StatusOK, toJSON(ws))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]string{"detail": "no ready workset"})
}

type stateBody struct {
	State        string         `json:"state"`
	Reason       string         `json:"reason"`
	ErrorDetails string         `json:"error_details"`
	ClusterName  string         `json:"cluster_name"`
	Metrics      map[string]any `json:"metrics"`
}

func (h *Handler) transition(w http.ResponseWriter, r *http.Request) {
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
		ErrorDetails: b.ErrorDetails, ClusterName: b.ClusterName, Metrics: b.Metrics}
	if err := req.Normalize(); err != nil { // refused before any store call
		h.fail(w, r, err)
		return
	}
	ws, err := h.store.Transition(r.Context(), req)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(ws))
}

func owner(r *http.Request) (string, error) {
	o := r.URL.Query().Get("owner_id")
	if o == "" {
		return "", fmt.Errorf("%w: owner_id query parameter is required", workset.ErrInvalidInput)
	}
	return o, nil
}

func (h *Handler) lock(w http.ResponseWriter, r *http.Request) {
	o, err := owner(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	l, err := h.store.AcquireLease(r.Context(), r.PathValue("id"), o, h.opts.LockTimeout)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "locked", "workset_id": l.WorksetID, "owner_id": l.Owner, "locked": true,
		"fencing_token": l.Token, "lock_expires_at": workset.FormatTime(l.ExpiresAt)})
}

// unlock releases the lock if owner_id holds it: 403 otherwise.
func (h *Handler) unlock(w http.ResponseWriter, r *http.Request) {
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

func (h *Handler) stats(w http.ResponseWriter, r *http.Request) {
	counts, err := observe.CountByState(r.Context(), h.store)
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
