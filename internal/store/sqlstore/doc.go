// Package sqlstore implements store.Store once, on database/sql, for every SQL
// backend. A backend supplies a Dialect: its driver's quirks (placeholders, how
// times and JSON travel, which errors mean a broken constraint) and its embedded
// migrations. Keeping one implementation means the backends cannot drift apart in
// behaviour, which the shared conformance suite then proves.
package sqlstore
