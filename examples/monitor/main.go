// Command monitor shows the embeddable monitor loop: it registers a few
// worksets, then processes them in priority order, with one injected transient
// failure that is retried and then completes, and stops on SIGINT/SIGTERM or
// once the queue is empty.
//
//	go run ./examples/monitor                       # on the in-memory store
//	go run ./examples/monitor --dynamodb-endpoint http://127.0.0.1:8000 --table demo --create-table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/daylily-informatics/worksetstate/monitor"
	"github.com/daylily-informatics/worksetstate/observe"
	"github.com/daylily-informatics/worksetstate/workset"
	"github.com/daylily-informatics/worksetstate/workset/dynamostore"
	"github.com/daylily-informatics/worksetstate/workset/memstore"
)

func main() {
	table := flag.String("table", "worksetstate-monitor-demo", "DynamoDB table (with --dynamodb-endpoint)")
	endpoint := flag.String("dynamodb-endpoint", "", "use DynamoDB at this endpoint instead of the in-memory store")
	create := flag.Bool("create-table", false, "create the table if missing")
	region := flag.String("region", "us-west-2", "AWS region")
	metrics := flag.Bool("metrics", false, "also print CloudWatch EMF metric lines")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, *table, *endpoint, *region, *create, *metrics); err != nil {
		fmt.Fprintln(os.Stderr, "monitor:", err)
		os.Exit(1)
	}
}

// lockedWriter serialises writes from the monitor's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func run(ctx context.Context, dst io.Writer, table, endpoint, region string, create, metrics bool) error {
	out := &lockedWriter{w: dst} // events arrive from several goroutines
	var base workset.StateStore
	if endpoint == "" {
		s, err := memstore.New()
		if err != nil {
			return err
		}
		base = s
	} else {
		cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
		if err != nil {
			return err
		}
		s, err := dynamostore.New(dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) }), table)
		if err != nil {
			return err
		}
		if create {
			if err := s.CreateTable(ctx, time.Minute); err != nil {
				return err
			}
		}
		base = s
	}
	// Every change is reported: a line per event, and EMF metrics if asked.
	obs := []observe.Observer{observe.Func(func(_ context.Context, e observe.Event) {
		switch e.Kind {
		case observe.Transitioned:
			fmt.Fprintf(out, "  %-8s %s -> %s  (%s)\n", e.WorksetID, e.From, e.To, e.Reason)
		case observe.LeaseAcquired, observe.LeaseReleased, observe.LeaseLost:
			fmt.Fprintf(out, "  %-8s %s by %s\n", e.WorksetID, e.Kind, e.Owner)
		}
	})}
	emf := &observe.EMF{W: out}
	if metrics {
		obs = append(obs, emf)
	}
	store := observe.Wrap(base, observe.Multi(obs...))

	fmt.Fprintln(out, "registering:")
	for _, r := range []workset.RegisterRequest{
		{ID: "ws-low", Priority: workset.PriorityLow}, {ID: "ws-urgent", Priority: workset.PriorityUrgent},
		{ID: "ws-flaky", Priority: workset.PriorityNormal}, {ID: "ws-normal", Priority: workset.PriorityNormal},
	} {
		if _, err := store.Register(ctx, r); err != nil && !errors.Is(err, workset.ErrAlreadyExists) {
			return err
		}
	}

	var flakyRuns atomic.Int64
	m, err := monitor.New(store, func(ctx context.Context, w *workset.Workset) error {
		time.Sleep(20 * time.Millisecond) // the pipeline
		if w.ID == "ws-flaky" && flakyRuns.Add(1) == 1 {
			return monitor.Fail(workset.CategoryTransient, "alignment", errors.New("spot instance reclaimed"))
		}
		return nil
	}, func(o *monitor.Options) {
		o.Owner, o.Concurrency, o.PollInterval = "demo-monitor-1", 1, 20*time.Millisecond
		o.LeaseTTL, o.Backoff = 30*time.Second, func(int) time.Duration { return 100 * time.Millisecond }
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "processing (concurrency 1, urgent first):")
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(runCtx) }()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-time.After(50 * time.Millisecond):
			counts, err := observe.CountByState(ctx, base)
			if err != nil {
				return err
			}
			done = counts[workset.StateComplete]+counts[workset.StateFailed] == 4
		}
	}
	cancel()
	if err := <-errc; err != nil {
		return err
	}
	counts, err := observe.CountByState(context.Background(), base)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "done: %d complete, %d failed\n", counts[workset.StateComplete], counts[workset.StateFailed])
	if metrics {
		if err := emf.QueueDepth(counts, time.Now().UnixMilli()); err != nil {
			return err
		}
		look, err := observe.Look(context.Background(), base, "", time.Time{})
		if err != nil {
			return err
		}
		var age time.Duration
		if look.OldestReady != nil {
			age = time.Since(look.OldestReady.UpdatedAt)
		}
		return emf.QueueAge(age, time.Now().UnixMilli())
	}
	w, err := base.Get(context.Background(), "ws-flaky")
	if err != nil {
		return err
	}
	// Success cleared the retry fields; the failure is in the history.
	for _, h := range w.History {
		if h.State == workset.StateRetrying {
			fmt.Fprintf(out, "ws-flaky: %s, retried once after a %s failure (%s)\n", w.State, h.ErrorCategory, h.Reason)
		}
	}
	return nil
}
