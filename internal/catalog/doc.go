// Package catalog is the origin's file list: what the publisher offers, with
// the facts every other part checks against (size, mtime, type, mode, symlink
// target, hardlink group, staged or public) and content hashes for metalinks
// and digest headers.
//
// Build walks a local tree and hashes regular files in parallel, reading each
// file once for all requested algorithms. A rebuild passes the previous
// entries as a cache: a file whose device, inode, size and mtime are
// unchanged keeps its hashes, so an unchanged tree costs one stat per file.
// Diff compares two builds.
package catalog
