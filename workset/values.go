package workset

import (
	"encoding/json"
	"fmt"
	"math"
	"unicode/utf8"
)

// The value model of Metadata, Metrics and Attributes: JSON-like values, the
// same on every store. A value is nil, a bool, a number, a string, a list
// ([]any) or a map with string keys (map[string]any). Numbers are kept as
// float64 everywhere (what DynamoDB and JSON give back), so a value reads the
// same from every store and compares equal after a migration. Anything else (a
// func, a channel, a time.Time, a struct) is refused with ErrInvalidInput
// naming its path, as are NaN and infinities, strings that are not UTF-8,
// documents nested deeper than DynamoDB allows, and values too large for an item.
const (
	// MaxValueDepth is DynamoDB's nesting limit: the attribute itself counts
	// as the first level.
	MaxValueDepth = 32
	// MaxValueBytes bounds the JSON size of one request's Metadata, Metrics
	// and Attributes together, well inside DynamoDB's 400 KB item limit.
	MaxValueBytes = 300 << 10
)

// NormalizeValues checks m against the value model and returns a normalised
// deep copy (numbers as float64). name is the field it came from, for errors.
func NormalizeValues(id, name string, m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	v, err := normalizeValue(id, name, m, 1)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func normalizeValue(id, path string, v any, depth int) (any, error) {
	if depth > MaxValueDepth {
		return nil, invalid("workset %s: %s is nested deeper than %d levels", id, path, MaxValueDepth)
	}
	switch t := v.(type) {
	case nil, bool:
		return t, nil
	case string:
		if !utf8.ValidString(t) {
			return nil, invalid("workset %s: %s is not valid UTF-8", id, path)
		}
		return t, nil
	case float64:
		return checkFloat(id, path, t)
	case float32:
		return checkFloat(id, path, float64(t))
	case int:
		return float64(t), nil
	case int8:
		return float64(t), nil
	case int16:
		return float64(t), nil
	case int32:
		return float64(t), nil
	case int64:
		return float64(t), nil
	case uint:
		return float64(t), nil
	case uint8:
		return float64(t), nil
	case uint16:
		return float64(t), nil
	case uint32:
		return float64(t), nil
	case uint64:
		return float64(t), nil
	case json.Number:
		f, err := t.Float64()
		if err != nil {
			return nil, invalid("workset %s: %s: %q is not a number", id, path, t)
		}
		return checkFloat(id, path, f)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeValue(id, fmt.Sprintf("%s[%d]", path, i), e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeValue(id, fmt.Sprintf("%s[%d]", path, i), e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if !utf8.ValidString(k) {
				return nil, invalid("workset %s: %s has a key that is not valid UTF-8", id, path)
			}
			n, err := normalizeValue(id, path+"."+k, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalizeValue(id, path+"."+k, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	default:
		return nil, invalid("workset %s: %s is a %T; values must be JSON-like (nil, bool, number, string, []any, map[string]any)", id, path, v)
	}
}

func checkFloat(id, path string, f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, invalid("workset %s: %s is %v, which no store can keep", id, path, f)
	}
	return f, nil
}

// normalizeFields normalises the value-model fields of one request in place
// and checks their total size.
func normalizeFields(id string, fields map[string]*map[string]any) error {
	size := 0
	for name, p := range fields {
		n, err := NormalizeValues(id, name, *p)
		if err != nil {
			return err
		}
		*p = n
		if n != nil {
			b, err := json.Marshal(n)
			if err != nil {
				return invalid("workset %s: %s: %v", id, name, err)
			}
			size += len(b)
		}
	}
	if size > MaxValueBytes {
		return invalid("workset %s: metadata, metrics and attributes take %d bytes (max %d)", id, size, MaxValueBytes)
	}
	return nil
}
