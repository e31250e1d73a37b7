// Package store defines how mirrorkit persists its state, as one interface that
// every backend implements: store/sqlite (embedded, the default) and
// store/postgres (shared by many processes). Both are built on store/sqlstore, so
// they differ only in driver, dialect and migrations, and both must pass the one
// conformance suite in store/storetest.
//
// A store is not on the redirect hot path: services load what they need into
// memory and keep working when the store goes away.
package store
