// Package notify publishes chosen workset transitions to an SNS topic (for
// example every move to error, failed or complete), as an observe.Observer.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
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

// SNS publishes transitions to a topic. Observe never blocks the caller for
// long (each publish has Timeout) and logs failures; Publish returns them.
type SNS struct {
	Client   SNSClient
	TopicARN string
	// States to notify (default DefaultStates).
	States []workset.State
	// Timeout bounds one publish (default 5s).
	Timeout time.Duration
	// Logger receives publish failures (default: discarded).
	Logger *slog.Logger
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

// Observe implements observe.Observer.
func (p *SNS) Observe(ctx context.Context, e observe.Event) {
	if err := p.Publish(ctx, e); err != nil && p.Logger != nil {
		p.Logger.WarnContext(ctx, "notification not sent", "workset", e.WorksetID, "err", err)
	}
}
