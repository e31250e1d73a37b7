package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
)

func build(t testing.TB, root string, opts Options) ([]Entry, Stats) {
	t.Helper()
	es, st, err := Build(context.Background(), root, opts)
	if err != nil {
		t.Fatal(err)
	}
	return es, st
}

func byPath(es []Entry) map[string]*Entry {
	m := map[string]*Entry{}
	for i := range es {
		m[es[i].Path] = &es[i]
	}
	return m
}

func TestBuildConformanceTree(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	// The 4 GiB sparse file is left out: hashing it would dominate the suite
	// under -race; its size handling is the scanners' test.
	const bigISO = "/releases/40/iso/Fedora-40-x86_64.iso"
	ex, err := ParseExcludes([]string{bigISO})
	if err != nil {
		t.Fatal(err)
	}
	es, st := build(t, root, Options{Algorithms: []Algorithm{SHA256, MD5}, PieceSize: 1 << 20, Excludes: ex})
	m := byPath(es)

	// What a client may see is exactly what scantest says an rsync client sees.
	want := scantest.Want(t, root, scantest.Caps{Symlinks: true, Precision: time.Nanosecond, DirTimes: true, ExactSizes: true})
	for i, w := range want {
		if w.Path == bigISO {
			want = append(want[:i], want[i+1:]...)
			break
		}
	}
	var public []scan.Entry
	for _, e := range es {
		if !e.Staged {
			public = append(public, scan.Entry{Path: e.Path, Type: e.Type, Size: e.Size, ModTime: e.ModTime, Target: e.Target})
		}
	}
	scantest.Check(t, public, want, scantest.Caps{Symlinks: true, Precision: time.Nanosecond, DirTimes: true, ExactSizes: true})

	if e := m[scantest.StagedDir]; e == nil || !e.Staged {
		t.Fatalf("staged dir: %+v", e)
	}
	if e := m[scantest.StagedDir+"/Fedora-42.iso"]; e == nil || !e.Staged || e.SHA256 == "" {
		t.Fatalf("staged file must be catalogued, hashed and marked staged: %+v", e)
	}
	if st.Staged != 2 {
		t.Fatalf("staged count %d", st.Staged)
	}
	lead, follower := m["/repo/packages/a-1.0-hardlink.rpm"], m["/repo/packages/a-1.0.rpm"]
	if lead.LinkGroup != "/repo/packages/a-1.0-hardlink.rpm" || follower.LinkGroup != lead.LinkGroup {
		t.Fatalf("hardlink groups %q %q", lead.LinkGroup, follower.LinkGroup)
	}
	if lead.SHA256 == "" || lead.SHA256 != follower.SHA256 || string(lead.Pieces) != string(follower.Pieces) {
		t.Fatal("hardlinks must share hashes")
	}
	if e := m["/releases/latest"]; e.Type != scan.Symlink || e.Target != "40" {
		t.Fatalf("symlink %+v", e)
	}
	if _, ok := m["/odd names/"+scantest.Latin1Name]; !ok {
		t.Fatal("non-UTF-8 name lost")
	}
	// Hashes are right: compare with a direct computation.
	for _, p := range []string{"/README.txt", "/repo/repodata/repomd.xml"} {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if m[p].SHA256 != hex.EncodeToString(sum[:]) || m[p].MD5 == "" {
			t.Fatalf("%s: sha256 %s, want %x", p, m[p].SHA256, sum)
		}
		if len(m[p].Pieces) != 32 || m[p].PieceSize != 1<<20 {
			t.Fatalf("%s: %d piece bytes", p, len(m[p].Pieces))
		}
	}
}

func TestPieces(t *testing.T) {
	root := t.TempDir()
	data := make([]byte, 3<<20+5)
	for i := range data {
		data[i] = byte(i % 251)
	}
	os.WriteFile(filepath.Join(root, "x.iso"), data, 0o644)
	es, _ := build(t, root, Options{PieceSize: 1 << 20})
	if len(es[0].Pieces) != 4*32 {
		t.Fatalf("%d piece bytes, want 4 pieces", len(es[0].Pieces))
	}
	for i := 0; i < 4; i++ {
		end := min(len(data), (i+1)<<20)
		sum := sha256.Sum256(data[i<<20 : end])
		if string(es[0].Pieces[i*32:(i+1)*32]) != string(sum[:]) {
			t.Fatalf("piece %d wrong", i)
		}
	}
}

func TestRebuildUsesCache(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 20; i++ {
		os.WriteFile(filepath.Join(root, fmt.Sprintf("f%02d", i)), []byte(strings.Repeat("x", i+1)), 0o644)
	}
	first, st1 := build(t, root, Options{})
	if st1.Hashed != 20 || st1.Cached != 0 {
		t.Fatalf("first build %+v", st1)
	}
	prev := byPath(first)
	second, st2 := build(t, root, Options{Previous: prev})
	if st2.Hashed != 0 || st2.Cached != 20 || len(Diff(first, second)) != 0 {
		t.Fatalf("unchanged rebuild %+v, diff %v", st2, Diff(first, second))
	}
	// Same size, new content, new mtime: hashed again and reported changed.
	p := filepath.Join(root, "f03")
	os.WriteFile(p, []byte("yyyy"), 0o644)
	os.Chtimes(p, time.Now(), time.Now().Add(time.Hour))
	third, st3 := build(t, root, Options{Previous: byPath(second)})
	if st3.Hashed != 1 {
		t.Fatalf("after one change %+v", st3)
	}
	d := Diff(second, third)
	if len(d) != 1 || d[0].Kind != "changed" || d[0].Path() != "/f03" || d[0].Old.SHA256 == d[0].New.SHA256 {
		t.Fatalf("diff %+v", d)
	}
	// A new algorithm invalidates the cache for that algorithm.
	_, st4 := build(t, root, Options{Previous: byPath(third), Algorithms: []Algorithm{SHA256, SHA1}})
	if st4.Hashed != 20 {
		t.Fatalf("adding sha1 must rehash: %+v", st4)
	}
}

func TestDiff(t *testing.T) {
	a := []Entry{{Path: "/a", Size: 1}, {Path: "/b", Size: 2}, {Path: "/c", Size: 3}}
	b := []Entry{{Path: "/a", Size: 1}, {Path: "/c", Size: 4}, {Path: "/d", Size: 5}}
	var got []string
	for _, c := range Diff(a, b) {
		got = append(got, c.Kind+" "+c.Path())
	}
	if strings.Join(got, ",") != "removed /b,changed /c,added /d" {
		t.Fatalf("%v", got)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, _, err := Build(context.Background(), "/nonexistent/origin", Options{}); err == nil {
		t.Fatal("missing origin accepted")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, _, err := Build(context.Background(), f, Options{}); err == nil {
		t.Fatal("a file as origin accepted")
	}
	if _, _, err := Build(context.Background(), t.TempDir(), Options{Algorithms: []Algorithm{"crc32"}}); err == nil {
		t.Fatal("unknown algorithm accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "x"), []byte("x"), 0o644)
	if _, _, err := Build(ctx, root, Options{}); err == nil {
		t.Fatal("cancelled build succeeded")
	}
}

func TestExcludes(t *testing.T) {
	ex, err := ParseExcludes([]string{"*.tmp", "/private/", ".~tmp~/", "repodata/*.old", "/a/**/deep", "iso/"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path string
		dir  bool
		want bool
	}{
		{"/x.tmp", false, true}, {"/d/e/f.tmp", false, true}, {"/x.tmpl", false, false},
		{"/private", true, true}, {"/private", false, false}, {"/d/private", true, false},
		{"/d/.~tmp~", true, true}, {"/repo/repodata/x.old", false, true}, {"/repodata/x.old", false, true},
		{"/repo/repodata/sub/x.old", false, false}, {"/a/b/c/deep", false, true}, {"/a/deep", false, false},
		{"/b/a/x/deep", false, false}, {"/releases/iso", true, true}, {"/releases/iso", false, false},
	}
	for _, c := range cases {
		if got := ex.Match(c.path, c.dir); got != c.want {
			t.Errorf("Match(%q, dir=%v) = %v, want %v", c.path, c.dir, got, c.want)
		}
	}
	if got := strings.Join(ex.Patterns(), " "); got != "*.tmp /private/ .~tmp~/ repodata/*.old /a/**/deep iso/" {
		t.Errorf("Patterns() = %q", got)
	}
	for _, bad := range []string{"", "/", "[", "a\x00"} {
		if _, err := ParseExcludes([]string{bad}); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "private/x"), 0o755)
	os.WriteFile(filepath.Join(root, "private/x/secret"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "keep"), nil, 0o644)
	os.WriteFile(filepath.Join(root, "drop.tmp"), nil, 0o644)
	es, _ := build(t, root, Options{Excludes: ex})
	if len(es) != 1 || es[0].Path != "/keep" {
		t.Fatalf("entries %+v", es)
	}
}

func FuzzExcludes(f *testing.F) {
	f.Add("*.tmp", "/a/b.tmp")
	f.Add("/a/**/b", "/a/x/y/b")
	f.Fuzz(func(t *testing.T, pattern, p string) {
		if len(pattern) > 64 || len(p) > 256 {
			return
		}
		ex, err := ParseExcludes([]string{pattern})
		if err != nil {
			return
		}
		ex.Match(p, false)
		ex.Match(p, true)
	})
}

// BenchmarkBuild100k is the catalog case: 100,000 small files (1-8
// KiB) in 1,000 directories, SHA-256. "first" hashes everything; "unchanged"
// rebuilds with the previous build as cache.
func BenchmarkBuild100k(b *testing.B) {
	root := b.TempDir()
	buf := make([]byte, 8192)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for d := 0; d < 1000; d++ {
		dir := filepath.Join(root, fmt.Sprintf("d%04d", d))
		os.Mkdir(dir, 0o755)
		for f := 0; f < 100; f++ {
			n := 1024 + (d*100+f)%7168
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d.rpm", f)), buf[:n], 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	var prev []Entry
	for _, w := range []int{2, 0} {
		b.Run(fmt.Sprintf("first/workers=%d", w), func(b *testing.B) {
			for b.Loop() {
				prev, _ = build(b, root, Options{Workers: w})
			}
		})
	}
	b.Run("unchanged", func(b *testing.B) {
		if prev == nil {
			prev, _ = build(b, root, Options{})
		}
		cache := byPath(prev)
		for b.Loop() {
			_, st := build(b, root, Options{Previous: cache})
			if st.Hashed != 0 {
				b.Fatalf("rehashed %d", st.Hashed)
			}
		}
	})
}
