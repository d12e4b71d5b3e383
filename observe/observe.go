// Package observe reports what happens to worksets: an Observer hook for
// registrations, transitions, leases, failures, divergences and mismatches; a
// slog adapter; CloudWatch metrics as Embedded Metric Format lines in the
// deployed namespace; and queue depth per state.
package observe

import (
	"context"
	"log/slog"
	"time"

	"github.com/daylily-informatics/worksetstate/workset"
)

// EventKind is the kind of an Event.
type EventKind string

// The kinds of events.
const (
	Registered    EventKind = "registered"
	Transitioned  EventKind = "transitioned"
	LeaseAcquired EventKind = "lease_acquired"
	LeaseRenewed  EventKind = "lease_renewed"
	LeaseLost     EventKind = "lease_lost"
	LeaseReleased EventKind = "lease_released"
	Failed        EventKind = "failed" // a failure was recorded (see Event.Category)
	Diverged      EventKind = "diverged"
	Mismatched    EventKind = "mismatched"
	Imported      EventKind = "imported" // a whole record was written (migration, rollback)
	Deleted       EventKind = "deleted"  // a record was removed (cleanup)
)

// Event is one thing that happened.
type Event struct {
	Kind      EventKind
	WorksetID string
	From, To  workset.State
	Owner     string
	Reason    string
	Category  workset.ErrorCategory
	Err       error
	At        time.Time
}

// Observer receives events. Observe must be safe for concurrent use and quick;
// it must not call back into the store.
type Observer interface {
	Observe(ctx context.Context, e Event)
}

// Func adapts a function to Observer.
type Func func(ctx context.Context, e Event)

// Observe calls f.
func (f Func) Observe(ctx context.Context, e Event) { f(ctx, e) }

// Multi sends every event to each observer in turn.
func Multi(obs ...Observer) Observer {
	return Func(func(ctx context.Context, e Event) {
		for _, o := range obs {
			if o != nil {
				o.Observe(ctx, e)
			}
		}
	})
}

// Slog logs every event at Info (lease losses and failures at Warn) with
// structured attributes.
func Slog(l *slog.Logger) Observer {
	return Func(func(ctx context.Context, e Event) {
		level := slog.LevelInfo
		if e.Kind == LeaseLost || e.Kind == Failed || e.Kind == Diverged || e.Kind == Mismatched {
			level = slog.LevelWarn
		}
		attrs := []any{"workset", e.WorksetID}
		if e.From != "" || e.To != "" {
			attrs = append(attrs, "from", e.From, "to", e.To)
		}
		if e.Owner != "" {
			attrs = append(attrs, "owner", e.Owner)
		}
		if e.Reason != "" {
			attrs = append(attrs, "reason", e.Reason)
		}
		if e.Category != "" {
			attrs = append(attrs, "category", e.Category)
		}
		if e.Err != nil {
			attrs = append(attrs, "err", e.Err)
		}
		l.Log(ctx, level, "workset "+string(e.Kind), attrs...)
	})
}
