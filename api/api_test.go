package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// counting counts the writes that reach the store.
type counting struct {
	workset.StateStore
	writes atomic.Int64
}

func (c *counting) Register(ctx context.Context, req workset.RegisterRequest) (*workset.Workset, error) {
	c.writes.Add(1)
	return c.StateStore.Register(ctx, req)
}

func (c *counting) Transition(ctx context.Context, req workset.TransitionRequest) (*workset.Workset, error) {
	c.writes.Add(1)
	return c.StateStore.Transition(ctx, req)
}

func newServer(t *testing.T, store workset.StateStore) *httptest.Server {
	t.Helper()
	h, err := api.New(store)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
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

func want(t *testing.T, method, url, body string, code int) string {
	t.Helper()
	got, b, _ := do(t, method, url, body)
	if got != code {
		t.Fatalf("%s %s %q: %d %s, want %d", method, url, body, got, b, code)
	}
	return b
}

func mem(t *testing.T) *counting {
	t.Helper()
	s, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	return &counting{StateStore: s}
}

// Bodies with anything after the JSON document, and documents nested deeper
// than DynamoDB allows, are refused with 400 before any store call.
func TestBodiesRefusedBeforeTheStore(t *testing.T) {
	t.Parallel()
	store := mem(t)
	srv := newServer(t, store)
	deep := strings.Repeat(`{"a":`, 9000) + "1" + strings.Repeat("}", 9000)
	for name, body := range map[string]string{
		"trailing garbage": `{"workset_id":"ws-tg","bucket":"b","prefix":"p/"} garbage`,
		"two documents":    `{"workset_id":"ws-tg","bucket":"b","prefix":"p/"}{"workset_id":"ws-2"}`,
		"deep metadata":    `{"workset_id":"ws-tg","metadata":` + deep + `}`,
		"33 levels":        `{"workset_id":"ws-tg","metadata":` + strings.Repeat(`{"a":`, 32) + "1" + strings.Repeat("}", 32) + `}`,
		"unknown field":    `{"workset_id":"ws-tg","owner":"x"}`,
		"leading space id": `{"workset_id":" ws-tg"}`,
		"trailing space":   `{"workset_id":"ws-tg "}`,
		"blank id":         `{"workset_id":" "}`,
		"bidi override":    `{"workset_id":"ws-\u202etg"}`,
		"zero width":       `{"workset_id":"ws-\u200btg"}`,
	} {
		if code, b, _ := do(t, "POST", srv.URL+"/worksets", body); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, code, b)
		}
	}
	want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-ok","bucket":"b","prefix":"p/"}`+"\n  ", http.StatusCreated)
	want(t, "PUT", srv.URL+"/worksets/ws-ok/state", `{"state":"in_progress"} {}`, http.StatusBadRequest)
	want(t, "PUT", srv.URL+"/worksets/ws-ok/state", `{"state":"in_progress","metrics":`+deep+`}`, http.StatusBadRequest)
	if n := store.writes.Load(); n != 1 {
		t.Errorf("%d writes reached the store, want 1 (the valid register)", n)
	}
	want(t, "GET", srv.URL+"/worksets/ws-tg", "", http.StatusNotFound)
}

// X-Next-Cursor values are opaque tokens that survive an HTTP hop unchanged:
// following them visits every workset exactly once, whatever the IDs.
func TestCursorsSurviveHTTP(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mem(t))
	ids := []string{"a", "a b", "a-b", "é", "ws~1", "ws+2", "ws%3", "ws=4", "z"}
	for _, id := range ids {
		body, err := json.Marshal(map[string]string{"workset_id": id, "bucket": "b", "prefix": "p/"})
		if err != nil {
			t.Fatal(err)
		}
		want(t, "POST", srv.URL+"/worksets", string(body), http.StatusCreated)
	}
	for _, limit := range []int{1, 2, 3} {
		seen := map[string]int{}
		cursor := ""
		for range 50 {
			url := fmt.Sprintf("%s/worksets?limit=%d", srv.URL, limit)
			if cursor != "" {
				url += "&cursor=" + cursor // as a client pastes it: no escaping
			}
			code, body, hdr := do(t, "GET", url, "")
			if code != http.StatusOK {
				t.Fatalf("limit %d, cursor %q: %d %s", limit, cursor, code, body)
			}
			var page []api.Workset
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatal(err)
			}
			for _, w := range page {
				seen[w.WorksetID]++
			}
			if cursor = hdr.Get("X-Next-Cursor"); cursor == "" {
				break
			}
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("limit %d: %q listed %d times", limit, id, seen[id])
			}
		}
	}
}

// malformedStore reports a stored record another tool broke.
type malformedStore struct{ workset.StateStore }

func (malformedStore) Get(context.Context, string) (*workset.Workset, error) {
	return nil, &workset.MalformedError{ID: "ws-bad", Attribute: "retry_after", Detail: `unrecognised timestamp "soon"`}
}

func (m malformedStore) List(ctx context.Context, q workset.ListQuery) (*workset.Page, error) {
	p, err := m.StateStore.List(ctx, q)
	if err == nil {
		p.Malformed = append(p.Malformed, &workset.MalformedError{ID: "ws-bad", Attribute: "priority", Detail: "SUPER"})
	}
	return p, err
}

// Malformed stored data answers 500 with a body naming the record and the
// attribute; it never makes the queue unreadable.
func TestMalformedStoredDataIsAServerError(t *testing.T) {
	t.Parallel()
	inner := mem(t)
	srv := newServer(t, malformedStore{inner})
	code, body, _ := do(t, "GET", srv.URL+"/worksets/ws-bad", "")
	if code != http.StatusInternalServerError || !strings.Contains(body, "ws-bad") || !strings.Contains(body, "retry_after") {
		t.Errorf("GET of a malformed record: %d %s, want 500 naming ws-bad and retry_after", code, body)
	}
	if _, err := inner.Register(t.Context(), workset.RegisterRequest{ID: "ws-good"}); err != nil {
		t.Fatal(err)
	}
	if b := want(t, "GET", srv.URL+"/worksets/next", "", http.StatusOK); !strings.Contains(b, `"ws-good"`) {
		t.Errorf("next beside a malformed record: %s", b)
	}
	want(t, "GET", srv.URL+"/worksets?state=ready", "", http.StatusOK)
}

// The deployed answer shapes: lock and unlock carry status; /queue/stats has
// queue_depth as a map of state to count.
func TestDeployedShapes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mem(t))
	for _, id := range []string{"w1", "w2", "w3"} {
		want(t, "POST", srv.URL+"/worksets", `{"workset_id":"`+id+`"}`, http.StatusCreated)
	}
	want(t, "PUT", srv.URL+"/worksets/w3/state", `{"state":"in_progress"}`, http.StatusOK)
	var lock, unlock map[string]any
	if err := json.Unmarshal([]byte(want(t, "POST", srv.URL+"/worksets/w1/lock?owner_id=host-1", "", 200)), &lock); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want(t, "DELETE", srv.URL+"/worksets/w1/lock?owner_id=host-1", "", 200)), &unlock); err != nil {
		t.Fatal(err)
	}
	if lock["status"] != "locked" || lock["owner_id"] != "host-1" || unlock["status"] != "unlocked" || unlock["workset_id"] != "w1" {
		t.Errorf("lock %v, unlock %v", lock, unlock)
	}
	stats := want(t, "GET", srv.URL+"/queue/stats", "", 200)
	var st struct {
		QueueDepth map[string]int64 `json:"queue_depth"`
		Total      int64            `json:"total_worksets"`
		Ready      int64            `json:"ready_worksets"`
		InProgress int64            `json:"in_progress_worksets"`
	}
	if err := json.Unmarshal([]byte(stats), &st); err != nil {
		t.Fatal(err)
	}
	if st.QueueDepth["ready"] != 2 || st.QueueDepth["in_progress"] != 1 || st.Total != 3 || st.Ready != 2 || st.InProgress != 1 {
		t.Errorf("stats %s", stats)
	}
	t.Logf("GET /queue/stats: %s", strings.TrimSpace(stats))
}

// A table holding states and records the SDK does not model: /worksets,
// /worksets/next and /queue/stats keep answering for the rest.
func TestUnknownStatesThroughTheAPI(t *testing.T) {
	t.Parallel()
	c := testenv.DynamoDB(t)
	st, err := dynamostore.New(c, testenv.UniqueName("api"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateTable(t.Context(), time.Minute); err != nil {
		t.Fatal(err)
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	hist := func(states ...string) types.AttributeValue {
		l := &types.AttributeValueMemberL{}
		for _, x := range states {
			l.Value = append(l.Value, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"state": s(x), "timestamp": s("2026-05-01T10:00:00Z"), "reason": s("")}})
		}
		return l
	}
	for id, it := range map[string]map[string]types.AttributeValue{
		"canceled-1": {"state": s("canceled"), "priority": s("urgent"), "state_history": hist("ready", "canceled")},
		"requeued-1": {"state": s("ready"), "priority": s("urgent"), "state_history": hist("canceled", "ready")},
		"broken-1":   {"state": s("ready"), "priority": s("urgent"), "retry_after": s("soon")},
	} {
		it["workset_id"] = s(id)
		if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(st.Table()), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	srv := newServer(t, st)
	if b := want(t, "GET", srv.URL+"/worksets/next", "", 200); !strings.Contains(b, `"requeued-1"`) {
		t.Errorf("next: %s, want requeued-1", b)
	}
	if b := want(t, "GET", srv.URL+"/worksets/canceled-1", "", 200); !strings.Contains(b, `"state":"canceled"`) {
		t.Errorf("get canceled: %s", b)
	}
	all := want(t, "GET", srv.URL+"/worksets", "", 200)
	if !strings.Contains(all, "canceled-1") || !strings.Contains(all, "requeued-1") {
		t.Errorf("list: %s", all)
	}
	if code, b, _ := do(t, "GET", srv.URL+"/worksets/broken-1", ""); code != 500 || !strings.Contains(b, "retry_after") {
		t.Errorf("broken record: %d %s, want 500 naming retry_after", code, b)
	}
	want(t, "GET", srv.URL+"/queue/stats", "", 200)
}

// serve runs api.Serve on a loopback listener with short limits.
func serve(t *testing.T, h http.Handler, o api.ServerOptions) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- api.Serve(ctx, ln, h, o) }()
	return ln.Addr().String(), func() error { cancel(); return <-errc }
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		return false
	}
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue // a response (408, say) before the close
		}
		var ne net.Error
		return !(errors.As(err, &ne) && ne.Timeout())
	}
}

// Slow bodies and idle keep-alive connections are cut off; a shutdown lets
// in-flight requests finish.
func TestServerLimits(t *testing.T) {
	t.Parallel()
	slow := &slowStore{StateStore: mem(t)}
	h, err := api.New(slow)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop := serve(t, h, api.ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond, ShutdownTimeout: 10 * time.Second})

	// A body promised and sent slowly.
	for i := range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(c, "POST /worksets HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"work"); err != nil {
			t.Fatal(err)
		}
		if !closedWithin(c, 5*time.Second) {
			t.Errorf("slow body %d: connection still open after 5s", i)
		}
		c.Close()
	}
	// Headers that never end.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c, 5*time.Second) {
		t.Error("unfinished headers: connection still open after 5s")
	}
	c.Close()
	// An idle keep-alive connection.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if !closedWithin(c, 5*time.Second) {
		t.Error("idle keep-alive connection still open after 5s")
	}
	c.Close()

	// Graceful shutdown: a request in flight when it starts still gets its answer.
	slow.delay.Store(int64(400 * time.Millisecond))
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+addr+"/worksets", "application/json", strings.NewReader(`{"workset_id":"ws-late"}`))
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for slow.inFlight.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if code := <-done; code != http.StatusCreated {
		t.Errorf("request in flight at shutdown: %d, want 201", code)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}

type slowStore struct {
	workset.StateStore
	delay    atomic.Int64
	inFlight atomic.Int64
}

func (s *slowStore) Register(ctx context.Context, req workset.RegisterRequest) (*workset.Workset, error) {
	s.inFlight.Add(1)
	time.Sleep(time.Duration(s.delay.Load()))
	return s.StateStore.Register(ctx, req)
}

// brokenStore answers every read with an infrastructure failure whose text
// carries internals a client must never see.
type brokenStore struct {
	workset.StateStore
	kind error
}

func (b brokenStore) Get(ctx context.Context, id string) (*workset.Workset, error) {
	return nil, &workset.Error{ID: id, Kind: b.kind, Detail: "GetItem https://secret-endpoint.internal/ with role arn:aws:iam::123:role/x"}
}

// An infrastructure failure answers 503 with an incident ID to quote, never
// the store's internals (issue 26, API 4).
func TestInfrastructureFailuresAnswer503WithoutInternals(t *testing.T) {
	t.Parallel()
	for _, kind := range []error{workset.ErrUnavailable, workset.ErrMisconfigured} {
		mem, err := memstore.New()
		if err != nil {
			t.Fatal(err)
		}
		h, err := api.New(brokenStore{StateStore: mem, kind: kind})
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/worksets/ws-1", nil))
		body := rec.Body.String()
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(body, "secret-endpoint") || !strings.Contains(body, `"incident"`) {
			t.Errorf("%v: %d %s; want 503 with an incident and no internals", kind, rec.Code, body)
		}
	}
}

// A lock is usable (issue 26, API 1): its holder moves its workset under it,
// named by owner_id (and fencing_token when given); anyone else is refused
// while it holds, and a stale token is fenced off.
func TestLockHolderMovesItsWorkset(t *testing.T) {
	t.Parallel()
	s := mem(t)
	srv := newServer(t, s)
	want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-1","bucket":"b","prefix":"worksets/ws-1/"}`, http.StatusCreated)
	var lock struct {
		FencingToken int64 `json:"fencing_token"`
	}
	if err := json.Unmarshal([]byte(want(t, "POST", srv.URL+"/worksets/ws-1/lock?owner_id=op-1", "", 200)), &lock); err != nil {
		t.Fatal(err)
	}
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", `{"state":"in_progress"}`, http.StatusConflict)                    // not the holder
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", `{"state":"in_progress","owner_id":"op-2"}`, http.StatusForbidden) // not the holder either
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", `{"state":"in_progress","owner_id":"op-1"}`, http.StatusOK)
	body := fmt.Sprintf(`{"state":"error","owner_id":"op-1","fencing_token":%d,"error_details":"exit 2","error_category":"data","failed_step":"align"}`, lock.FencingToken)
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", body, http.StatusOK)
	w, err := s.Get(t.Context(), "ws-1")
	if err != nil {
		t.Fatal(err)
	}
	if w.State != workset.StateError || w.ErrorCategory != workset.CategoryData || w.FailedStep != "align" {
		t.Errorf("after the holder's moves: %s category %q step %q", w.State, w.ErrorCategory, w.FailedStep)
	}
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", fmt.Sprintf(`{"state":"ready","owner_id":"op-1","fencing_token":%d}`, lock.FencingToken+1), http.StatusForbidden)
	want(t, "PUT", srv.URL+"/worksets/ws-1/state", `{"state":"ready","fencing_token":3}`, http.StatusBadRequest)
}

// Unknown query parameters are refused naming them, not ignored (issue 26,
// API 2), and health reflects whether the store answers (API 4).
func TestUnknownParametersAndHealth(t *testing.T) {
	t.Parallel()
	s := mem(t)
	srv := newServer(t, s)
	want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-1","bucket":"b","prefix":"worksets/ws-1/"}`, http.StatusCreated)
	if body := want(t, "GET", srv.URL+"/worksets?status=ready", "", http.StatusBadRequest); !strings.Contains(body, `unknown query parameter \"status\"`) {
		t.Errorf("?status=ready: %s", body)
	}
	want(t, "GET", srv.URL+"/worksets?state=ready&state=error", "", http.StatusBadRequest)
	want(t, "POST", srv.URL+"/worksets/ws-1/lock?owner_id=op-1&force=true", "", http.StatusBadRequest)
	want(t, "GET", srv.URL+"/worksets?state=ready", "", http.StatusOK)
	if body := want(t, "GET", srv.URL+"/", "", http.StatusOK); !strings.Contains(body, `"healthy"`) {
		t.Errorf("health of a working store: %s", body)
	}

	mem2, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	broken := newServer(t, listFails{StateStore: mem2})
	if body := want(t, "GET", broken.URL+"/", "", http.StatusServiceUnavailable); !strings.Contains(body, "misconfigured") || strings.Contains(body, "secret") {
		t.Errorf("health of a misconfigured store: %s", body)
	}
}

// listFails is a store whose table is missing.
type listFails struct{ workset.StateStore }

func (listFails) List(context.Context, workset.ListQuery) (*workset.Page, error) {
	return nil, &workset.Error{Kind: workset.ErrMisconfigured, Detail: "table missing at https://secret/"}
}

// Unknown routes and wrong methods answer in the API's JSON, with Allow on
// 405 (issue 26, API 3).
func TestNoRouteAnswersJSON(t *testing.T) {
	t.Parallel()
	srv := newServer(t, mem(t))
	code, body, hdr := do(t, "GET", srv.URL+"/nowhere", "")
	if code != http.StatusNotFound || !strings.Contains(body, `"detail"`) || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("unknown route: %d %s %v", code, body, hdr)
	}
	code, body, hdr = do(t, "DELETE", srv.URL+"/worksets", "")
	if code != http.StatusMethodNotAllowed || !strings.Contains(hdr.Get("Allow"), "POST") || !strings.Contains(body, `"detail"`) {
		t.Errorf("wrong method: %d %s Allow=%q", code, body, hdr.Get("Allow"))
	}
}

// A key given twice is refused, not taken last-one-wins (issue 26, API 8).
func TestDuplicateJSONKeysAreRefused(t *testing.T) {
	t.Parallel()
	s := mem(t)
	srv := newServer(t, s)
	if body := want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-1","workset_id":"ws-2","bucket":"b","prefix":"p/"}`, http.StatusBadRequest); !strings.Contains(body, "workset_id") {
		t.Errorf("duplicate key: %s", body)
	}
	want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-3","bucket":"b","prefix":"p/","metadata":{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}}`, http.StatusCreated)
	want(t, "POST", srv.URL+"/worksets", `{"workset_id":"ws-4","bucket":"b","prefix":"p/","metadata":{"a":1,"a":2}}`, http.StatusBadRequest)
	if _, err := s.Get(t.Context(), "ws-1"); err == nil {
		t.Error("a refused body registered a workset")
	}
}
