package notify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"fmt"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"net/url"
	"strings"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/notify"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// snsServer answers the SNS query protocol's Publish action (the one call the
// publisher makes) on 127.0.0.1, as SNS does: form-encoded requests signed with
// SigV4, an XML PublishResponse, and an XML error for a topic it does not know.
// It hands every accepted publish to the test. Nothing else of SNS is needed,
// so no emulator (and none of its dependencies) enters the module.
func snsServer(t *testing.T, topic string) (string, <-chan url.Values) {
	t.Helper()
	published := make(chan url.Values, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
			snsError(w, http.StatusForbidden, "MissingAuthenticationToken", "request is not signed")
			return
		}
		switch {
		case r.PostForm.Get("Action") != "Publish":
			snsError(w, http.StatusBadRequest, "InvalidAction", "only Publish is served here")
		case r.PostForm.Get("TopicArn") != topic:
			snsError(w, http.StatusNotFound, "NotFound", "Topic does not exist")
		default:
			published <- r.PostForm
			w.Header().Set("Content-Type", "text/xml")
			fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%d</MessageId></PublishResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></PublishResponse>`, len(published))
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, published
}

func snsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r</RequestId></ErrorResponse>`, code, msg)
}

const topicARN = "arn:aws:sns:us-west-2:100010001000:workset-events"

// Transitions to error, failed and complete are published to the topic, with
// the workset, the transition and the reason; other transitions are not.
func TestSNSPublishReachesSubscriber(t *testing.T) {
	endpoint, published := snsServer(t, topicARN)
	snsc := sns.NewFromConfig(testenv.AWSConfig("dummy", "dummy"), func(o *sns.Options) { o.BaseEndpoint = aws.String(endpoint) })
	ctx := t.Context()
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	store := observe.Wrap(mem, &notify.SNS{Client: snsc, TopicARN: topicARN})
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-9"}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-9", To: workset.StateInProgress, Reason: "started"}); err != nil { // not notified
		t.Fatal(err)
	}
	if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-9", To: workset.StateError, Reason: "bwa exited 137", ErrorCategory: workset.CategoryResource}); err != nil {
		t.Fatal(err)
	}

	var got []notify.Message
	var subjects []string
	timeout := time.After(5 * time.Second)
	for len(got) < 1 {
		select {
		case form := <-published:
			var msg notify.Message
			if err := json.Unmarshal([]byte(form.Get("Message")), &msg); err != nil {
				t.Fatalf("published message %q: %v", form.Get("Message"), err)
			}
			if form.Get("MessageAttributes.entry.1.Value.StringValue") != "error" {
				t.Errorf("state attribute: %v", form)
			}
			got, subjects = append(got, msg), append(subjects, form.Get("Subject"))
		case <-timeout:
			t.Fatal("no notification within 5s")
		}
	}
	select {
	case extra := <-published:
		t.Errorf("unexpected second notification: %v", extra)
	case <-time.After(300 * time.Millisecond):
	}
	if subjects[0] != "workset ws-9 is error" {
		t.Errorf("subject %q", subjects[0])
	}
	m := got[0]
	if m.WorksetID != "ws-9" || m.From != workset.StateInProgress || m.To != workset.StateError || m.Reason != "bwa exited 137" || m.Category != "resource" {
		t.Errorf("notification %+v", m)
	}
}

// A publish SNS refuses is returned by Publish with the transition it was for.
func TestPublishReportsRefusal(t *testing.T) {
	endpoint, _ := snsServer(t, topicARN)
	snsc := sns.NewFromConfig(testenv.AWSConfig("dummy", "dummy"), func(o *sns.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.RetryMaxAttempts = 1
	})
	p := &notify.SNS{Client: snsc, TopicARN: topicARN + "-gone"}
	err := p.Publish(t.Context(), observe.Event{Kind: observe.Transitioned, WorksetID: "ws-1", From: workset.StateInProgress, To: workset.StateFailed})
	if err == nil || !strings.Contains(err.Error(), "in_progress -> failed of workset ws-1") || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("Publish to a missing topic: %v", err)
	}
}

// blockingClient holds every publish until released.
type blockingClient struct {
	release chan struct{}
	sent    atomic.Int64
}

func (b *blockingClient) Publish(ctx context.Context, _ *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b.sent.Add(1)
	return &sns.PublishOutput{}, nil
}

// Publishing is off the write path (issue 27): a write returns while SNS
// hangs; a full queue drops and counts; Close delivers what was queued.
func TestNotifyIsOffTheWritePath(t *testing.T) {
	t.Parallel()
	client := &blockingClient{release: make(chan struct{})}
	p := &notify.SNS{Client: client, TopicARN: topicARN, QueueSize: 2, Timeout: time.Minute}
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	store := observe.Wrap(mem, p)
	ctx := t.Context()
	for i := range 5 {
		id := fmt.Sprintf("ws-%d", i)
		if _, err := store.Register(ctx, workset.RegisterRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateIgnored}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateReady}); err != nil {
			t.Fatal(err)
		}
		// In progress, then error: notified (the write returns while SNS hangs).
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateInProgress}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: id, To: workset.StateError}); err != nil {
			t.Fatal(err)
		}
	}
	// Two queued, and one in flight if the publisher took it already: the
	// other two or three were dropped, and the writes all returned.
	if d := p.Dropped(); d < 2 || d > 3 {
		t.Errorf("dropped %d of 5 with a queue of 2, want 2 or 3", d)
	}
	close(client.release)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.Close(cctx); err != nil {
		t.Fatal(err)
	}
	if got := client.sent.Load() + p.Dropped(); got != 5 {
		t.Errorf("sent %d + dropped %d = %d, want all 5 accounted for", client.sent.Load(), p.Dropped(), got)
	}
}
