// Package schedule runs scans: it lists each mirror over the best protocol it
// offers, folds the listing into the inventory, reads the mirror's trace file,
// records the scan, and persists the mirror's holdings so a restart starts from
// what is known. A Scheduler repeats that for every mirror on an interval with
// jitter, bounded concurrency and backoff for failing mirrors.
//
// The rule that shapes it: a failed, timed-out or truncated scan never changes
// what the inventory says a mirror holds. Only a listing that completed
// replaces a mirror's column, and it replaces it whole.
package schedule
