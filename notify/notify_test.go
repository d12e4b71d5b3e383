package notify_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app"
	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/sirupsen/logrus"

	"github.com/daylily-informatics/worksetstate/internal/testenv"
	"github.com/daylily-informatics/worksetstate/notify"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// goaws serves SNS and SQS in this process, on 127.0.0.1 only.
func goaws(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "goaws.yaml")
	if err := os.WriteFile(cfg, []byte("Local:\n  Host: 127.0.0.1\n  Port: 1\n  Region: us-west-2\n  AccountId: \"100010001000\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logrus.SetLevel(logrus.WarnLevel)
	conf.LoadYamlConfig(cfg, "Local")
	srv := httptest.NewServer(router.New())
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	app.CurrentEnvironment.Port = port // queue URLs point back here
	return srv.URL
}

// Transitions to error, failed and complete reach an HTTP endpoint
// subscribed to the topic, with the workset, the transition and the reason.
// (goaws v0.4.5 answers SQS only in the query protocol, which the current SDK
// no longer speaks, so the subscriber is an HTTP endpoint, confirmed as SNS
// requires.)
func TestSNSPublishReachesSubscriber(t *testing.T) {
	url := goaws(t)
	received := make(chan string, 16)
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err) // a handler goroutine: no Fatal
			return
		}
		received <- string(b)
	}))
	t.Cleanup(sub.Close)
	snsc := sns.NewFromConfig(testenv.AWSConfig("dummy", "dummy"), func(o *sns.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := t.Context()
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("workset-events")})
	if err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.URL)}); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	// Confirm the subscription as an HTTP subscriber does.
	select {
	case body := <-received:
		var c struct{ Type, Token string }
		if err := json.Unmarshal([]byte(body), &c); err != nil || c.Type != "SubscriptionConfirmation" {
			t.Fatalf("expected a subscription confirmation, got %s", body)
		}
		if _, err := snsc.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: topic.TopicArn, Token: aws.String(c.Token)}); err != nil {
			t.Fatalf("ConfirmSubscription: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription confirmation")
	}
	mem, err := memstore.New()
	if err != nil {
		t.Fatal(err)
	}
	store := observe.Wrap(mem, &notify.SNS{Client: snsc, TopicARN: *topic.TopicArn})
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
	timeout := time.After(5 * time.Second)
	for len(got) < 1 {
		select {
		case body := <-received:
			var env struct{ Type, Subject, Message string }
			var msg notify.Message
			if json.Unmarshal([]byte(body), &env) != nil || env.Type != "Notification" || json.Unmarshal([]byte(env.Message), &msg) != nil {
				t.Fatalf("notification body %q", body)
			}
			got = append(got, msg)
		case <-timeout:
			t.Fatal("no notification within 5s")
		}
	}
	select {
	case extra := <-received:
		t.Errorf("unexpected second notification: %s", extra)
	case <-time.After(300 * time.Millisecond):
	}
	m := got[0]
	if m.WorksetID != "ws-9" || m.From != workset.StateInProgress || m.To != workset.StateError || m.Reason != "bwa exited 137" || m.Category != "resource" {
		t.Errorf("notification %+v", m)
	}
}
