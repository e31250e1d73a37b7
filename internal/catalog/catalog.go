package catalog

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// Type is an entry's kind; the same word the scanners use.
type Type = scan.Type

// Entry is one item of the origin tree.
type Entry struct {
	// ID is the entry's stable id, assigned by the store on first sight and
	// kept while the path exists; 0 before that.
	ID uint32 `json:"id"`
	// Path is clean and slash-led; it may hold any bytes but NUL.
	Path    string      `json:"path"`
	Type    Type        `json:"type"`
	Size    int64       `json:"size"`
	ModTime time.Time   `json:"mtime"`
	Mode    fs.FileMode `json:"mode"`
	// Target is a symlink's target as written.
	Target string `json:"target,omitempty"`
	// LinkGroup is the first path (in byte order) of the entry's hardlink
	// group, "" when the file has one link.
	LinkGroup string `json:"link_group,omitempty"`
	// Staged: the entry, or a directory above it, is not world-readable. It
	// waits for its bit flip and is never offered to clients.
	Staged bool `json:"staged"`
	// Dev and Inode identify the file on the origin's disk; with Size and
	// ModTime they key the hash cache.
	Dev   uint64 `json:"-"`
	Inode uint64 `json:"-"`
	// ChangedBuild is the stored build that added or last changed the entry
	// (set by the store); stored holdings older than it do not count.
	ChangedBuild int64 `json:"changed_build,omitempty"`
	// ChangedAt is when that build finished (set by the store): the moment
	// mirrors started lagging behind this version. Zero when unknown.
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// Previous is the version a changed file had before ChangedBuild (set by
	// the store); nil for a file added as it is. Mirrors still holding it
	// may serve it where the redirector allows outdated copies.
	Previous *Version `json:"previous,omitempty"`
	Hashes
}

// Version is what tells one version of a regular file from another in a
// mirror's listing.
type Version struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
}

// Hashes of a regular file's content, as lower-case hex; "" when not computed.
type Hashes struct {
	SHA256 string `json:"sha256,omitempty"`
	SHA1   string `json:"sha1,omitempty"`
	MD5    string `json:"md5,omitempty"`
	SHA512 string `json:"sha512,omitempty"`
	// PieceSize and Pieces: SHA-256 of each PieceSize block, concatenated
	// (32 bytes each), for metalink's piece hashes.
	PieceSize int64  `json:"piece_size,omitempty"`
	Pieces    []byte `json:"pieces,omitempty"`
}

// Algorithm names a content hash.
type Algorithm string

// The algorithms a catalog can compute.
const (
	SHA256 Algorithm = "sha256"
	SHA1   Algorithm = "sha1"
	MD5    Algorithm = "md5"
	SHA512 Algorithm = "sha512"
)

// Options control a build.
type Options struct {
	// Algorithms to compute; default SHA-256 only.
	Algorithms []Algorithm
	// PieceSize > 0 also computes SHA-256 piece hashes of that size.
	PieceSize int64
	// Excludes are skipped entirely.
	Excludes Excludes
	// Workers hash in parallel; 0 means four per CPU: reading many small
	// files waits on system calls more than on the CPU, and extra workers on
	// large files only interleave.
	Workers int
	// Previous is the last build, by path: entries whose dev, inode, size and
	// mtime are unchanged keep their hashes instead of being read again.
	Previous map[string]*Entry
	// Progress, when set, is called as files are hashed, from one goroutine
	// at a time.
	Progress func(Progress)
}

// Progress of the hashing phase: done so far, out of the total to read.
type Progress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
}

// Stats describe a build.
type Stats struct {
	Files, Dirs, Symlinks int
	Staged                int
	Bytes                 int64
	// Hashed files were read; Cached ones kept their previous hashes.
	Hashed, Cached int
	HashedBytes    int64
	Duration       time.Duration
}

// Build walks the tree at root and returns its entries sorted by path, with
// hashes for every regular file.
func Build(ctx context.Context, root string, opts Options) ([]Entry, Stats, error) {
	start := time.Now()
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = []Algorithm{SHA256}
	}
	for _, a := range opts.Algorithms {
		if newHash(a) == nil {
			return nil, Stats{}, fmt.Errorf("catalog: unknown hash algorithm %q (sha256, sha1, md5, sha512)", a)
		}
	}
	entries, st, err := walk(ctx, root, opts.Excludes)
	if err != nil {
		return nil, st, err
	}
	linkGroups(entries)
	if err := hashAll(ctx, root, entries, opts, &st); err != nil {
		return nil, st, err
	}
	st.Duration = time.Since(start)
	return entries, st, nil
}

// walk lists the tree with lstat data, marking staged entries: a path is
// staged when it or any directory above it lacks the world read bit (and, for
// directories, the world search bit), which is what a web server running as
// an unprivileged user runs into.
func walk(ctx context.Context, root string, ex Excludes) ([]Entry, Stats, error) {
	var st Stats
	fi, err := os.Stat(root)
	if err != nil {
		return nil, st, fmt.Errorf("catalog: origin: %w", err)
	}
	if !fi.IsDir() {
		return nil, st, fmt.Errorf("catalog: origin %s is not a directory", root)
	}
	var out []Entry
	type frame struct {
		dir    string // slash-led catalog path; "" for the root
		staged bool
	}
	stack := []frame{{dir: "", staged: false}}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, st, err
		}
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		full := filepath.Join(root, filepath.FromSlash(f.dir))
		des, err := os.ReadDir(full)
		if err != nil {
			return nil, st, fmt.Errorf("catalog: read directory %s: %w", full, err)
		}
		for _, de := range des {
			p := f.dir + "/" + de.Name()
			info, err := de.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while we walked: the next build sees it gone
			} else if err != nil {
				return nil, st, fmt.Errorf("catalog: %s: %w", p, err)
			}
			mode := info.Mode()
			e := Entry{Path: p, ModTime: info.ModTime().UTC(), Mode: mode.Perm()}
			if sys, ok := info.Sys().(*syscall.Stat_t); ok {
				e.Dev, e.Inode = uint64(sys.Dev), sys.Ino
			}
			switch {
			case mode.IsDir():
				e.Type = scan.Dir
				e.Staged = f.staged || mode.Perm()&0o005 != 0o005
			case mode&fs.ModeSymlink != 0:
				e.Type = scan.Symlink
				if e.Target, err = os.Readlink(filepath.Join(full, de.Name())); err != nil {
					return nil, st, fmt.Errorf("catalog: %s: %w", p, err)
				}
				e.Size = int64(len(e.Target))
				e.Staged = f.staged
			case mode.IsRegular():
				e.Type = scan.File
				e.Size = info.Size()
				e.Staged = f.staged || mode.Perm()&0o004 == 0
			default:
				continue // sockets, devices, fifos: nothing a mirror serves
			}
			if ex.Match(p, e.Type == scan.Dir) {
				continue
			}
			switch e.Type {
			case scan.Dir:
				st.Dirs++
				stack = append(stack, frame{dir: p, staged: e.Staged})
			case scan.Symlink:
				st.Symlinks++
			default:
				st.Files++
				st.Bytes += e.Size
			}
			if e.Staged {
				st.Staged++
			}
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, st, nil
}

// linkGroups names each hardlink group after its first path.
func linkGroups(entries []Entry) {
	type key struct{ dev, ino uint64 }
	first := map[key]string{}
	count := map[key]int{}
	for _, e := range entries {
		if e.Type == scan.File && e.Inode != 0 {
			k := key{e.Dev, e.Inode}
			count[k]++
			if _, ok := first[k]; !ok {
				first[k] = e.Path // entries are sorted: the first seen is the first in order
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if k := (key{e.Dev, e.Inode}); e.Type == scan.File && count[k] > 1 {
			e.LinkGroup = first[k]
		}
	}
}

// hashAll fills in hashes, reusing previous ones where the file is provably
// unchanged and sharing one read between hardlinks.
func hashAll(ctx context.Context, root string, entries []Entry, opts Options, st *Stats) error {
	var jobs []int
	for i := range entries {
		e := &entries[i]
		if e.Type != scan.File {
			continue
		}
		if prev := opts.Previous[e.Path]; prev != nil && cacheHit(prev, e, opts) {
			e.Hashes = prev.Hashes
			st.Cached++
			continue
		}
		if e.LinkGroup != "" && e.LinkGroup != e.Path {
			continue // filled from the group's first file below
		}
		jobs = append(jobs, i)
	}
	var total Progress
	for _, i := range jobs {
		total.TotalFiles++
		total.TotalBytes += entries[i].Size
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = min(32, 4*runtime.GOMAXPROCS(0))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var mu sync.Mutex
	var firstErr error
	var done int
	var doneBytes int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for i := range work {
				e := &entries[i]
				h, err := hashFile(ctx, filepath.Join(root, filepath.FromSlash(e.Path)), opts, buf)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("catalog: hash %s: %w", e.Path, err)
					cancel()
				}
				e.Hashes = h
				done++
				doneBytes += e.Size
				if opts.Progress != nil {
					total.Files, total.Bytes = done, doneBytes
					opts.Progress(total)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range jobs {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	st.Hashed, st.HashedBytes = done, doneBytes
	// Hardlinks share their group leader's content.
	byPath := map[string]*Entry{}
	for i := range entries {
		if entries[i].LinkGroup == entries[i].Path {
			byPath[entries[i].Path] = &entries[i]
		}
	}
	for i := range entries {
		e := &entries[i]
		if e.LinkGroup != "" && e.LinkGroup != e.Path && e.SHA256 == "" && e.SHA1 == "" && e.MD5 == "" && e.SHA512 == "" {
			if lead := byPath[e.LinkGroup]; lead != nil {
				e.Hashes = lead.Hashes
			}
		}
	}
	return nil
}

// cacheHit: the same file (device and inode), the same size and mtime to the
// nanosecond, and every hash this build wants already there.
func cacheHit(prev, e *Entry, opts Options) bool {
	if prev.Type != scan.File || prev.Dev != e.Dev || prev.Inode != e.Inode || prev.Size != e.Size || !prev.ModTime.Equal(e.ModTime) {
		return false
	}
	for _, a := range opts.Algorithms {
		if prev.Hashes.get(a) == "" {
			return false
		}
	}
	return opts.PieceSize == 0 || prev.PieceSize == opts.PieceSize
}

func (h Hashes) get(a Algorithm) string {
	if f := h.field(a); f != nil {
		return *f
	}
	return ""
}

// field is where algorithm a's digest lives; nil for an unknown algorithm
// (Build checks them before any hashing).
func (h *Hashes) field(a Algorithm) *string {
	switch a {
	case SHA256:
		return &h.SHA256
	case SHA1:
		return &h.SHA1
	case MD5:
		return &h.MD5
	case SHA512:
		return &h.SHA512
	}
	return nil
}

func newHash(a Algorithm) hash.Hash {
	switch a {
	case SHA256:
		return sha256.New()
	case SHA1:
		return sha1.New()
	case MD5:
		return md5.New()
	case SHA512:
		return sha512.New()
	}
	return nil
}

// hashFile reads a file once, feeding every requested hash and the piece
// hasher from the same buffer.
func hashFile(ctx context.Context, path string, opts Options, buf []byte) (Hashes, error) {
	f, err := os.Open(path)
	if err != nil {
		return Hashes{}, err
	}
	defer f.Close()
	hs := make([]hash.Hash, len(opts.Algorithms))
	for i, a := range opts.Algorithms {
		hs[i] = newHash(a)
	}
	var pieces []byte
	var piece hash.Hash
	var inPiece int64
	if opts.PieceSize > 0 {
		piece = sha256.New()
	}
	for {
		if err := ctx.Err(); err != nil {
			return Hashes{}, err
		}
		n, err := f.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			for _, h := range hs {
				h.Write(chunk)
			}
			for piece != nil && len(chunk) > 0 {
				take := min(int64(len(chunk)), opts.PieceSize-inPiece)
				piece.Write(chunk[:take])
				inPiece += take
				chunk = chunk[take:]
				if inPiece == opts.PieceSize {
					pieces = piece.Sum(pieces)
					piece.Reset()
					inPiece = 0
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Hashes{}, err
		}
	}
	var out Hashes
	for i, a := range opts.Algorithms {
		*out.field(a) = hex.EncodeToString(hs[i].Sum(nil))
	}
	if piece != nil {
		if inPiece > 0 {
			pieces = piece.Sum(pieces)
		}
		out.PieceSize, out.Pieces = opts.PieceSize, pieces
	}
	return out, nil
}
