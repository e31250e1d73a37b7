package synctest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Repo is a fake distribution tree that moves from version to version the
// way real archives do: each version adds packages, drops old ones, and
// rewrites the indexes that list them by size and SHA-256.
//
//	debian/pool/main/pkgN_1.0.deb                      packages
//	debian/dists/stable/main/binary-amd64/Packages     lists them (Filename, Size, SHA256)
//	debian/dists/stable/main/binary-amd64/by-hash/SHA256/H   Packages by hash (this and the last version)
//	debian/dists/stable/{Release,InRelease,Release.gpg}      list Packages by hash
//	fedora/Packages/rpmN-1.0.rpm                       packages
//	fedora/repodata/H-primary.xml                      lists them (href, size, sha256)
//	fedora/repodata/repomd.xml                         names H-primary.xml with its checksum
//	misc/...                                           hard links, safe and unsafe symlinks, a 0750
//	                                                   directory, a renamed file, odd names
//	project/trace/master, project/trace/_hierarchy     the upstream's trace
type Repo struct {
	Dir string
	// PerVersion packages are added to each distribution per version
	// (default 6); the newest Keep stay (default 60).
	PerVersion, Keep int
	// Size is a package's approximate size in bytes (default 16 KiB).
	Size int
	// StagedOwner, when >= 0, is the uid and gid given to the 0750
	// directory and its files, so that a daemon serving as that user (nobody)
	// can read them.
	StagedOwner int

	known map[string]map[string]bool
}

// NewRepo returns a Repo writing into dir with the defaults.
func NewRepo(dir string) *Repo {
	return &Repo{Dir: dir, PerVersion: 6, Keep: 60, Size: 16 << 10, StagedOwner: -1}
}

type spec struct {
	typ     byte // 'f', 'd', 'l'
	data    []byte
	perm    fs.FileMode
	target  string // symlink target, or the path a hard link shares an inode with
	hardTo  string
	modTime time.Time
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func pkgData(kind string, n, size int) []byte {
	seed := uint64(0)
	for _, c := range kind {
		seed = seed*131 + uint64(c)
	}
	r := rand.New(rand.NewPCG(uint64(n), seed))
	b := make([]byte, size+(n*37)%1024)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Version returns the tree of version v (v >= 1) as path → spec.
func (r *Repo) version(v int) map[string]spec {
	per, keep, size := r.PerVersion, r.Keep, r.Size
	if per <= 0 {
		per = 6
	}
	if keep <= 0 {
		keep = 60
	}
	if size <= 0 {
		size = 16 << 10
	}
	t := map[string]spec{}
	mtime := func(n int) time.Time { return epoch.Add(time.Duration(n) * time.Hour) }
	file := func(p string, data []byte, perm fs.FileMode, mt time.Time) {
		t[p] = spec{typ: 'f', data: data, perm: perm, modTime: mt}
	}
	dir := func(p string, perm fs.FileMode) { t[p] = spec{typ: 'd', perm: perm} }
	for _, d := range []string{"debian", "debian/pool", "debian/pool/main", "debian/dists", "debian/dists/stable",
		"debian/dists/stable/main", "debian/dists/stable/main/binary-amd64", "debian/dists/stable/main/binary-amd64/by-hash",
		"debian/dists/stable/main/binary-amd64/by-hash/SHA256", "fedora", "fedora/Packages", "fedora/repodata",
		"misc", "misc/iso", "misc/hl", "misc/docs", "project", "project/trace"} {
		dir(d, 0o755)
	}
	first := max(1, v*per-keep+1)
	last := v * per
	var packages, primary strings.Builder
	fmt.Fprintf(&primary, "<metadata version=\"%d\">\n", v)
	for n := first; n <= last; n++ {
		deb := pkgData("deb", n, size)
		p := fmt.Sprintf("pool/main/pkg%d_1.0.deb", n)
		file("debian/"+p, deb, 0o644, mtime(n))
		fmt.Fprintf(&packages, "Package: pkg%d\nVersion: 1.0\nFilename: %s\nSize: %d\nSHA256: %s\n\n", n, p, len(deb), sum(deb))
		rpm := pkgData("rpm", n, size)
		rp := fmt.Sprintf("Packages/rpm%d-1.0.rpm", n)
		file("fedora/"+rp, rpm, 0o644, mtime(n))
		fmt.Fprintf(&primary, "<package name=\"rpm%d\" href=\"%s\" size=\"%d\" sha256=\"%s\"/>\n", n, rp, len(rpm), sum(rpm))
	}
	primary.WriteString("</metadata>\n")

	// Debian indexes.
	const bin = "debian/dists/stable/main/binary-amd64/"
	pk := []byte(packages.String())
	file(bin+"Packages", pk, 0o644, mtime(last))
	file(bin+"by-hash/SHA256/"+sum(pk), pk, 0o644, mtime(last))
	if v > 1 {
		// Archives keep the previous indexes by hash for clients that
		// read the previous Release.
		prev := r.version(v - 1)[bin+"Packages"].data
		file(bin+"by-hash/SHA256/"+sum(prev), prev, 0o644, mtime(last-per))
	}
	release := []byte(fmt.Sprintf("Origin: mirrorkit-test\nSuite: stable\nVersion: %d\nAcquire-By-Hash: yes\nSHA256:\n %s %d main/binary-amd64/Packages\n",
		v, sum(pk), len(pk)))
	file("debian/dists/stable/Release", release, 0o644, mtime(last))
	file("debian/dists/stable/Release.gpg", []byte("fake signature of "+sum(release)+"\n"), 0o644, mtime(last))
	inrel := "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + string(release) +
		"-----BEGIN PGP SIGNATURE-----\nfake " + sum(release) + "\n-----END PGP SIGNATURE-----\n"
	file("debian/dists/stable/InRelease", []byte(inrel), 0o644, mtime(last))

	// RPM indexes.
	pr := []byte(primary.String())
	file("fedora/repodata/"+sum(pr)+"-primary.xml", pr, 0o644, mtime(last))
	repomd := fmt.Sprintf("<repomd>\n<revision>%d</revision>\n<data type=\"primary\"><checksum type=\"sha256\">%s</checksum><location href=\"repodata/%s-primary.xml\"/><size>%d</size></data>\n</repomd>\n",
		v, sum(pr), sum(pr), len(pr))
	file("fedora/repodata/repomd.xml", []byte(repomd), 0o644, mtime(last))

	// Hard links: the current image is also latest.iso (the group moves
	// every version), and a stable group of three.
	iso := pkgData("iso", v, 2*size)
	file(fmt.Sprintf("misc/iso/image-%d.iso", v), iso, 0o644, mtime(last))
	t["misc/iso/latest.iso"] = spec{typ: 'f', hardTo: fmt.Sprintf("misc/iso/image-%d.iso", v)}
	file("misc/hl/a", []byte("one inode, three names\n"), 0o644, epoch)
	t["misc/hl/b"] = spec{typ: 'f', hardTo: "misc/hl/a"}
	t["misc/hl/c"] = spec{typ: 'f', hardTo: "misc/hl/a"}
	// Symlinks: safe ones (one moving, one climbing inside the tree) and
	// unsafe ones that --safe-links must not copy.
	t["misc/current"] = spec{typ: 'l', target: fmt.Sprintf("iso/image-%d.iso", v)}
	t["misc/dists"] = spec{typ: 'l', target: "../debian/dists"}
	t["misc/escape"] = spec{typ: 'l', target: "../../outside"}
	t["misc/abs"] = spec{typ: 'l', target: "/etc/passwd"}
	// A staged (0750) directory whose mode must survive.
	t["misc/staged"] = spec{typ: 'd', perm: 0o750}
	file(fmt.Sprintf("misc/staged/secret-%d.txt", v), []byte(fmt.Sprintf("staged %d\n", v)), 0o640, mtime(last))
	// A file renamed every version, and names that need escaping.
	file(fmt.Sprintf("misc/docs/notes-%d.txt", v), []byte("release notes\n"), 0o644, epoch)
	file("misc/docs/space name.txt", []byte("spaces\n"), 0o644, epoch)
	file("misc/docs/ümlaut-ß.txt", []byte("utf-8\n"), 0o644, epoch)
	file("misc/docs/setgid", []byte("mode 2755\n"), 0o755|fs.ModeSetgid, epoch)

	file("project/trace/master", []byte(fmt.Sprintf("%s\nVersion: %d\n", epoch.Add(time.Duration(v)*time.Hour).Format(time.UnixDate), v)), 0o644, mtime(last))
	file("project/trace/_hierarchy", []byte("master master origin.example.org origin\n"), 0o644, epoch)
	return t
}

// Write makes Dir hold exactly version v: it adds and rewrites what
// changed and removes what v does not have, leaving unchanged files (and
// their inodes) alone. It records the content of every file for Known.
func (r *Repo) Write(v int) error {
	want := r.version(v)
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	// Remove what v does not have, deepest first.
	var stale []string
	err := filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.Dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		s, ok := want[rel]
		if !ok || (s.typ == 'd') != d.IsDir() || (s.typ == 'l') != (d.Type()&fs.ModeSymlink != 0) {
			stale = append(stale, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	paths := make([]string, 0, len(want))
	for p := range want {
		paths = append(paths, p)
	}
	sort.Strings(paths) // parents before children
	var links []string
	for _, rel := range paths {
		s := want[rel]
		p := filepath.Join(r.Dir, filepath.FromSlash(rel))
		switch {
		case s.typ == 'd':
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case s.typ == 'l':
			if cur, err := os.Readlink(p); err == nil && cur == s.target {
				continue
			}
			os.Remove(p)
			if err := os.Symlink(s.target, p); err != nil {
				return err
			}
		case s.hardTo != "":
			links = append(links, rel)
		default:
			if cur, err := os.ReadFile(p); err != nil || !bytes.Equal(cur, s.data) {
				os.Remove(p) // a new inode: never rewrite a hard-linked file in place
				if err := os.WriteFile(p, s.data, 0o644); err != nil {
					return err
				}
			}
			if err := os.Chtimes(p, s.modTime, s.modTime); err != nil {
				return err
			}
		}
	}
	for _, rel := range links {
		s := want[rel]
		p, to := filepath.Join(r.Dir, filepath.FromSlash(rel)), filepath.Join(r.Dir, filepath.FromSlash(s.hardTo))
		if sameFile(p, to) {
			continue
		}
		os.Remove(p)
		if err := os.Link(to, p); err != nil {
			return err
		}
	}
	// Modes last: a 0750 directory is filled first.
	for i := len(paths) - 1; i >= 0; i-- {
		rel := paths[i]
		s := want[rel]
		if s.typ == 'l' || s.hardTo != "" {
			continue
		}
		p := filepath.Join(r.Dir, filepath.FromSlash(rel))
		if err := os.Chmod(p, s.perm); err != nil {
			return err
		}
		if r.StagedOwner >= 0 && strings.HasPrefix(rel, "misc/staged") {
			if err := os.Chown(p, r.StagedOwner, r.StagedOwner); err != nil {
				return err
			}
			// chown clears setuid/setgid; set the mode again.
			if err := os.Chmod(p, s.perm); err != nil {
				return err
			}
		}
	}
	if r.known == nil {
		r.known = map[string]map[string]bool{}
	}
	for rel, s := range want {
		data := s.data
		if s.hardTo != "" {
			data = want[s.hardTo].data
		}
		if s.typ == 'f' {
			if r.known[rel] == nil {
				r.known[rel] = map[string]bool{}
			}
			r.known[rel][sum(data)] = true
		}
	}
	return nil
}

func sameFile(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// Known returns, for every file path any written version had, the SHA-256
// of each content it had. A visible file with another content was
// partially written (or corrupted).
func (r *Repo) Known() map[string]map[string]bool { return r.known }

// IsMetadata reports the fake tree's index files.
func IsMetadata(rel string) bool {
	return strings.Contains(rel, "/dists/") || strings.Contains(rel, "/repodata/")
}
