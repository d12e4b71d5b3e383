package workset

import (
	"unicode"
	"unicode/utf8"
)

// MaxIDLength is the longest workset ID accepted, in bytes.
const MaxIDLength = 255

// ValidateID checks a workset ID. IDs become S3 key segments and DynamoDB keys, so
// an ID must be non-empty valid UTF-8 of at most MaxIDLength bytes, must not be "."
// or "..", and must not contain '/', '\\' or control characters. The error matches
// ErrInvalidInput and names the problem.
func ValidateID(id string) error {
	switch {
	case id == "":
		return invalid("workset ID is empty")
	case len(id) > MaxIDLength:
		return invalid("workset ID is %d bytes long (max %d)", len(id), MaxIDLength)
	case id == "." || id == "..":
		return invalid("workset ID %q is a path step", id)
	case !utf8.ValidString(id):
		return invalid("workset ID %q is not valid UTF-8", id)
	}
	for _, r := range id {
		switch {
		case r == '/' || r == '\\':
			return invalid("workset ID %q contains %q", id, r)
		case unicode.IsControl(r):
			return invalid("workset ID %q contains control character %U", id, r)
		}
	}
	return nil
}
