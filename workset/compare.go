package workset

import (
	"reflect"
	"time"
)

// Projection is what of a workset a set of stores can all represent: fields a
// store cannot hold (per its Capabilities) are left zero, so two stores'
// records compare equal when they agree on everything both can say. Leases are
// not part of it: they are run-time claims, not state to migrate.
type Projection struct {
	State        State
	Priority     Priority
	Bucket       string
	Prefix       string
	CreatedAt    time.Time
	Metadata     map[string]any
	Attributes   map[string]any
	Metrics      map[string]any
	ErrorDetails string
	ClusterName  string
}

// Project returns the projection of w onto what every one of caps can hold.
// Metadata keys in ignore are left out (for example a migration marker).
func Project(w *Workset, ignore []string, caps ...Capabilities) Projection {
	all := Capabilities{Priority: true, Location: true, Timestamps: true, Metadata: true}
	for _, c := range caps {
		all.Priority = all.Priority && c.Priority
		all.Location = all.Location && c.Location
		all.Timestamps = all.Timestamps && c.Timestamps
		all.Metadata = all.Metadata && c.Metadata
	}
	p := Projection{State: w.State}
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
			p.Metadata = CloneMap(w.Metadata)
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
// "priority", ...), or nil when they are equal.
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
	return out
}

// numbersAsFloat normalises numbers, since stores may hand back 12 as int or
// float64.
func numbersAsFloat(v any) any {
	switch t := v.(type) {
	case map[string]any:
		if t == nil {
			return nil
		}
		m := make(map[string]any, len(t))
		for k, x := range t {
			m[k] = numbersAsFloat(x)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, x := range t {
			s[i] = numbersAsFloat(x)
		}
		return s
	case int:
		return float64(t)
	case int32:
		return float64(t)
	case int64:
		return float64(t)
	case float32:
		return float64(t)
	default:
		return v
	}
}
