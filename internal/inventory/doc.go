// Package inventory is the in-memory answer to "which mirrors hold the current
// version of this file": the question every redirect asks, so it is answered
// from memory without locks or allocation.
//
// Layout: every mirror gets a dense slot; every catalog file a row of
// ceil(slots/64) words whose bit s says "the mirror in slot s holds this file's
// current version". 300 mirrors cost 40 bytes per file, against Mirrorbits'
// ~370 bytes per (file, mirror) pair. Lookup is a map probe and a slice of that
// row.
//
// Consistency: the whole state is an immutable Snapshot behind an atomic
// pointer. Writers (a catalog change, a scan's new column for one or more
// mirrors) build the next snapshot and publish it in one store, so a reader
// sees a mirror's column either entirely before or entirely after a scan.
// Rows and file tables are copied on write; scans are minutes apart, so one
// copy per commit is cheap next to what it buys: readers that never wait.
//
// Versions: a file counts for a mirror only while the mirror's copy matches
// the catalog's size and mtime. When the catalog changes a file, its row is
// cleared, and a scan that started before the change cannot set bits for it
// (each file remembers the catalog generation that last changed it).
package inventory
