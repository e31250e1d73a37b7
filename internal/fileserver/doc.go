// Package fileserver is a mirror's HTTP(S) server: it serves one mirror tree
// the way the mirror seeds ask of a public download mirror, so an operator
// does not have to get nginx or Apache right by hand.
//
// # Why it looks the way it does
//
// Staged content must be invisible. Content waiting for its release sits in
// the tree with mode 0750 until the bit flip. A server that relied on the
// kernel would show it when it happens to run as the sync user, so the
// decision is made on the permission bits for "other", whoever we run as:
// a file needs o+r, every directory on the way o+r and o+x. Paths are
// resolved here one segment at a time, through os.Root handles, so each
// directory's bits are checked, symlinks are followed by us (their targets
// pass the same checks, and a target that leaves the tree ends the walk), and
// nothing outside the tree is ever opened even if a name changes under us.
// Everything that is not served (missing, staged, rsync's temporary names, a
// symlink out of the tree, a FIFO) gets the very same 404, headers included,
// so a client cannot probe for staged releases. Listings leave out exactly
// what GET refuses.
//
// Files go out by sendfile. http.ServeContent does conditional requests and
// ranges and copies an *os.File through the ResponseWriter's ReadFrom down to
// the connection's, which is sendfile(2) on a *net.TCPConn. Every wrapper on
// that path (the response recorder, the counting connection) keeps ReadFrom
// for that reason; the counting connection sends in 2 MiB sendfile chunks (nginx's
// sendfile_max_chunk)
// so its send timeout measures progress rather than the whole download.
//
// Small files go out in one write, often from memory. Repository metadata,
// signatures and small packages are most of a mirror's requests; for them
// the walk and a header write plus a sendfile cost more than the bytes. A
// file up to 16 KiB is read into memory, its headers and body leave in one
// write (the connection holds net/http's writes until the handler ends),
// and for OpenCacheTTL (1 s) its content and answer headers, and the
// directories on its way, stay ready. That is nginx's open_file_cache trade:
// what is replaced or hidden is served as it was for up to a second, and
// nothing is cached negatively, so a bit flip shows at once.
//
// The common request skips net/http. On plain HTTP, a
// keep-alive GET or HEAD of a small file in memory, with nothing in it that
// could change the answer, is parsed and answered by the fast path (fast.go)
// with the very headers net/http's path would send; any other request hands
// the connection, and the bytes already read, to net/http. net/http's
// per-request cost is most of a small answer's; nginx does not pay it.
//
// Bytes in the log are the connection's. The Fedora seed wants mod_logio's
// %I and %O: bytes really received and sent, headers included, also for a
// download the client broke off. We count on the connection, below TLS. On
// HTTP/1 requests on one connection are sequential, so a request's %I is
// what was read by the time its handler starts, and its %O what was written
// by the time net/http reports the connection idle (or closed), which is
// after the last byte left; the log line is written then, from the
// ConnState hook. HTTP/2 multiplexes streams on one connection, so there the
// line is written by the handler with sizes computed from the header fields
// and the body actually sent.
//
// Download accelerators are limited where they hurt. The per-IP cap counts
// open connections at accept time; the one over the cap is not dropped
// silently (clients retry a reset at once) but answered with one 503 and
// Retry-After and closed, what mod_limitipconn does, and what accelerators
// understand as "fewer connections". For patterns in NoRange a ranged request
// gets the whole file with 200 and "Accept-Ranges: none": RFC 9110 lets a
// server ignore Range, and every accelerator falls back to one connection
// on it, whereas a 403 or 416 makes them retry or fail the download.
//
// Everything an operator may want to change is in Config, whose
// DefaultConfig is the only place defaults live; metrics go to a Registerer
// the caller passes, so two Servers in one process (tests) do not collide.
package fileserver
