// Package rsyncscan is the rsync Scanner: it learns what a mirror holds by
// running the real rsync client against the mirror's daemon with
// --list-only, and streams the listing into scan.Entries as rsync prints it.
//
// rsync is the protocol scanners prefer because its listing is complete and
// exact: byte-exact names, exact sizes (a 4 GiB ISO included), mtimes to the
// second, and symlinks shown as symlinks. A partial mirror is listed in one
// rsync run, with filter rules that keep its prefixes and the directories
// leading to them, so the mirror is asked for no more than we want from it.
//
// A listing is only believed when rsync finished it: an rsync that exits
// non-zero, is killed or whose output stops mid-line fails the scan, and the
// error wraps the scan package's sentinel (ErrUnreachable, ErrAuth,
// ErrTruncated, ErrBadListing) as well as the *rsync.ExitError with rsync's
// exit code and last words.
package rsyncscan
