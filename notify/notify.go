// Package notify publishes chosen workset transitions to an SNS topic (for
// example every move to error, failed or complete), as an observe.Observer.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/storekit"
)

// SNSClient is the subset of *sns.Client the publisher calls.
type SNSClient interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

var _ SNSClient = (*sns.Client)(nil)

// DefaultStates are the transitions notified by default.
var DefaultStates = []workset.State{workset.StateError, workset.StateFailed, workset.StateComplete}

// Message is the JSON body of a notification.
type Message struct {
	WorksetID string        `json:"workset_id"`
	From      workset.State `json:"from,omitempty"`
	To        workset.State `json:"to"`
	Reason    string        `json:"reason,omitempty"`
	Category  string        `json:"error_category,omitempty"`
	Owner     string        `json:"owner,omitempty"`
	At        string        `json:"timestamp"`
}

// SNS publishes transitions to a topic. Observe is off the write path: it
// queues the event (at most QueueSize waiting) and returns at once; one
// goroutine publishes them in order, each within Timeout, and logs failures.
// A full queue drops the event, counted by Dropped and logged. Close delivers
// what is queued. Publish is the synchronous call, returning its error.
type SNS struct {
	Client   SNSClient
	TopicARN string
	// States to notify (default DefaultStates).
	States []workset.State
	// Timeout bounds one publish (default 5s).
	Timeout time.Duration
	// Logger receives publish failures and drops (default: discarded).
	Logger *slog.Logger
	// QueueSize bounds the events waiting to be published (default 1000).
	QueueSize int

	once    sync.Once
	queue   chan queued
	done    chan struct{}
	dropped atomic.Int64
}

type queued struct {
	ctx context.Context
	e   observe.Event
}

// start starts the publishing goroutine, once.
func (p *SNS) start() {
	p.once.Do(func() {
		n := p.QueueSize
		if n <= 0 {
			n = 1000
		}
		p.queue, p.done = make(chan queued, n), make(chan struct{})
		go func() {
			defer close(p.done)
			for q := range p.queue {
				if err := p.Publish(q.ctx, q.e); err != nil && p.Logger != nil {
					p.Logger.WarnContext(q.ctx, "notification not sent", "workset", q.e.WorksetID, "err", err)
				}
			}
		}()
	})
}

// Dropped is how many notifications a full queue dropped.
func (p *SNS) Dropped() int64 { return p.dropped.Load() }

// Close stops queueing and waits until what was queued is published, or ctx
// ends. Observe must not be called after Close.
func (p *SNS) Close(ctx context.Context) error {
	p.start()
	close(p.queue)
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notify: %d notifications still queued: %w", len(p.queue), ctx.Err())
	}
}

func (p *SNS) wants(s workset.State) bool {
	states := p.States
	if states == nil {
		states = DefaultStates
	}
	for _, x := range states {
		if x == s {
			return true
		}
	}
	return false
}

// Publish sends the notification for e if it is a transition to a chosen state.
func (p *SNS) Publish(ctx context.Context, e observe.Event) error {
	if e.Kind != observe.Transitioned || !p.wants(e.To) {
		return nil
	}
	body, err := json.Marshal(Message{WorksetID: e.WorksetID, From: e.From, To: e.To, Reason: e.Reason,
		Category: string(e.Category), Owner: e.Owner, At: storekit.FormatTime(e.At)})
	if err != nil {
		return err
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = p.Client.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.TopicARN),
		Subject:  aws.String(fmt.Sprintf("workset %s is %s", e.WorksetID, e.To)),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"state": {DataType: aws.String("String"), StringValue: aws.String(string(e.To))},
		},
	})
	if err != nil {
		return fmt.Errorf("notify: publishing %s -> %s of workset %s: %w", e.From, e.To, e.WorksetID, err)
	}
	return nil
}

// Observe implements observe.Observer: it queues e and returns at once.
func (p *SNS) Observe(ctx context.Context, e observe.Event) {
	if e.Kind != observe.Transitioned || !p.wants(e.To) {
		return
	}
	p.start()
	select {
	case p.queue <- queued{ctx: context.WithoutCancel(ctx), e: e}:
	default:
		n := p.dropped.Add(1)
		if p.Logger != nil {
			p.Logger.WarnContext(ctx, "notification dropped: the queue is full", "workset", e.WorksetID, "to", e.To, "dropped", n)
		}
	}
}
