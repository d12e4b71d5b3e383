package workset

import (
	"unicode"
	"unicode/utf8"
)

// MaxIDLength is the longest workset ID accepted, in bytes.
const MaxIDLength = 255

// ValidateID checks a workset ID: the one rule every store, the HTTP API and the
// CLI apply. IDs become S3 key segments, DynamoDB keys and URL path segments, and
// people read them, so an ID must be non-empty valid UTF-8 of at most MaxIDLength
// bytes, must not be "." or "..", must not start or end with whitespace, and must
// not contain '/', '\\', control characters, line or paragraph separators,
// whitespace other than the plain space, or invisible formatting characters
// (zero-width spaces and joiners, bidirectional overrides, the byte-order mark).
// The error matches ErrInvalidInput and names the rule that failed.
func ValidateID(id string) error {
	switch {
	case id == "":
		return invalid("", "workset ID is empty")
	case len(id) > MaxIDLength:
		return invalid("", "workset ID is %d bytes long (max %d)", len(id), MaxIDLength)
	case id == "." || id == "..":
		return invalid("", "workset ID %q is a path step", id)
	case !utf8.ValidString(id):
		return invalid("", "workset ID %q is not valid UTF-8", id)
	}
	first, _ := utf8.DecodeRuneInString(id)
	last, _ := utf8.DecodeLastRuneInString(id)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return invalid("", "workset ID %q starts or ends with whitespace", id)
	}
	for _, r := range id {
		switch {
		case r == '/' || r == '\\':
			return invalid("", "workset ID %q contains %q", id, r)
		case unicode.IsControl(r):
			return invalid("", "workset ID %q contains control character %U", id, r)
		case unicode.In(r, unicode.Zl, unicode.Zp):
			return invalid("", "workset ID %q contains line or paragraph separator %U", id, r)
		case unicode.IsSpace(r) && r != ' ':
			return invalid("", "workset ID %q contains whitespace %U other than a plain space", id, r)
		case unicode.Is(unicode.Cf, r):
			return invalid("", "workset ID %q contains invisible formatting character %U (zero-width or bidirectional control)", id, r)
		}
	}
	return nil
}
