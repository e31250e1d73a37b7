// Package rsyncd runs a real rsync daemon for tests: Start writes an
// rsyncd.conf for the given modules into a temp directory, runs
// `rsync --daemon --no-detach` on 127.0.0.1 at a free port, waits until it
// greets clients, and stops it (and every connection process it forked) at
// cleanup.
//
// The daemon is configured the way a public mirror's is: read-only, no
// chroot, nonreadable files ignored, symlinks served as they are, and, when
// the test runs as root, connections served as nobody:nogroup. That last
// part is what makes the suite honest: a staged 0750 directory is then
// invisible to clients exactly as it is on a real mirror, instead of being
// readable because the test happens to be root.
//
// Serving as nobody means nobody must be able to reach the module's path.
// Test trees live in t.TempDir(), whose parent the testing package creates
// 0700, so Start opens up (adds r-x for group and others to) every directory
// from os.TempDir() down to each module path. Directories outside
// os.TempDir() are never touched; the test must make those readable itself.
package rsyncd
