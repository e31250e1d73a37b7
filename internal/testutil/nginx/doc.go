// Package nginx runs a throw-away Debian nginx for tests that need a real web
// server: the HTTP scanner reads real autoindex pages (HTML and JSON) from it,
// so format quirks (truncated names, escaping, time formats) are what nginx
// really emits, not what a fake thinks it emits.
//
// Start writes a minimal nginx.conf into a temp directory (no include of
// /etc/nginx, so the host's configuration cannot leak in), runs nginx in the
// foreground as a child of the test, waits until it answers, and stops it at
// cleanup, checking that the master and its workers are gone.
//
// When the test runs as root, the workers run as nobody:nogroup, like a public
// mirror's, so a 0750 directory owned by root is invisible to them (403). For
// that to work the served root must be reachable by nobody: t.TempDir()
// creates its parent 0700, so Start adds search permission for group and
// others (g+x,o+x; g+rx,o+rx on the root itself) to every directory between
// the system temp dir and the root, and refuses to change permissions
// outside the system temp dir. Only those bits are added: a 0750 directory
// inside the tree stays closed, which is the point.
//
// With the AccessLog option every request is logged as "METHOD URI STATUS",
// so a test can check what reached the server, not just what a client
// claims it sent.
package nginx
