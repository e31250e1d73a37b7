// Package scan learns what a mirror really holds. A Scanner lists a mirror's
// tree over one protocol (rsync, FTP or HTTP, each in its own sub-package) as a
// stream of Entries with clean, slash-led paths; the scheduler (later in this
// package) picks protocols in the order rsync > FTP > HTTP and folds listings
// into the inventory.
//
// Listings come from hosts we do not control, so every path passes CleanPath
// before it is emitted: a listing that names "..", an absolute path or a NUL
// byte is an error, never an entry.
package scan
