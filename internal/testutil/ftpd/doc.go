// Package ftpd runs a throw-away Debian pure-ftpd for tests that need a real
// FTP server: the FTP scanner reads real MLSD and LIST output from it, so the
// format quirks it handles are the ones pure-ftpd really has.
//
// Start runs pure-ftpd in the foreground (never -B: it must stay our child so
// it can be stopped by PID) on 127.0.0.1 with a free control port and a range
// of free passive ports, read-only, and waits until it sends its 220 banner.
// Stop (also run at cleanup) kills its process group, which holds the
// per-session processes pure-ftpd forks, and checks that all are gone.
//
// Anonymous access. pure-ftpd serves anonymous clients from the home
// directory of the "ftp" system account, a single host-wide setting; the
// host may not even have that account. Start gives each server its own:
// pure-ftpd runs in a private mount namespace (CLONE_NEWNS, made private by
// the Go runtime) in which a copy of /etc/passwd is bind-mounted over the
// real one, with an "ftp" entry whose home is the served root and whose uid
// and gid are nobody's (65534). The host's /etc/passwd is never changed and
// the mount dies with the server. This needs root, as pure-ftpd itself does
// to chroot and drop privileges; without root Start skips (fails under
// CI=true).
//
// The server keeps pure-ftpd's default listing cap (10000 entries per
// listing, reported only in the 226 text), as a mirror left at defaults
// would, so tests can check that scanners notice it.
//
// Without WithUser the server runs anonymous-only (-e), and then pure-ftpd
// logs any user name in as anonymous rather than refusing it.
//
// Virtual user. WithUser adds a puredb virtual user (pure-pw useradd, then
// pure-pw mkdb, both on files in the test's temp dir), also mapped to
// nobody, chrooted to the root. pure-pw hashes with argon2id at a high cost,
// so that user's logins take about two seconds.
//
// For failure tests, Stop ends the server at any time and Freeze stops it
// (SIGSTOP) with its connections open; WithBind mounts a directory over
// another inside the server's namespace only, to make the server show one
// directory under two names.
//
// Like a public mirror, sessions run as nobody, so a 0750 root-owned
// directory in the tree is refused (550) and its content never served. For
// nobody to reach the tree at all, Start adds search permission (o+x, and
// o+rx on the root itself) to every directory between the system temp dir
// and the root: t.TempDir() creates its parent 0700. It refuses to change
// permissions outside the system temp dir.
package ftpd
