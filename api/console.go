package api

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/dualwrite"
	"github.com/daylily-informatics/worksetstate/migrate"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
)

//go:embed console/*.html
var consoleFS embed.FS

var consoleTemplates = template.Must(template.New("").Funcs(template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now.Sub(t).Round(time.Second).String()
	},
	"expired": func(l *workset.Lease, now time.Time) bool { return l != nil && l.Expired(now, 0) },
}).ParseFS(consoleFS, "console/*.html"))

// ConsolePath is where the console expects to be mounted.
const ConsolePath = "/console/"

// Console serves the operator console: server-rendered pages (no JavaScript,
// no asset from the internet, refreshing themselves every 30 s) over the same
// store, authentication and customer scoping as the JSON API. Pages: the
// overview (counts by state, the ready queue's depth, the oldest ready, what is
// in flight with its holder, failures of the last hour, the migration when the
// store is a dualwrite.Writer), the ready queue in dispatch order, stuck and
// erroring worksets, and a workset's page with its history as a timeline.
// Operators (and every caller without Auth, which is for loopback only) may
// requeue, ignore or release a stale lease from a workset's page, with a
// reason that is recorded; customers see their own worksets and may not act.
// Forms carry a token bound to the caller and are refused from another
// origin. Mount it at ConsolePath; browsers reach it through a proxy that
// passes the caller's bearer token (an ALB's or oauth2-proxy's OIDC), as the
// JSON API does.
type Console struct {
	store workset.StateStore
	opts  Options
	mux   *http.ServeMux
	key   []byte // signs the forms' tokens

	mu     sync.Mutex
	verify *verifyRun // the last verify started from the migration view
}

// verifyRun is a verify between a DualWriter's two stores, run in the
// background from the console.
type verifyRun struct {
	Started, Finished time.Time
	Seen              int64
	Discrepancies     int64
	Differences       []migrate.Difference // the first maxShownDifferences
	Err               string
}

// maxShownDifferences bounds the differences a verify keeps for the page.
const maxShownDifferences = 100

// NewConsole returns the console over store, with the JSON API's options.
func NewConsole(store workset.StateStore, optFns ...func(*Options)) (*Console, error) {
	o := Options{LeaseTTL: DefaultLeaseTTL, Clock: workset.SystemClock}
	for _, fn := range optFns {
		if fn != nil {
			fn(&o)
		}
	}
	if store == nil || o.Clock == nil {
		return nil, fmt.Errorf("%w: api: the console needs a store and a clock", workset.ErrInvalidInput)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{store: store, opts: o, mux: http.NewServeMux(), key: make([]byte, 32)}
	if _, err := rand.Read(c.key); err != nil {
		return nil, err
	}
	c.mux.HandleFunc("GET /console/{$}", c.overview)
	c.mux.HandleFunc("GET /console/queue", c.queue)
	c.mux.HandleFunc("GET /console/stuck", c.stuck)
	c.mux.HandleFunc("GET /console/worksets/{id}", c.workset)
	c.mux.HandleFunc("POST /console/worksets/{id}/action", c.action)
	c.mux.HandleFunc("POST /console/migration/verify", c.startVerify)
	return c, nil
}

// ServeHTTP implements http.Handler.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	if c.opts.Auth != nil {
		var ok bool
		if r, ok = authenticate(c.opts, w, r); !ok {
			return
		}
	}
	c.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title    string
	Path     string // the page's path, without the query (the refresh drops a flash)
	Now      time.Time
	Operator bool
	Caller   string
	Flash    string
	Error    string
	Token    string

	Counts      []stateCount
	Total       int64
	OldestReady *workset.Workset
	InFlight    []*workset.Workset
	Failures    []*workset.Workset
	Worksets    []*workset.Workset
	Matched     int  // how many matched, of which Worksets shows the first maxListed
	More        bool // more matched than were read (the ready queue stops at maxListed)
	Unreadable  int
	Migration   *migrationView
	W           *workset.Workset
	Actions     []string
}

type stateCount struct {
	State workset.State
	N     int64
}

type migrationView struct {
	Phase       string
	Divergences []dualwrite.Divergence
	Stats       dualwrite.Stats
	Verify      *verifyRun
}

func (c *Console) base(r *http.Request, title string) page {
	p := page{Title: title, Path: r.URL.Path, Now: c.opts.Clock.Now(), Operator: customer(r) == "", Flash: r.URL.Query().Get("done"), Token: c.token(r)}
	if id := identity(r); id != nil {
		p.Caller = id.Subject
	}
	return p
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name string, p page, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := consoleTemplates.ExecuteTemplate(w, name, p); err != nil {
		c.opts.Logger.ErrorContext(r.Context(), "api: console template", "page", name, "err", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := statusOf(err)
	if status >= 500 {
		c.opts.Logger.ErrorContext(r.Context(), "api: console", "path", r.URL.Path, "err", err)
	}
	p := c.base(r, "Error")
	p.Error = err.Error()
	if status >= 500 {
		p.Error = "the store did not answer; the error is in the server's log"
	}
	c.render(w, r, "error.html", p, status)
}

// each walks the worksets of q the caller may see; unreadable ones are counted.
func (c *Console) each(r *http.Request, q workset.ListQuery, unreadable *int, fn func(*workset.Workset) bool) error {
	q.Customer = customer(r)
	for ws, err := range workset.All(r.Context(), c.store, q) {
		if errors.Is(err, workset.ErrMalformed) {
			*unreadable++
			continue
		}
		if err != nil {
			return err
		}
		if !fn(ws) {
			break
		}
	}
	return nil
}

// eachIn walks the visible worksets in states: state by state where the
// store reads by state without a pass over everything (it counts without
// reading: DynamoDB's state index), else in one pass (a sentinel bucket is
// listed once, not once a state).
func (c *Console) eachIn(r *http.Request, states []workset.State, unreadable *int, fn func(*workset.Workset)) error {
	if _, ok := c.store.(observe.Counter); ok && workset.Has[observe.Counter](c.store) && customer(r) == "" {
		for _, s := range states {
			if err := c.each(r, workset.ListQuery{State: s}, unreadable, func(ws *workset.Workset) bool { fn(ws); return true }); err != nil {
				return err
			}
		}
		return nil
	}
	for ws, err := range workset.Scan(r.Context(), c.store, workset.ListQuery{Customer: customer(r)}) {
		if errors.Is(err, workset.ErrMalformed) {
			*unreadable++
			continue
		}
		if err != nil {
			return err
		}
		if slices.Contains(states, ws.State) {
			fn(ws)
		}
	}
	return nil
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	p := c.base(r, "Overview")
	look, err := observe.Look(r.Context(), c.store, customer(r), p.Now.Add(-time.Hour))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, s := range workset.States() {
		p.Counts = append(p.Counts, stateCount{s, look.Counts[s]})
	}
	p.Total, p.OldestReady, p.InFlight, p.Failures, p.Unreadable = look.Total, look.OldestReady, look.InFlight, look.Failures, look.Unreadable
	if dw, ok := c.store.(*dualwrite.Writer); ok && p.Operator {
		m := &migrationView{Phase: dw.Phase().String(), Stats: dw.Stats()}
		if log, ok := dw.Divergences().(*dualwrite.MemoryLog); ok {
			m.Divergences = log.Divergences()
			if n := len(m.Divergences); n > 50 {
				m.Divergences = m.Divergences[n-50:]
			}
		}
		c.mu.Lock()
		if c.verify != nil {
			v := *c.verify
			m.Verify = &v
		}
		c.mu.Unlock()
		p.Migration = m
	}
	c.render(w, r, "overview.html", p, http.StatusOK)
}

// maxListed bounds the worksets a list page shows; it says how many matched.
const maxListed = 500

func (c *Console) queue(w http.ResponseWriter, r *http.Request) {
	p := c.base(r, "Ready queue")
	err := c.each(r, workset.ListQuery{State: workset.StateReady}, &p.Unreadable, func(ws *workset.Workset) bool {
		if len(p.Worksets) == maxListed {
			p.More = true // the queue goes on: read no further
			return false
		}
		p.Worksets = append(p.Worksets, ws)
		return true
	})
	p.Matched = len(p.Worksets)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "list.html", p, http.StatusOK)
}

// stuckAfter is how long an active workset may go without a write before the
// console lists it as stuck.
const stuckAfter = time.Hour

func (c *Console) stuck(w http.ResponseWriter, r *http.Request) {
	p := c.base(r, "Stuck and erroring")
	err := c.eachIn(r, []workset.State{workset.StateLocked, workset.StateInProgress, workset.StateError, workset.StateFailed}, &p.Unreadable, func(ws *workset.Workset) {
		active := ws.State == workset.StateLocked || ws.State == workset.StateInProgress
		if !active || p.Now.Sub(ws.UpdatedAt) > stuckAfter || ws.Foreign || ws.Lease == nil || ws.Lease.Expired(p.Now, 0) {
			p.Matched++
			if len(p.Worksets) < maxListed {
				p.Worksets = append(p.Worksets, ws)
			}
		}
	})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "list.html", p, http.StatusOK)
}

// actionsFor are the actions the page offers for ws.
func actionsFor(ws *workset.Workset, now time.Time) []string {
	var out []string
	if workset.CanTransition(ws.State, workset.StateReady) {
		out = append(out, "requeue")
	}
	if workset.CanTransition(ws.State, workset.StateIgnored) {
		out = append(out, "ignore")
	}
	if ws.Lease != nil && ws.Lease.Expired(now, 0) {
		out = append(out, "release")
	}
	return out
}

func (c *Console) workset(w http.ResponseWriter, r *http.Request) {
	ws, err := c.getVisible(r, r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p := c.base(r, "Workset "+ws.ID)
	p.W = ws
	if p.Operator {
		p.Actions = actionsFor(ws, p.Now)
	}
	c.render(w, r, "workset.html", p, http.StatusOK)
}

func (c *Console) getVisible(r *http.Request, id string) (*workset.Workset, error) {
	if err := workset.ValidateID(id); err != nil {
		return nil, err
	}
	ws, err := c.store.Get(r.Context(), id)
	if err == nil && !visible(r, ws) {
		return nil, &workset.Error{ID: id, Kind: workset.ErrNotFound}
	}
	return ws, err
}

// token is the forms' anti-forgery token: bound to the caller, signed with
// the console's own key.
func (c *Console) token(r *http.Request) string {
	subject := "anonymous"
	if id := identity(r); id != nil {
		subject = id.Subject
	}
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(subject))
	return hex.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses a form posted from another site: the browser's
// Sec-Fetch-Site, else the Origin header, must name this host.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == "" // a client that is not a browser
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// formOK refuses (403) a form posted from another site or without its token.
func (c *Console) formOK(w http.ResponseWriter, r *http.Request) bool {
	if !sameOrigin(r) || !hmac.Equal([]byte(r.PostFormValue("token")), []byte(c.token(r))) {
		c.opts.Logger.WarnContext(r.Context(), "api: console form refused: cross-site or without its token", "path", r.URL.Path, "remote", r.RemoteAddr)
		c.fail(w, r, fmt.Errorf("%w: the form is not from this console (reload the page and try again)", errForbidden))
		return false
	}
	return true
}

// verifyTimeout bounds a verify started from the console.
const verifyTimeout = 30 * time.Minute

// startVerify starts a verify between the DualWriter's stores in the
// background (one at a time; operators only); the overview shows its result.
func (c *Console) startVerify(w http.ResponseWriter, r *http.Request) {
	if !c.formOK(w, r) {
		return
	}
	dw, ok := c.store.(*dualwrite.Writer)
	if !ok || customer(r) != "" {
		c.fail(w, r, fmt.Errorf("%w: only operators verify, and only over a DualWriter", errForbidden))
		return
	}
	c.mu.Lock()
	running := c.verify != nil && c.verify.Finished.IsZero()
	if !running {
		c.verify = &verifyRun{Started: c.opts.Clock.Now()}
	}
	c.mu.Unlock()
	if !running {
		legacy, next := dw.Stores()
		go c.runVerify(legacy, next)
	}
	http.Redirect(w, r, ConsolePath+"?done="+url.QueryEscape("verify started"), http.StatusSeeOther)
}

func (c *Console) runVerify(legacy, next workset.StateStore) {
	ctx, cancel := context.WithTimeout(context.Background(), verifyTimeout)
	defer cancel()
	var diffs []migrate.Difference
	res, err := func() (*migrate.Result, error) {
		m, err := migrate.New(legacy, next)
		if err != nil {
			return nil, err
		}
		return m.Verify(ctx, func(d migrate.Difference) error {
			if d.Kind != migrate.Equal && len(diffs) < maxShownDifferences {
				diffs = append(diffs, d)
			}
			return nil
		})
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.verify
	v.Finished, v.Differences = c.opts.Clock.Now(), diffs
	if res != nil {
		v.Seen, v.Discrepancies = res.Seen, res.Discrepancies()
	}
	if err != nil {
		c.opts.Logger.Error("api: console verify failed", "err", err)
		v.Err = err.Error()
	}
}

func (c *Console) action(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !c.formOK(w, r) {
		return
	}
	ws, err := c.getVisible(r, id)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if customer(r) != "" {
		c.fail(w, r, fmt.Errorf("%w: only operators may act on worksets", errForbidden))
		return
	}
	act, reason := r.PostFormValue("action"), strings.TrimSpace(r.PostFormValue("reason"))
	now := c.opts.Clock.Now()
	if !slices.Contains(actionsFor(ws, now), act) {
		c.fail(w, r, &workset.Error{ID: id, Kind: workset.ErrConflict, Detail: fmt.Sprintf("%q is not possible now (the workset is %s)", act, ws.State)})
		return
	}
	if reason == "" {
		c.fail(w, r, &workset.Error{ID: id, Kind: workset.ErrInvalidInput, Detail: "a reason is required: it is recorded in the history"})
		return
	}
	by := "console"
	if idt := identity(r); idt != nil {
		by = "console, " + idt.Subject
	}
	reason = fmt.Sprintf("%s (%s)", reason, by)
	done := act + ": " + reason
	switch act {
	case "release":
		if err = c.store.ReleaseLease(r.Context(), *ws.Lease); err == nil {
			// Recorded where the store keeps a history (the state stays);
			// the page says when it is not.
			note := fmt.Sprintf("lease of %s released: %s", ws.Lease.Owner, reason)
			switch _, nerr := workset.Note(r.Context(), c.store, id, note); {
			case errors.Is(nerr, workset.ErrUnsupported):
				done += " (this store keeps no history: not recorded there)"
			case nerr != nil:
				c.opts.Logger.ErrorContext(r.Context(), "api: console: the release's note was not written", "workset", id, "err", nerr)
				done += " (released, but the note was not written to the history: see the server's log)"
			}
		}
	default:
		to := map[string]workset.State{"requeue": workset.StateReady, "ignore": workset.StateIgnored}[act]
		if ws.Lease != nil && !ws.Lease.Expired(now, 0) {
			err = &workset.LeaseHeldError{ID: id, Owner: ws.Lease.Owner, ExpiresAt: ws.Lease.ExpiresAt}
			break
		}
		_, err = c.store.Transition(r.Context(), workset.TransitionRequest{ID: id, To: to, Reason: reason, ExpectedVersion: ws.Version})
	}
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.opts.Logger.InfoContext(r.Context(), "api: console action", "workset", id, "action", act, "reason", reason)
	http.Redirect(w, r, ConsolePath+"worksets/"+url.PathEscape(id)+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}
