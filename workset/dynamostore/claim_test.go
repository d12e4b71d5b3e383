package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/storetest"
)

// The ready queue is one Query a page in dispatch order, however the
// priorities are spread, and a priority stored in another spelling is listed
// (after the deployed ones), not lost.
func TestReadyQueueIsOneQueryAPage(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	st, counter, c := newStore(t, clock)
	ctx := t.Context()
	for i, p := range []workset.Priority{workset.PriorityLow, workset.PriorityUrgent, workset.PriorityNormal, workset.PriorityLow, workset.PriorityUrgent} {
		if _, err := st.Register(ctx, workset.RegisterRequest{ID: fmt.Sprintf("w-%d", i), Priority: p}); err != nil {
			t.Fatal(err)
		}
	}
	odd := deployedItem("py-shouting")
	odd["priority"] = s("URGENT")
	putRaw(t, c, st.Table(), odd)
	counter.Reset()
	page, err := st.List(ctx, workset.ListQuery{State: workset.StateReady, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range page.Worksets {
		got = append(got, string(w.Priority))
	}
	want := "[urgent urgent normal low low urgent]"
	if fmt.Sprint(got) != want {
		t.Errorf("ready queue priorities %v, want %s (the odd spelling last)", got, want)
	}
	if n := counter.Counts()["Query"]; n != 1 {
		t.Errorf("%d queries for one page of the ready queue, want 1", n)
	}
	// Pages of 2 follow one another in the same order.
	var paged []string
	for w, err := range workset.All(ctx, st, workset.ListQuery{State: workset.StateReady, Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, string(w.Priority))
	}
	if fmt.Sprint(paged) != want {
		t.Errorf("paged ready queue %v, want %s", paged, want)
	}
}

// returnsOld makes the emulator answer a refused UpdateItem as DynamoDB does
// when asked (ReturnValuesOnConditionCheckFailure ALL_OLD): with the item the
// condition saw. It counts the GetItems the store makes itself.
type returnsOld struct {
	dynamostore.Client
	storeGets atomic.Int64
}

func (r *returnsOld) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.storeGets.Add(1)
	return r.Client.GetItem(ctx, in, opts...)
}

func (r *returnsOld) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := r.Client.UpdateItem(ctx, in, opts...)
	var refused *types.ConditionalCheckFailedException
	if errors.As(err, &refused) && in.ReturnValuesOnConditionCheckFailure == types.ReturnValuesOnConditionCheckFailureAllOld {
		old, gerr := r.Client.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key, ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return nil, gerr
		}
		refused.Item = old.Item
	}
	return out, err
}

// A refused claim is explained from the item the refusal returns: on
// DynamoDB it costs one request, not two.
func TestRefusedClaimNeedsNoRead(t *testing.T) {
	t.Parallel()
	clock := storetest.NewClock(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	plain, _, c := newStore(t, clock)
	ctx := t.Context()
	ro := &returnsOld{Client: c}
	st, err := dynamostore.New(ro, plain.Table(), func(o *dynamostore.Options) { o.Clock = clock })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Register(ctx, workset.RegisterRequest{ID: "w"}); err != nil {
		t.Fatal(err)
	}
	if _, err := workset.Claim(ctx, st, workset.ClaimRequest{ID: "w", Owner: "a", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	ro.storeGets.Store(0)
	_, err = workset.Claim(ctx, st, workset.ClaimRequest{ID: "w", Owner: "b", TTL: time.Minute})
	var held *workset.LeaseHeldError
	if !errors.As(err, &held) || held.Owner != "a" {
		t.Fatalf("claim over a's lease: %v", err)
	}
	if n := ro.storeGets.Load(); n != 0 {
		t.Errorf("the store read the item %d times to explain a refusal that carried it", n)
	}
	// Without the item in the refusal (the emulator as it is), one read explains it.
	if _, err := workset.Claim(ctx, plain, workset.ClaimRequest{ID: "w", Owner: "b", TTL: time.Minute}); !errors.As(err, &held) {
		t.Fatalf("claim over a's lease, plain client: %v", err)
	}
}
