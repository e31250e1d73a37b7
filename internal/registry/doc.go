// Package registry defines what a mirror network knows about its members: sites
// (the organisations that run mirrors) and mirrors (the hosts that serve a copy of
// the origin), with the validation rules every write must pass.
//
// The package is pure: no I/O, no clock, no SQL. Stores persist these types and
// call Validate before every write, so a value that reaches a store from the CLI,
// an import file or a future API is checked by the same code. Every rejection is a
// FieldError that names the offending field with its JSON name, so messages read
// the same in the CLI, in logs and in API answers.
//
// Private data (site and mirror notes, the report-token hash) lives on the same
// types; Redacted returns the copy that may be shown to anyone.
package registry
