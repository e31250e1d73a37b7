package fileserver

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// errNotServed is every reason a path is not served: missing, staged, a
// temporary file, a symlink out of the tree or into staged content, a special
// file. The client gets one and the same 404 for all of them, so it cannot
// tell staged content from missing content.
var errNotServed = errors.New("not served")

// maxSymlinks bounds symlink hops while resolving one path, as the kernel's
// ELOOP does.
const maxSymlinks = 40

// Permission bits the public needs: read on files, read and search on
// directories. The test is on "other", whoever the server runs as: a
// server running as the sync user could read staged (0750) content, and
// must still not serve it.
const (
	fileBits fs.FileMode = 0o004
	dirBits  fs.FileMode = 0o005
)

// node is what a request path resolves to.
type node struct {
	rel  string      // clean slash-led path of the object, symlinks resolved
	info fs.FileInfo // the object itself (never a symlink)
	dir  *os.Root    // a directory, when opened; let go by close
	ent  *cachedDir  // dir's cache entry, when it is borrowed from the cache
	file *os.File    // a regular file, when opened
	s    *Server
}

func (n *node) close() {
	if n.file != nil {
		n.file.Close()
	}
	switch {
	case n.ent != nil:
		n.s.dirs.release(n.ent)
	case n.dir != nil && n.dir != n.s.root:
		n.dir.Close()
	}
}

// resolve walks the clean slash-led path p one segment at a time, from the
// tree's root, through os.Root handles, so nothing outside the tree is ever
// opened. On the way it checks what os.Root alone cannot: that every
// directory is world-readable and searchable, that no segment is a
// temporary or hidden name, and, for a symlink, that its target (resolved
// here, lexically, against directories already known to be real) stays in the
// tree and passes the same checks. With open, the final file or directory is
// returned open; otherwise only its info.
func (s *Server) resolve(p string, open bool) (*node, error) {
	hops := 0
	now := s.now()
restart:
	cur, curEnt := s.root, (*cachedDir)(nil) // curEnt: cur is borrowed from the cache
	closeCur := func() {
		switch {
		case curEnt != nil:
			s.dirs.release(curEnt)
		case cur != s.root:
			cur.Close()
		}
	}
	done := "" // the resolved prefix, relative: "" or "a/b"
	dirInfo := s.rootInfo
	rest := strings.TrimPrefix(p, "/")
	// Start from the request's directory when it was walked a moment ago.
	if i := strings.LastIndexByte(rest, '/'); i > 0 {
		if d := s.dirs.get(rest[:i], now); d != nil {
			cur, curEnt, done, dirInfo, rest = d.root, d, d.rel, d.info, rest[i+1:]
		}
	}
	for rest != "" {
		seg, tail, _ := strings.Cut(rest, "/")
		rest = tail
		if seg == "" {
			continue
		}
		if s.hiddenName(seg) {
			closeCur()
			return nil, errNotServed
		}
		fi, err := cur.Lstat(seg)
		if err != nil {
			closeCur()
			return nil, errNotServed
		}
		rel := seg
		if done != "" {
			rel = done + "/" + seg
		}
		switch mode := fi.Mode(); {
		case mode&fs.ModeSymlink != 0:
			hops++
			target, err := cur.Readlink(seg)
			closeCur()
			if err != nil || hops > maxSymlinks {
				return nil, errNotServed
			}
			joined, ok := s.symlinkTarget(done, target)
			if !ok {
				return nil, errNotServed
			}
			p = joined + "/" + tail
			goto restart
		case mode.IsDir():
			if mode.Perm()&dirBits != dirBits {
				closeCur()
				return nil, errNotServed
			}
			if strings.Trim(tail, "/") == "" && !open {
				closeCur()
				return &node{rel: "/" + rel, info: fi, s: s}, nil
			}
			sub, err := cur.OpenRoot(seg)
			closeCur()
			if err != nil {
				return nil, errNotServed
			}
			cur, curEnt, done, dirInfo = sub, s.dirs.put(rel, sub, fi, now), rel, fi
		case mode.IsRegular():
			if strings.Trim(tail, "/") != "" || mode.Perm()&fileBits == 0 {
				closeCur()
				return nil, errNotServed
			}
			if !open {
				closeCur()
				return &node{rel: "/" + rel, info: fi, s: s}, nil
			}
			// O_NONBLOCK spares os four fcntl calls per open (a regular
			// file ignores it), and a file swapped for a FIFO since the
			// Lstat cannot block the open.
			f, err := cur.OpenFile(seg, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			closeCur()
			if err != nil {
				return nil, errNotServed
			}
			// The open file is the authority: the name may have been
			// replaced between Lstat and Open.
			st, err := f.Stat()
			if err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&fileBits == 0 {
				f.Close()
				return nil, errNotServed
			}
			return &node{rel: "/" + rel, info: st, file: f, s: s}, nil
		default: // devices, sockets, FIFOs
			closeCur()
			return nil, errNotServed
		}
	}
	// p named a directory (or the root).
	n := &node{rel: "/" + done, info: dirInfo, s: s}
	if open {
		n.dir, n.ent = cur, curEnt
	} else {
		closeCur()
	}
	return n, nil
}

// symlinkTarget resolves a symlink found in the directory dir (relative,
// already free of symlinks) to a path relative to the tree, or says it leaves
// the tree. An absolute target is accepted when it points into the tree's
// real location; ".." is resolved lexically, which is exact because every
// directory in dir is real.
func (s *Server) symlinkTarget(dir, target string) (string, bool) {
	if target == "" {
		return "", false
	}
	if path.IsAbs(target) {
		rel, ok := strings.CutPrefix(path.Clean(target), s.rootReal)
		if !ok || (rel != "" && rel[0] != '/') {
			return "", false
		}
		return path.Clean("/" + rel), true
	}
	j := path.Join(dir, target)
	if j == ".." || strings.HasPrefix(j, "../") {
		return "", false
	}
	if j == "." {
		return "/", true
	}
	return "/" + j, true
}
