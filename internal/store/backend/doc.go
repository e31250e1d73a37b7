// Package backend turns a store DSN into an open store, so that callers name a
// database the way users do ("sqlite:mirrorkit.db", "postgres://…", or a bare
// path) without importing every backend themselves.
package backend
