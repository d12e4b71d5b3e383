package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/daylily-informatics/worksetstate/api"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// The deployed HTTP API over any store. Served here by httptest on loopback;
// in production api.Serve with an Authenticator (see api.NewOIDCAuthenticator).
func Example() {
	clock := fixedClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	store, err := memstore.New(func(o *memstore.Options) { o.Clock = clock })
	if err != nil {
		panic(err)
	}
	h, err := api.New(store, func(o *api.Options) { o.Clock = clock }) // no Auth: loopback only
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	do := func(method, path, body string) {
		req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	}
	do("POST", "/worksets", `{"workset_id":"ws-1","bucket":"b","prefix":"worksets/ws-1/","priority":"urgent"}`)
	do("PUT", "/worksets/ws-1/state", `{"state":"complete","reason":"skip ahead"}`)
	if w, err := store.Get(context.Background(), "ws-1"); err == nil {
		fmt.Println(w.State == workset.StateReady)
	}
	// Output:
	// 201 {"workset_id":"ws-1","state":"ready","priority":"urgent","bucket":"b","prefix":"worksets/ws-1/","created_at":"2026-01-02T03:04:05.000000Z","updated_at":"2026-01-02T03:04:05.000000Z","cluster_name":null,"error_details":null,"metrics":null}
	// 409 {"detail":"workset ws-1: invalid transition: ready -\u003e complete (allowed from ready: locked, in_progress, ignored)"}
	// true
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }
