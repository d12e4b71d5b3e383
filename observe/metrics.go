package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// Namespace is the deployed CloudWatch namespace.
const Namespace = "Daylily/WorksetMonitor"

// MetricName is the deployed metric name of an event: WorksetRegistered,
// LockAcquired, LockReleased, LockRenewed, LockLost, WorksetFailed,
// DualWriteDivergence, ShadowReadMismatch, and for a transition to state S,
// "WorksetState" + S in CamelCase (WorksetStateComplete, ...).
func MetricName(e Event) string {
	switch e.Kind {
	case Registered:
		return "WorksetRegistered"
	case LeaseAcquired:
		return "LockAcquired"
	case LeaseReleased:
		return "LockReleased"
	case LeaseRenewed:
		return "LockRenewed"
	case LeaseLost:
		return "LockLost"
	case Failed:
		return "WorksetFailed"
	case Diverged:
		return "DualWriteDivergence"
	case Mismatched:
		return "ShadowReadMismatch"
	case Transitioned:
		return "WorksetState" + camel(string(e.To))
	}
	return "Workset" + camel(string(e.Kind))
}

func camel(s string) string {
	out := make([]byte, 0, len(s))
	up := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out)
}

// EMF writes each event as a CloudWatch Embedded Metric Format line (one
// Count metric, no dimensions, in Namespace) to W: CloudWatch Logs turns them
// into metrics (Lambda, ECS with awslogs, or the CloudWatch agent). It is safe
// for concurrent use.
type EMF struct {
	W  io.Writer
	mu sync.Mutex
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

func (m *EMF) write(ts int64, values map[string]float64, unit string, extra map[string]any) error {
	d := emfDirective{Namespace: Namespace, Dimensions: [][]string{{}}}
	doc := map[string]any{}
	for k, v := range extra {
		doc[k] = v
	}
	for name, v := range values {
		d.Metrics = append(d.Metrics, emfMetric{Name: name, Unit: unit})
		doc[name] = v
	}
	doc["_aws"] = map[string]any{"Timestamp": ts, "CloudWatchMetrics": []emfDirective{d}}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err = fmt.Fprintln(m.W, string(b))
	return err
}

// Observe implements Observer.
func (m *EMF) Observe(_ context.Context, e Event) {
	extra := map[string]any{"workset_id": e.WorksetID}
	if e.To != "" {
		extra["state"] = string(e.To)
	}
	_ = m.write(e.At.UnixMilli(), map[string]float64{MetricName(e): 1}, "Count", extra)
}

// QueueDepth writes one EMF line with the number of worksets in each state
// (QueueDepth is the ready count, as deployed; StateCount<State> the others).
func (m *EMF) QueueDepth(counts map[workset.State]int64, atMillis int64) error {
	values := map[string]float64{"QueueDepth": float64(counts[workset.StateReady])}
	for s, n := range counts {
		values["StateCount"+camel(string(s))] = float64(n)
	}
	return m.write(atMillis, values, "Count", nil)
}

// QueueAge writes one EMF line with OldestReadyAge: how long, in seconds, the
// oldest ready workset has waited (0 when none is ready; Look finds it). With QueueDepth it
// tells a queue that is long from one that is stuck.
func (m *EMF) QueueAge(age time.Duration, atMillis int64) error {
	return m.write(atMillis, map[string]float64{"OldestReadyAge": max(age, 0).Seconds()}, "Seconds", nil)
}

// Counter is implemented by stores that count worksets per state without
// reading them (the DynamoDB store uses COUNT queries on its state index).
type Counter interface {
	CountByState(ctx context.Context) (map[workset.State]int64, error)
}

// CountByState counts worksets per state: with the store's own counting when
// it has one, with one pass over the store (workset.Scan) otherwise.
func CountByState(ctx context.Context, s workset.StateStore) (map[workset.State]int64, error) {
	if c, ok := s.(Counter); ok {
		return c.CountByState(ctx)
	}
	// One pass over the store (one bucket listing on the sentinel store, not
	// one a state); a record that cannot be read is not counted, and does not
	// fail the count.
	out := map[workset.State]int64{}
	for w, err := range workset.Scan(ctx, s, workset.ListQuery{}) {
		if errors.Is(err, workset.ErrMalformed) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[w.State]++
	}
	return out, nil
}
