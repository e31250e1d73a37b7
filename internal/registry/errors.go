package registry

import (
	"errors"
	"strings"
)

// FieldError says which field of a site or mirror is wrong and why. Field is the
// field's JSON name ("country", "urls.https", "rules.extra_countries").
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errors collects every problem found in one value, so a user fixes them all in
// one round instead of one per attempt.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Fields returns the names of the fields with problems, in order.
func (es Errors) Fields() []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Field
	}
	return out
}

func (es *Errors) add(field, msg string) { *es = append(*es, &FieldError{Field: field, Msg: msg}) }

func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// IsInvalid reports whether err is (or wraps) a validation failure.
func IsInvalid(err error) bool {
	var fe *FieldError
	var es Errors
	return errors.As(err, &fe) || errors.As(err, &es)
}

// Invalid builds a one-field validation error, for checks that need the store
// (unknown site, duplicate name) and so cannot live in Validate.
func Invalid(field, msg string) error { return Errors{{Field: field, Msg: msg}} }
