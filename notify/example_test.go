package notify_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/daylily-informatics/worksetstate/notify"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

// printClient stands in for *sns.Client (notify.SNSClient is the one method
// the publisher calls) and prints what would be published.
type printClient struct{}

func (printClient) Publish(_ context.Context, in *sns.PublishInput, _ ...func(*sns.Options)) (*sns.PublishOutput, error) {
	fmt.Println(aws.ToString(in.Subject))
	return &sns.PublishOutput{}, nil
}

// Notifying chosen transitions: wrap the store with the SNS publisher as its
// observer. In production Client is sns.NewFromConfig(cfg).
func Example() {
	ctx := context.Background()
	mem, err := memstore.New()
	if err != nil {
		panic(err)
	}
	publisher := &notify.SNS{Client: printClient{}, TopicARN: "arn:aws:sns:us-west-2:123456789012:worksets"}
	store := observe.Wrap(mem, publisher)
	if _, err := store.Register(ctx, workset.RegisterRequest{ID: "ws-1"}); err != nil {
		panic(err)
	}
	for _, to := range []workset.State{workset.StateInProgress, workset.StateError} { // only error is notified by default
		if _, err := store.Transition(ctx, workset.TransitionRequest{ID: "ws-1", To: to}); err != nil {
			panic(err)
		}
	}
	// Publishing is off the write path: Close delivers what is queued.
	if err := publisher.Close(ctx); err != nil {
		panic(err)
	}
	// Output:
	// workset ws-1 is error
}
