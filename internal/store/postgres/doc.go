// Package postgres is the shared store backend: many redirector, scanner and
// admin processes on several machines use one PostgreSQL database. Migrations
// run under an advisory lock, so processes that start together apply them once.
package postgres
