// Package valuemodel checks and normalises the JSON-like values of Metadata,
// Metrics and Attributes (see workset.Workset), the same on every store. Its
// errors are plain descriptions; callers wrap them as ErrInvalidInput.
package valuemodel

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
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
	// MaxDepth is DynamoDB's nesting limit: the attribute itself counts
	// as the first level.
	MaxDepth = 32
	// MaxBytes bounds the JSON size of one request's Metadata, Metrics
	// and Attributes together, well inside DynamoDB's 400 KB item limit.
	MaxBytes = 300 << 10
)

// Normalize checks m against the value model and returns a normalised deep
// copy (numbers as float64). name is the field it came from, for errors.
func Normalize(name string, m map[string]any) (map[string]any, error) {
	if m == nil {
		return nil, nil
	}
	v, err := normalizeValue(name, m, 1)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func normalizeValue(path string, v any, depth int) (any, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%s is nested deeper than %d levels", path, MaxDepth)
	}
	switch t := v.(type) {
	case nil, bool:
		return t, nil
	case string:
		if !utf8.ValidString(t) {
			return nil, fmt.Errorf("%s is not valid UTF-8", path)
		}
		return t, nil
	case float64:
		return checkFloat(path, t)
	case float32:
		return checkFloat(path, float64(t))
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
			return nil, fmt.Errorf("%s: %q is not a number", path, t)
		}
		return checkFloat(path, f)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeValue(fmt.Sprintf("%s[%d]", path, i), e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			n, err := normalizeValue(fmt.Sprintf("%s[%d]", path, i), e, depth+1)
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
				return nil, fmt.Errorf("%s has a key that is not valid UTF-8", path)
			}
			n, err := normalizeValue(path+"."+k, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[string]string:
		out := make(map[string]any, len(t))
		for k, e := range t {
			n, err := normalizeValue(path+"."+k, e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s is a %T; values must be JSON-like (nil, bool, number, string, []any, map[string]any)", path, v)
	}
}

func checkFloat(path string, f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s is %v, which no store can keep", path, f)
	}
	return f, nil
}

// NormalizeFields normalises the value-model fields of one request in place
// and checks their total size.
func NormalizeFields(fields map[string]*map[string]any) error {
	size := 0
	for name, p := range fields {
		n, err := Normalize(name, *p)
		if err != nil {
			return err
		}
		*p = n
		if n != nil {
			b, err := json.Marshal(n)
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			size += len(b)
		}
	}
	if size > MaxBytes {
		return fmt.Errorf("metadata, metrics and attributes take %d bytes (max %d)", size, MaxBytes)
	}
	return nil
}

// Numbers puts a value into the value model's normal form (numbers as
// float64), so that records written before the model was enforced, or by other
// tools, compare by value; a value outside the model is returned as it is.
func Numbers(m map[string]any) any {
	if m == nil {
		return nil
	}
	if n, err := normalizeValue("", m, 1); err == nil {
		return n
	}
	return m
}

// CloneMap returns a deep copy of a JSON-like map (nil for nil).
func CloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = cloneValue(v)
	}
	return c
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return CloneMap(t)
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = cloneValue(e)
		}
		return c
	case []byte:
		return slices.Clone(t)
	default:
		return v
	}
}
