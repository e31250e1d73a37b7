// Package synctest holds what the sync agent's tests (and later the CLI's)
// need to judge a mirror tree: a snapshot of a tree that can be compared
// with another (types, modes, sizes, content hashes, link targets, hard-link
// groups), a fake distribution that changes version by version and whose
// repository metadata references its packages by size and hash, and a
// checker for the agent's invariant at one instant: nothing visible is
// partially written, and no visible index references a file that is not
// there.
package synctest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Entry is one file, directory or symlink of a Snapshot.
type Entry struct {
	Path string // slash-separated, relative to the root; the root is "."
	// Type is 'f' (regular file), 'd' (directory), 'l' (symlink) or '?'.
	Type byte
	// Perm holds the permission, setuid, setgid and sticky bits.
	Perm    fs.FileMode
	Size    int64
	SHA256  string    // files only
	Target  string    // symlinks only
	ModTime time.Time // files only (directory times move with every write)
	// Links lists every path of the file's hard-link group (sorted),
	// when it has more than one inside the tree.
	Links []string
}

// Tree is a snapshot: path → entry.
type Tree map[string]Entry

// Ignore says whether a path (slash-separated, relative) is left out of a
// snapshot; a directory left out is not descended into.
type Ignore func(rel string, d fs.DirEntry) bool

// RsyncTemp ignores rsync's transient names: the --delay-updates directory
// ".~tmp~" and temporary files ".NAME.XXXXXX".
func RsyncTemp(rel string, d fs.DirEntry) bool {
	base := path.Base(rel)
	if base == ".~tmp~" {
		return true
	}
	return IsTempName(base)
}

// IsTempName reports rsync's (and the agent's) temporary-file names:
// ".NAME.SUFFIX" with a 6-character (rsync) or all-digit (os.CreateTemp)
// suffix.
func IsTempName(base string) bool {
	if !strings.HasPrefix(base, ".") || len(base) < 4 {
		return false
	}
	i := strings.LastIndexByte(base, '.')
	if i <= 1 {
		return false
	}
	suf := base[i+1:]
	if len(suf) == 6 && isAlnum(suf) {
		return true
	}
	return len(suf) >= 6 && isDigits(suf)
}

func isAlnum(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Snapshot walks root and records every entry not ignored.
func Snapshot(root string, ignore Ignore) (Tree, error) {
	t := Tree{}
	type ino struct{ dev, ino uint64 }
	groups := map[ino][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && ignore != nil && ignore(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		e := Entry{Path: rel, Perm: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch {
		case fi.Mode().IsRegular():
			e.Type, e.Size, e.ModTime = 'f', fi.Size(), fi.ModTime().Truncate(time.Second)
			if e.SHA256, err = HashFile(p); err != nil {
				return err
			}
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				k := ino{uint64(st.Dev), st.Ino}
				groups[k] = append(groups[k], rel)
			}
		case fi.IsDir():
			e.Type = 'd'
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Type, e.Perm = 'l', 0
			if e.Target, err = os.Readlink(p); err != nil {
				return err
			}
		default:
			e.Type = '?'
		}
		t[rel] = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, paths := range groups {
		if len(paths) < 2 {
			continue
		}
		sort.Strings(paths)
		for _, p := range paths {
			e := t[p]
			e.Links = paths
			t[p] = e
		}
	}
	return t, nil
}

// HashFile returns a file's SHA-256 in hex.
func HashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Without returns a copy of t without the given paths.
func (t Tree) Without(paths ...string) Tree {
	c := make(Tree, len(t))
	for k, v := range t {
		if !slices.Contains(paths, k) {
			c[k] = v
		}
	}
	// Hard-link groups shrink with the removed paths.
	for k, v := range c {
		if len(v.Links) > 0 {
			var l []string
			for _, p := range v.Links {
				if _, ok := c[p]; ok {
					l = append(l, p)
				}
			}
			if len(l) < 2 {
				l = nil
			}
			v.Links = l
			c[k] = v
		}
	}
	return c
}

// SafeLinksOnly drops the symlinks rsync's --safe-links skips: absolute
// targets and targets that climb above the tree's root.
func (t Tree) SafeLinksOnly() Tree {
	var unsafe []string
	for p, e := range t {
		if e.Type == 'l' && UnsafeLink(p, e.Target) {
			unsafe = append(unsafe, p)
		}
	}
	return t.Without(unsafe...)
}

// UnsafeLink is rsync's rule (util1.c unsafe_symlink): a target is unsafe
// when it is absolute or, read from the link's directory, ever climbs
// above the transfer's root.
func UnsafeLink(linkPath, target string) bool {
	if target == "" || strings.HasPrefix(target, "/") {
		return true
	}
	depth := strings.Count(linkPath, "/")
	for _, el := range strings.Split(target, "/") {
		switch el {
		case "..":
			depth--
			if depth < 0 {
				return true
			}
		case ".", "":
		default:
			depth++
		}
	}
	return false
}

// Diff lists how got differs from want, one line per difference (nil when
// equal): missing and extra entries, type, mode, size, content, link
// target, mtime and hard-link group.
func Diff(want, got Tree) []string {
	var out []string
	keys := make([]string, 0, len(want)+len(got))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		w, inW := want[k]
		g, inG := got[k]
		switch {
		case !inG:
			out = append(out, fmt.Sprintf("%s: missing (%c)", k, w.Type))
			continue
		case !inW:
			out = append(out, fmt.Sprintf("%s: unexpected (%c)", k, g.Type))
			continue
		}
		if w.Type != g.Type {
			out = append(out, fmt.Sprintf("%s: type %c, want %c", k, g.Type, w.Type))
			continue
		}
		if w.Perm != g.Perm {
			out = append(out, fmt.Sprintf("%s: mode %v, want %v", k, g.Perm, w.Perm))
		}
		switch w.Type {
		case 'f':
			if w.Size != g.Size || w.SHA256 != g.SHA256 {
				out = append(out, fmt.Sprintf("%s: content %d bytes %.12s, want %d bytes %.12s", k, g.Size, g.SHA256, w.Size, w.SHA256))
			}
			if !w.ModTime.Equal(g.ModTime) {
				out = append(out, fmt.Sprintf("%s: mtime %v, want %v", k, g.ModTime, w.ModTime))
			}
			if !slices.Equal(w.Links, g.Links) {
				out = append(out, fmt.Sprintf("%s: hard links %v, want %v", k, g.Links, w.Links))
			}
		case 'l':
			if w.Target != g.Target {
				out = append(out, fmt.Sprintf("%s: -> %q, want -> %q", k, g.Target, w.Target))
			}
		}
	}
	return out
}
