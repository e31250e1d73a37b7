package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ErrSymlink is returned for a target path that is, or passes through, a
// symbolic link.
var ErrSymlink = errors.New("is a symbolic link")

// Options tune Flip.
type Options struct {
	// Logger receives one line per flip; nil discards it.
	Logger *slog.Logger
}

// Summary is what a Flip did.
type Summary struct {
	// Path is the flipped path, relative to the tree's root, slash-separated.
	Path string `json:"path"`
	// Dirs and Files count the directories and regular files visited.
	Dirs  int `json:"dirs"`
	Files int `json:"files"`
	// Changed counts the entries whose mode Flip changed; 0 when the path
	// was already world-readable (Flip is idempotent).
	Changed int `json:"changed"`
	// Skipped counts symlinks and special files, left as they are.
	Skipped int `json:"skipped"`
	// Unreachable lists the directories above Path (relative to the root,
	// "." for the root itself) that others cannot traverse: the flipped
	// content stays invisible to the public until they are flipped too.
	// Flip does not flip them: that is a release of its own.
	Unreachable []string `json:"unreachable,omitempty"`
	// Took is how long the flip took.
	Took time.Duration `json:"took_ns"`
}

// Flip makes rel, a directory or file inside the tree at root, and
// everything under it world-readable: `chmod -R a+rX` semantics (read for
// everyone; search/execute for everyone on directories and on files that
// have an execute bit). It works bottom-up, so the directory rel is opened
// last (see the package documentation). rel may be relative to root or an
// absolute path inside it.
//
// Flip stops at the first entry it cannot change and then leaves the
// directories above that entry, rel included, as they were: the content is
// never shown half-flipped. Entries already world-readable are not touched.
func Flip(ctx context.Context, root, rel string, opts Options) (Summary, error) {
	return flip(ctx, root, rel, opts, nil)
}

// flip is Flip; step, when set, is called after every chmod with the path
// changed (tests check the ordering invariant at every step).
func flip(ctx context.Context, root, rel string, opts Options, step func(string)) (Summary, error) {
	start := time.Now()
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	name, err := clean(root, rel)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Path: name}
	r, err := os.OpenRoot(root)
	if err != nil {
		return sum, fmt.Errorf("release: open tree: %w", err)
	}
	defer r.Close()
	parent, base, unreachable, err := walkTo(r, name)
	if err != nil {
		return sum, err
	}
	if parent != r {
		defer parent.Close()
	}
	sum.Unreachable = unreachable
	f := &flipper{ctx: ctx, sum: &sum, step: step}
	err = f.entry(parent, base, name)
	sum.Took = time.Since(start)
	if err != nil {
		log.Error("bit flip failed; the path stays closed", "path", name, "changed", sum.Changed, "err", err)
		return sum, err
	}
	attrs := []any{"path", name, "changed", sum.Changed, "dirs", sum.Dirs, "files", sum.Files, "took", sum.Took}
	if len(sum.Unreachable) > 0 {
		log.Warn("bit flip done, but a directory above is still closed to the public",
			append(attrs, "closed_above", strings.Join(sum.Unreachable, ", "))...)
	} else {
		log.Info("bit flip done", attrs...)
	}
	return sum, nil
}

// clean turns rel into a slash-separated path relative to root, refusing
// anything that leaves it lexically (os.Root refuses the rest).
func clean(root, rel string) (string, error) {
	if root == "" {
		return "", errors.New("release: no tree root given")
	}
	if filepath.IsAbs(rel) {
		absRoot, err := filepath.Abs(root)
		if err != nil {
			return "", fmt.Errorf("release: %w", err)
		}
		r, err := filepath.Rel(absRoot, rel)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return "", fmt.Errorf("release: %s is outside the tree %s", rel, root)
		}
		rel = r
	}
	name := path.Clean(filepath.ToSlash(rel))
	if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
		return "", fmt.Errorf("release: %s is outside the tree %s", rel, root)
	}
	return name, nil
}

// walkTo opens, one component at a time and without following symlinks,
// the directory holding name, and reports which directories on the way
// (the root included) others cannot traverse. For "." it returns r itself.
func walkTo(r *os.Root, name string) (parent *os.Root, base string, unreachable []string, err error) {
	if fi, err := r.Stat("."); err != nil {
		return nil, "", nil, fmt.Errorf("release: %w", err)
	} else if !traversable(fi.Mode()) {
		unreachable = append(unreachable, ".")
	}
	if name == "." {
		return r, ".", unreachable, nil
	}
	parts := strings.Split(name, "/")
	dir := r
	for i, p := range parts {
		sofar := strings.Join(parts[:i+1], "/")
		fi, err := dir.Lstat(p)
		if err != nil {
			closeSub(dir, r)
			return nil, "", nil, fmt.Errorf("release: %s: %w", sofar, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			closeSub(dir, r)
			return nil, "", nil, fmt.Errorf("release: %s: %w; flip the directory it points to", sofar, ErrSymlink)
		}
		if i == len(parts)-1 {
			return dir, p, unreachable, nil
		}
		if !fi.IsDir() {
			closeSub(dir, r)
			return nil, "", nil, fmt.Errorf("release: %s: not a directory", sofar)
		}
		if !traversable(fi.Mode()) {
			unreachable = append(unreachable, sofar)
		}
		next, err := dir.OpenRoot(p)
		closeSub(dir, r)
		if err != nil {
			return nil, "", nil, fmt.Errorf("release: %s: %w", sofar, err)
		}
		dir = next
	}
	panic("unreachable")
}

func closeSub(dir, r *os.Root) {
	if dir != r {
		dir.Close()
	}
}

// traversable says others may enter a directory with this mode.
func traversable(m fs.FileMode) bool { return m&0o001 != 0 }

// open is a+rX applied to m: the permission bits Flip wants.
func open(m fs.FileMode) fs.FileMode {
	want := m | 0o444
	if m.IsDir() || m&0o111 != 0 {
		want |= 0o111
	}
	return want
}

// Public reports whether an entry with mode m is already what Flip makes it.
func Public(m fs.FileMode) bool { return open(m) == m }

type flipper struct {
	ctx  context.Context
	sum  *Summary
	step func(string)
}

// entry flips name (shown as display) inside dir: its content first if it
// is a directory, then itself.
func (f *flipper) entry(dir *os.Root, name, display string) error {
	if err := f.ctx.Err(); err != nil {
		return fmt.Errorf("release: flip %s interrupted: %w", f.sum.Path, err)
	}
	fi, err := dir.Lstat(name)
	if err != nil {
		return fmt.Errorf("release: %s: %w", display, err)
	}
	m := fi.Mode()
	switch {
	case m.IsDir():
		f.sum.Dirs++
		if err := f.content(dir, name, display); err != nil {
			return err
		}
	case m.IsRegular():
		f.sum.Files++
	default:
		f.sum.Skipped++
		return nil
	}
	if Public(m) {
		return nil
	}
	// chmod keeps only permission, setuid, setgid and sticky bits.
	want := open(m) & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	if err := dir.Chmod(name, want); err != nil {
		return fmt.Errorf("release: %s: %w", display, err)
	}
	f.sum.Changed++
	if f.step != nil {
		f.step(display)
	}
	return nil
}

// content flips everything inside directory name. The directory is opened
// as a root of its own, so a symlink swapped in for an entry cannot lead
// out of it.
func (f *flipper) content(parent *os.Root, name, display string) error {
	dir, err := parent.OpenRoot(name)
	if err != nil {
		return fmt.Errorf("release: %s: %w", display, err)
	}
	defer dir.Close()
	d, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("release: %s: %w", display, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("release: read %s: %w", display, err)
	}
	for _, e := range entries {
		if err := f.entry(dir, e.Name(), path.Join(display, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
