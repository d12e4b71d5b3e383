package storekit

import (
	"reflect"
	"time"

	"github.com/daylily-informatics/worksetstate/internal/valuemodel"
	"github.com/daylily-informatics/worksetstate/workset"
)

// Projection is what of a workset a set of stores can all represent: fields a
// store cannot hold (per its Capabilities) are left zero, so two stores'
// records compare equal when they agree on everything both can say. Leases are
// not part of it: they are run-time claims, not state to migrate.
type Projection struct {
	State        workset.State
	Priority     workset.Priority
	Bucket       string
	Prefix       string
	CreatedAt    time.Time
	Metadata     map[string]any
	Attributes   map[string]any
	Metrics      map[string]any
	ErrorDetails string
	ClusterName  string
	// The retry fields, when every store keeps them (Kept.Retries).
	RetryCount    int
	RetryAfter    time.Time
	FailedStep    string
	ErrorCategory workset.ErrorCategory
}

// Project returns the projection of w onto what every one of caps can hold.
// Metadata keys in ignore are left out (for example a migration marker).
func Project(w *workset.Workset, ignore []string, caps ...workset.Capabilities) Projection {
	all := workset.Kept{Priority: true, Location: true, Timestamps: true, Metadata: true, Retries: true}
	for _, c := range caps {
		all.Retries = all.Retries && c.Kept.Retries
		all.Priority = all.Priority && c.Kept.Priority
		all.Location = all.Location && c.Kept.Location
		all.Timestamps = all.Timestamps && c.Kept.Timestamps
		all.Metadata = all.Metadata && c.Kept.Metadata
	}
	p := Projection{State: w.State}
	if all.Retries {
		p.RetryCount, p.RetryAfter, p.FailedStep, p.ErrorCategory = w.RetryCount, w.RetryAfter.UTC(), w.FailedStep, w.ErrorCategory
	}
	if all.Priority {
		p.Priority = w.Priority
	}
	if all.Location {
		p.Bucket, p.Prefix = w.Bucket, w.Prefix
	}
	if all.Timestamps {
		p.CreatedAt = w.CreatedAt.UTC()
	}
	if all.Metadata {
		p.Metadata = w.Metadata
		if len(ignore) > 0 && len(w.Metadata) > 0 {
			p.Metadata = valuemodel.CloneMap(w.Metadata)
			for _, k := range ignore {
				delete(p.Metadata, k)
			}
		}
		if len(p.Metadata) == 0 {
			p.Metadata = nil
		}
		p.Attributes, p.Metrics = emptyToNil(w.Attributes), emptyToNil(w.Metrics)
		p.ErrorDetails, p.ClusterName = w.ErrorDetails, w.ClusterName
	}
	return p
}

func emptyToNil(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// DiffFields names the fields in which two projections differ ("state",
// "priority", ...), or nil when they are equal. It is the one comparison of
// records in the SDK: the Migrator's verify and the DualWriter's shadow reads
// both use it, so they never disagree about whether two records match.
func DiffFields(a, b Projection) []string {
	var out []string
	add := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	add("state", a.State == b.State)
	add("priority", a.Priority == b.Priority)
	add("bucket", a.Bucket == b.Bucket)
	add("prefix", a.Prefix == b.Prefix)
	add("created_at", a.CreatedAt.Equal(b.CreatedAt))
	add("metadata", reflect.DeepEqual(numbersAsFloat(a.Metadata), numbersAsFloat(b.Metadata)))
	add("attributes", reflect.DeepEqual(numbersAsFloat(a.Attributes), numbersAsFloat(b.Attributes)))
	add("metrics", reflect.DeepEqual(numbersAsFloat(a.Metrics), numbersAsFloat(b.Metrics)))
	add("error_details", a.ErrorDetails == b.ErrorDetails)
	add("cluster_name", a.ClusterName == b.ClusterName)
	add("retry_count", a.RetryCount == b.RetryCount)
	add("retry_after", a.RetryAfter.Equal(b.RetryAfter))
	add("failed_step", a.FailedStep == b.FailedStep)
	add("error_category", a.ErrorCategory == b.ErrorCategory)
	return out
}

func numbersAsFloat(m map[string]any) any { return valuemodel.Numbers(m) }
