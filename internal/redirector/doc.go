// Package redirector answers download requests: for a file of the catalog it
// redirects the client to the best mirror that holds the current version
// (package selection decides), tells it the next best ones (RFC 6249 Link
// headers) and the file's digest (RFC 3230/9530), serves repository metadata
// and tiny files from the origin itself (package policy), and falls back to
// the origin or configured fallback mirrors when no mirror qualifies.
//
// The hot path reads only memory: an immutable State (selection table,
// inventory snapshot, digests) swapped atomically when the registry, mirror
// state or inventory change. A redirect never waits for the store.
//
// Safety: the only redirect targets are registered mirror base URLs plus the
// normalised path; request paths with "..", encoded traversal, NUL or invalid
// UTF-8 are refused with 400; staged files answer 404 exactly like missing
// ones; files served locally never leave the origin tree.
package redirector
