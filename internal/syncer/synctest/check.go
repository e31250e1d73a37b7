package synctest

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Checker checks the agent's invariant on a mirror tree at one instant:
//
//   - every visible file (rsync's temporary names aside) has a content
//     that file had in some upstream version: nothing half-written shows;
//   - every index a client starts from (Release, InRelease, repomd.xml), and
//     the Packages files clients fetch by name, reference only files that
//     are there with the size and hash they name, all the way down to the
//     packages.
//
// A Checker caches hashes by inode, size and times, so it can poll a tree
// while a sync runs. It is not safe for concurrent use.
type Checker struct {
	Root string
	// Known is Repo.Known (copied: the repo must not change while a
	// Checker runs).
	Known map[string]map[string]bool
	// Skip names files that are not the upstream's (the agent's trace,
	// the in-progress file).
	Skip func(rel string) bool

	cache map[fileKey]string
}

type fileKey struct {
	dev, ino, size uint64
	mtime, ctime   int64
}

// Check returns the invariant's violations at this instant, or nil.
func (c *Checker) Check() error {
	if c.cache == nil {
		c.cache = map[fileKey]string{}
	}
	var errs []error
	var tops []string
	err := filepath.WalkDir(c.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted under the walk
			}
			return err
		}
		rel, _ := filepath.Rel(c.Root, p)
		rel = filepath.ToSlash(rel)
		if rel != "." && RsyncTemp(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || (c.Skip != nil && c.Skip(rel)) {
			return nil
		}
		switch path.Base(rel) {
		case "Release", "InRelease", "repomd.xml", "Packages":
			tops = append(tops, rel)
		}
		h, err := c.hash(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if versions, ok := c.Known[rel]; !ok {
			errs = append(errs, fmt.Errorf("%s: a file no upstream version had", rel))
		} else if !versions[h] {
			errs = append(errs, fmt.Errorf("%s: content %.12s is no upstream version's: partially written?", rel, h))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, rel := range tops {
		if err := c.checkIndex(rel); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// hash returns a file's SHA-256, from the cache while the file's inode,
// size and times are unchanged.
func (c *Checker) hash(p string) (string, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	var k fileKey
	if ok {
		k = fileKey{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size), mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano()}
		if h, ok := c.cache[k]; ok {
			return h, nil
		}
	}
	h, err := HashFile(p)
	if err != nil {
		return "", err
	}
	if ok {
		c.cache[k] = h
	}
	return h, nil
}

// checkIndex checks one index and what it references. The tree may change
// while it looks: when a reference fails, it reads the index again, and a
// changed index (replaced meanwhile) is checked afresh instead of blamed.
func (c *Checker) checkIndex(rel string) error {
	var last error
	for range 5 {
		data, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		last = c.refs(rel, data)
		if last == nil {
			return nil
		}
		again, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(again, data) {
			continue // replaced or deleted while we looked
		}
		return fmt.Errorf("%s: %w", rel, last)
	}
	return nil
}

func (c *Checker) refs(rel string, data []byte) error {
	switch path.Base(rel) {
	case "Packages":
		root, _, ok := strings.Cut(rel, "dists/")
		if !ok {
			return nil
		}
		return c.packagesRefs(root, data)
	case "Release", "InRelease":
		dir := path.Dir(rel)
		root, _, _ := strings.Cut(rel, "dists/")
		for _, ref := range releaseRefs(data) {
			byHash := path.Join(dir, path.Dir(ref.path), "by-hash/SHA256", ref.sha)
			content, err := c.want(byHash, ref.size, ref.sha)
			if err != nil {
				return err
			}
			if err := c.packagesRefs(root, content); err != nil {
				return fmt.Errorf("via %s: %w", byHash, err)
			}
		}
	case "repomd.xml":
		root := path.Dir(path.Dir(rel))
		for _, ref := range xmlRefs(data, "location href=\"", "<checksum type=\"sha256\">") {
			content, err := c.want(path.Join(root, ref.path), -1, ref.sha)
			if err != nil {
				return err
			}
			for _, pk := range xmlRefs(content, "href=\"", "sha256=\"") {
				if _, err := c.want(path.Join(root, pk.path), pk.size, pk.sha); err != nil {
					return fmt.Errorf("via %s: %w", ref.path, err)
				}
			}
		}
	}
	return nil
}

func (c *Checker) packagesRefs(root string, data []byte) error {
	for _, st := range bytes.Split(data, []byte("\n\n")) {
		var ref struct {
			path, sha string
			size      int64
		}
		ref.size = -1
		for _, l := range strings.Split(string(st), "\n") {
			k, v, _ := strings.Cut(l, ": ")
			switch k {
			case "Filename":
				ref.path = v
			case "SHA256":
				ref.sha = v
			case "Size":
				ref.size, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		if ref.path == "" {
			continue
		}
		if _, err := c.want(path.Join(root, ref.path), ref.size, ref.sha); err != nil {
			return err
		}
	}
	return nil
}

// want checks that rel exists with the size (unless -1) and hash, and
// returns its content.
func (c *Checker) want(rel string, size int64, sha string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(c.Root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("references %s, which is missing: %w", rel, err)
	}
	if size >= 0 && int64(len(data)) != size {
		return nil, fmt.Errorf("references %s with %d bytes; it has %d", rel, size, len(data))
	}
	if got := sum(data); got != sha {
		return nil, fmt.Errorf("references %s with SHA-256 %.12s; it has %.12s", rel, sha, got)
	}
	return data, nil
}

type ref struct {
	path, sha string
	size      int64
}

// releaseRefs reads a Release file's SHA256 section.
func releaseRefs(data []byte) []ref {
	var out []ref
	in := false
	for _, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, " ") {
			in = l == "SHA256:"
			continue
		}
		f := strings.Fields(l)
		if in && len(f) == 3 {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			out = append(out, ref{sha: f[0], size: n, path: f[2]})
		}
	}
	return out
}

// xmlRefs reads the fake repodata's one-line elements: a path after
// hrefKey and a hash after shaKey on the same line, and size="N" if any.
func xmlRefs(data []byte, hrefKey, shaKey string) []ref {
	var out []ref
	for _, l := range strings.Split(string(data), "\n") {
		h := after(l, hrefKey, "\"")
		s := after(l, shaKey, "\"<")
		if h == "" || s == "" {
			continue
		}
		r := ref{path: h, sha: s, size: -1}
		if n, err := strconv.ParseInt(after(l, "size=\"", "\""), 10, 64); err == nil {
			r.size = n
		}
		out = append(out, r)
	}
	return out
}

func after(l, key, ends string) string {
	i := strings.Index(l, key)
	if i < 0 {
		return ""
	}
	v := l[i+len(key):]
	if j := strings.IndexAny(v, ends); j >= 0 {
		v = v[:j]
	}
	return v
}
