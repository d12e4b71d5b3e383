package storekit

import (
	"github.com/daylily-informatics/worksetstate/internal/schema"
	"github.com/daylily-informatics/worksetstate/internal/valuemodel"
)

// Limits of the value model of Metadata, Metrics and Attributes (described on
// workset.Workset): what every store can keep.
const (
	// MaxValueDepth is DynamoDB's nesting limit: the attribute itself counts
	// as the first level.
	MaxValueDepth = valuemodel.MaxDepth
	// MaxValueBytes bounds the JSON size of one request's Metadata, Metrics
	// and Attributes together, well inside DynamoDB's 400 KB item limit.
	MaxValueBytes = valuemodel.MaxBytes
)

// NormalizeValues checks m against the value model and returns a normalised
// deep copy (numbers as float64). name is the field it came from, for errors,
// which match workset.ErrInvalidInput.
func NormalizeValues(id, name string, m map[string]any) (map[string]any, error) {
	n, err := valuemodel.Normalize(name, m)
	if err != nil {
		return nil, invalid(id, "%v", err)
	}
	return n, nil
}

// CloneMap returns a deep copy of a JSON-like map (nil for nil).
func CloneMap(m map[string]any) map[string]any { return valuemodel.CloneMap(m) }

// DefaultRegisterReason is the reason the deployed system gives the first
// history entry (RegisterRequest.Normalize fills it in).
const DefaultRegisterReason = "Initial registration"

// AttrCustomerID is the deployed attribute naming the customer a workset
// belongs to (kept in Workset.Attributes; ListQuery.Customer selects by it).
const AttrCustomerID = "customer_id"

// IsModeledAttribute reports whether name is an attribute the SDK manages itself
// (and so cannot appear in Workset.Attributes).
func IsModeledAttribute(name string) bool { return schema.IsModeled(name) }

// ModeledAttributes returns the sorted names of the attributes the SDK manages.
func ModeledAttributes() []string { return schema.Modeled() }
