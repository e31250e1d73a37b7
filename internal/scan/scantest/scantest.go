// Package scantest is the conformance suite every scanner runs against its real
// server: one tree with everything that trips scanners up (hardlinks, file and
// directory symlinks, spaces, non-ASCII and non-UTF-8 bytes, an empty
// directory, a staged 0750 directory, a sparse file over 4 GiB), and a check
// that the scanner reports exactly what a client of that protocol can see.
package scantest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// Base is the first mtime in the tree; each entry gets its own second after it,
// so a scanner that mixes entries up is caught by their times.
var Base = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// BigSize is over 4 GiB, to catch 32-bit size fields.
const BigSize = 4<<30 + 12345

// StagedDir is the directory that is not world-readable (mode 0750): content
// waiting for its bit flip, which no public listing may show.
const StagedDir = "/releases/42"

// Latin1Name is a file name that is not valid UTF-8 (Latin-1 "é" as one byte).
const Latin1Name = "caf\xe9.txt"

type node struct {
	path   string
	kind   scan.Type
	size   int64
	target string // symlink target, or hardlink source for kind File with link
	link   bool   // hardlink to target
	mode   fs.FileMode
}

func tree() []node {
	return []node{
		{path: "/README.txt", kind: scan.File, size: 120},
		{path: "/releases", kind: scan.Dir},
		{path: "/releases/40", kind: scan.Dir},
		{path: "/releases/40/iso", kind: scan.Dir},
		{path: "/releases/40/iso/Fedora-40-x86_64.iso", kind: scan.File, size: BigSize},
		{path: "/releases/40/iso/CHECKSUM", kind: scan.File, size: 1543},
		{path: "/releases/41", kind: scan.Dir},
		{path: "/releases/latest", kind: scan.Symlink, target: "40"},
		{path: StagedDir, kind: scan.Dir, mode: 0o750},
		{path: StagedDir + "/Fedora-42.iso", kind: scan.File, size: 2048, mode: 0o640},
		{path: "/repo", kind: scan.Dir},
		{path: "/repo/packages", kind: scan.Dir},
		{path: "/repo/packages/a-1.0.rpm", kind: scan.File, size: 70001},
		{path: "/repo/packages/a-1.0-hardlink.rpm", kind: scan.File, target: "/repo/packages/a-1.0.rpm", link: true},
		{path: "/repo/current.rpm", kind: scan.Symlink, target: "packages/a-1.0.rpm"},
		{path: "/repo/repodata", kind: scan.Dir},
		{path: "/repo/repodata/repomd.xml", kind: scan.File, size: 3001},
		{path: "/odd names", kind: scan.Dir},
		{path: "/odd names/with spaces & more.txt", kind: scan.File, size: 7},
		{path: "/odd names/ünïcødé-日本.txt", kind: scan.File, size: 8},
		{path: "/odd names/" + Latin1Name, kind: scan.File, size: 9},
		{path: "/odd names/percent%20and#hash?.txt", kind: scan.File, size: 10},
	}
}

// Build creates the tree under root (which must exist and be empty) and
// returns it. Directories stay world-readable except StagedDir.
func Build(tb testing.TB, root string) {
	tb.Helper()
	nodes := tree()
	for i, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		var err error
		switch {
		case n.kind == scan.Dir:
			err = os.Mkdir(p, 0o755)
		case n.kind == scan.Symlink:
			err = os.Symlink(n.target, p)
		case n.link:
			err = os.Link(filepath.Join(root, filepath.FromSlash(n.target)), p)
		default:
			err = writeSparse(p, n.size)
		}
		if err != nil {
			tb.Fatalf("scantest: build %s: %v", n.path, err)
		}
		if n.kind != scan.Symlink && !n.link {
			if err := os.Chtimes(p, Base, Base.Add(time.Duration(i)*time.Second)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	// Modes and directory times last: creating children changes a directory's
	// mtime, and a 0750 directory must still be writable while it fills.
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		p := filepath.Join(root, filepath.FromSlash(n.path))
		if n.mode != 0 {
			if err := os.Chmod(p, n.mode); err != nil {
				tb.Fatal(err)
			}
		}
		if n.kind == scan.Dir {
			if err := os.Chtimes(p, Base, Base.Add(time.Duration(i)*time.Second)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := os.Chtimes(root, Base, Base); err != nil {
		tb.Fatal(err)
	}
}

// writeSparse makes a file of the given size without writing its blocks, so a
// 4 GiB file costs nothing; the first bytes are text so it is not all zeros.
func writeSparse(p string, size int64) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	head := []byte(strings.Repeat(filepath.Base(p)+"\n", 1+int(min(size, 64))/max(1, len(filepath.Base(p))+1)))
	if int64(len(head)) > size {
		head = head[:size]
	}
	if _, err := f.Write(head); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Caps describes what a protocol's listings can show.
type Caps struct {
	// Symlinks: the listing shows symlinks as symlinks (rsync, FTP). Without
	// it the server follows them (HTTP): a file symlink is listed as the file
	// it points to, a directory symlink as a directory with the target's content.
	Symlinks bool
	// Precision of mtimes: 1s for rsync and MLSD, time.Minute for autoindex and
	// LIST. Times are compared after truncating both sides to it.
	Precision time.Duration
	// DirTimes: the listing gives directories real mtimes (not all servers do).
	DirTimes bool
	// ExactSizes: sizes are exact (false for "4.0G"-style listings: any size
	// is accepted, -1 included).
	ExactSizes bool
}

// Want is what a client of a protocol with caps sees of the tree built under
// root: everything world-readable, with symlinks as the protocol shows them.
func Want(tb testing.TB, root string, caps Caps) []scan.Entry {
	tb.Helper()
	var out []scan.Entry
	var walk func(dir, rel string)
	walk = func(dir, rel string) {
		des, err := os.ReadDir(dir)
		if err != nil {
			tb.Fatal(err)
		}
		for _, de := range des {
			p := rel + "/" + de.Name()
			full := filepath.Join(dir, de.Name())
			fi, err := os.Lstat(full)
			if err != nil {
				tb.Fatal(err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 && !caps.Symlinks {
				if fi, err = os.Stat(full); err != nil {
					tb.Fatal(err)
				}
			}
			e := scan.Entry{Path: p, ModTime: fi.ModTime().UTC(), Mode: fi.Mode().Perm()}
			switch {
			case fi.Mode()&fs.ModeSymlink != 0:
				e.Type = scan.Symlink
				e.Target, _ = os.Readlink(full)
				e.Size = int64(len(e.Target))
			case fi.IsDir():
				e.Type = scan.Dir
			default:
				e.Type, e.Size = scan.File, fi.Size()
			}
			if p == StagedDir {
				continue // neither shown nor hidden is required of the staged dir itself
			}
			out = append(out, e)
			if e.Type == scan.Dir {
				walk(full, p)
			}
		}
	}
	walk(root, "")
	sortEntries(out)
	return out
}

func sortEntries(es []scan.Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Path < es[j].Path })
}

// Collect runs a scan and returns its entries sorted by path.
func Collect(ctx context.Context, s scan.Scanner, t scan.Target) ([]scan.Entry, error) {
	var got []scan.Entry
	err := s.Scan(ctx, t, func(e scan.Entry) error {
		got = append(got, e)
		return nil
	})
	sortEntries(got)
	return got, err
}

// Check compares a scan with Want: the same paths and types, sizes, and times
// at the protocol's precision; nothing of the staged directory's content. A
// symlink's size is not compared (servers disagree on it).
func Check(tb testing.TB, got, want []scan.Entry, caps Caps) {
	tb.Helper()
	byPath := map[string]scan.Entry{}
	for _, e := range got {
		if strings.HasPrefix(e.Path, StagedDir+"/") {
			tb.Errorf("scan shows staged content %q", e.Path)
		}
		if _, dup := byPath[e.Path]; dup {
			tb.Errorf("scan lists %q twice", e.Path)
		}
		if clean, err := scan.CleanPath(e.Path); err != nil || clean != e.Path {
			tb.Errorf("scan emitted unclean path %q", e.Path)
		}
		byPath[e.Path] = e
	}
	delete(byPath, StagedDir)
	for _, w := range want {
		g, ok := byPath[w.Path]
		if !ok {
			tb.Errorf("scan misses %s %q", w.Type, w.Path)
			continue
		}
		delete(byPath, w.Path)
		if g.Type != w.Type {
			tb.Errorf("%q: type %s, want %s", w.Path, g.Type, w.Type)
			continue
		}
		if w.Type == scan.File && caps.ExactSizes && g.Size != w.Size {
			tb.Errorf("%q: size %d, want %d", w.Path, g.Size, w.Size)
		}
		if w.Type == scan.Symlink && g.Target != "" && g.Target != w.Target {
			tb.Errorf("%q: target %q, want %q", w.Path, g.Target, w.Target)
		}
		if w.Type != scan.Dir || caps.DirTimes {
			if gt, wt := g.ModTime.Truncate(caps.Precision), w.ModTime.Truncate(caps.Precision); !gt.Equal(wt) {
				tb.Errorf("%q: mtime %v, want %v (precision %v)", w.Path, g.ModTime, w.ModTime, caps.Precision)
			}
			if g.ModTime.Location() != time.UTC {
				tb.Errorf("%q: mtime %v is not in UTC", w.Path, g.ModTime)
			}
		}
	}
	for p, e := range byPath {
		tb.Errorf("scan shows %s %q, which is not in the tree", e.Type, p)
	}
}
