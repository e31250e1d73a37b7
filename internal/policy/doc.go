// Package policy decides which requests the redirector answers itself instead
// of redirecting: files that change in place (repository metadata such as
// repomd.xml, Release and InRelease, pacman's *.db) and files so small that a
// redirect costs the client more than the file.
//
// Package managers read an index and then fetch what it names. A mirror one
// sync behind hands out an index that does not match its packages, or a
// signature that does not match its index; serving these few small files from
// the origin keeps apt, dnf, pacman and zypper consistent (MirrorBrain's
// approach). Patterns use the same rsync-style syntax as catalog excludes.
package policy
