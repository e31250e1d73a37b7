// Package release performs the bit flip on a mirror: it makes staged
// content (directories a sync brought in with mode 0750, files 0640) world
// readable at the moment of a release, now or at a scheduled time.
//
// Mirrors receive a release days before it is public. The content arrives
// non-world-readable, so that the public HTTP and rsync servers, which run
// as unprivileged users, cannot serve it, while an access-controlled rsync
// module can already pass it to downstream mirrors. On release day the
// permissions change: that is the bit flip. The seeds do it with
// `echo chmod a+rx DIR | at TIME`; Flip is `chmod -R a+rX` done in an order
// that never shows a half-flipped tree, and Scheduler replaces at(1) with a
// small state file that `mirrorkit release status` can show.
//
// Order matters. A directory's "x for others" bit is what lets the public
// reach what is inside it, so Flip works bottom-up: every file and
// subdirectory first, each directory only after its whole content, the
// directory named last of all. At every moment either the named directory
// is still closed, or everything under it is already open. An interrupted
// flip therefore leaves the content invisible, and running it again
// completes it: Flip is idempotent.
//
// Paths are resolved with os.Root, one directory at a time, so neither
// "..", an absolute symlink nor a symlink swapped in during the flip can
// make it change permissions outside the tree (or, below the named
// directory, outside the subtree being flipped). Symlinks are never
// chmodded and never followed; a symlink named as the target is refused.
package release
