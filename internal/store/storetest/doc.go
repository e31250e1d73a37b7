// Package storetest is the conformance suite every store backend runs: the same
// behaviour, the same errors and the same data on SQLite and PostgreSQL. A
// backend's own test calls Run with a function that opens a fresh, empty store.
package storetest
