// Package rsyncd serves a mirror tree over rsync: it generates rsyncd.conf
// from a Config and runs the real `rsync --daemon --no-detach` as a
// supervised child.
//
// Mirror operators write rsyncd.conf by hand today, and the usual mistakes
// (the seeds list them) are all easy to make and hard to notice: a writable
// module, no connection limit, checksum runs allowed to the public, uid/gid
// left at the sync agent's user so that the public sees staged content before
// its bit flip. Generating the file from a validated Config removes that
// class of error, and keeps the file reviewable: Generate is deterministic,
// so `mirrorkit serve rsyncd-conf` prints exactly what the daemon will read.
//
// Every value that reaches the file is validated, because the file is a
// configuration-injection surface: a newline in a comment, a ']' in a
// module name, a trailing backslash (rsync's line continuation) or a
// %VAR% reference (rsync expands environment variables in values) would
// otherwise let a hostile value add a module or an option. FuzzGenerate
// checks that no input can.
//
// Staged content (mode 0750, see package release) must stay invisible to
// the public yet reach downstream mirrors before the bit flip. The public
// modules therefore run as an unprivileged user (uid/gid, honoured when the
// daemon starts as root) with "ignore nonreadable", and an optional private
// module, guarded by "hosts allow" and/or "auth users" with a generated
// secrets file, runs as a user that can read staged content, either as a
// second module of the same daemon or, as the Fedora seed does on port 874,
// in a second daemon of its own.
//
// The Supervisor runs one rsync process per daemon in its own process group
// (so that the per-connection processes rsync forks are stopped with it),
// restarts it with capped exponential backoff when it dies, reports
// readiness once the daemon greets a client with "@RSYNCD:", and stops
// everything, SIGTERM then SIGKILL, when its context ends. A reload rewrites
// the files without signalling rsync: rsync re-reads rsyncd.conf for every
// connection, and SIGHUP terminates a --no-detach daemon (rsync 3.x exits
// with code 20), so signalling would only drop the listener.
package rsyncd
