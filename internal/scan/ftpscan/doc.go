// Package ftpscan is the FTP Scanner: it lists a mirror's tree over one FTP
// control connection and reports every file, directory and symlink the
// server shows to an anonymous (or configured) client.
//
// The walk is breadth-first and lists each directory once, after a CWD into
// it: a CWD answer tells "not there / not public" (550) apart from "empty",
// which a LIST with a path argument does not on every server (pure-ftpd
// answers "LIST missing-dir" with an empty, successful listing), and
// server-side LIST argument parsing (ls options, globbing) cannot mangle
// names with spaces or "?" in them. A directory the server refuses to enter
// is reported but its content is not: that is how a staged (0750) release
// looks to the public, and it is what a client can download.
//
// MLSD is used when the server advertises MLST in FEAT (RFC 3659: UTC times
// to the second, exact sizes, explicit types); otherwise LIST, in unix "ls
// -l" or DOS/IIS format, parsed here. Times in a LIST are taken as UTC and
// carry the precision the format allows: a minute for "Nov 20 14:05", a day
// for "Jan  2  2026". The scanner never issues per-file MDTM or SIZE
// commands: on a mirror with a million files that is a million round trips.
// With Options.ForceLIST the scanner sends "LIST -a", so that dot files
// (.treeinfo) are listed as MLSD lists them; a server without MLSD gets a
// bare LIST (the client library fixes the command at dial time), and some
// such servers hide dot files from it.
//
// Symlinks are reported as the server shows them and never followed. A
// server that shows one directory under two names (a bind mount, a server
// that follows links) is walked once per name, except under MLSD, whose
// "unique" fact (device and inode) identifies a directory already queued;
// LIST has nothing like it, so Options.MaxDepth turns an endless loop into
// an error instead of an endless scan.
//
// jlaffaye/ftp drives the protocol (login, FEAT, EPSV/PASV, RETR) but its
// listing parser silently drops lines it does not understand, and a dropped
// line would look like a file the mirror lost. So the scanner dials every
// connection itself (ftp.DialWithDialFunc), keeps the raw bytes of each
// listing's data connection, and parses them here, failing on anything it
// does not understand. The same wrapper puts an inactivity deadline on every
// read and write, control and data alike, and the scan's context closes the
// connections when it is cancelled, so no blocking call outlives it.
//
// Any failure ends the scan with an error: a listing cut short must never
// look like a complete one. That includes a listing the server itself cut
// short while answering 226: pure-ftpd stops every listing at 10000 entries
// by default and says so only in the reply text ("226 Output truncated to
// 10000 matches"), so the scanner keeps the control replies to each listing
// command (the library drops their text) and checks them, and the "226 N
// matches total" count against the lines received.
package ftpscan
