// Package sqlite is the embedded store backend: one file, pure Go (no cgo), WAL
// mode so readers never wait for the writer, and a busy timeout so concurrent
// writers queue instead of failing. It is the default for a single-machine
// network.
package sqlite
