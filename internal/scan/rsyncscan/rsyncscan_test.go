//go:build unix

package rsyncscan

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/rsync"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

var caps = scantest.Caps{Symlinks: true, Precision: time.Second, DirTimes: true, ExactSizes: true}

// mirror builds the conformance tree and serves it as module "mirror".
func mirror(t *testing.T) (root string, d *rsyncd.Daemon) {
	t.Helper()
	testutil.RequireTool(t, "rsync")
	root = t.TempDir()
	scantest.Build(t, root)
	hideStaged(t, root)
	return root, rsyncd.Start(t, rsyncd.Module{Name: "mirror", Path: root})
}

// hideStaged keeps the staged directory from the daemon when the test is
// not root. A root daemon serves as nobody, for whom the 0750 directory is
// closed as on a real mirror; any other daemon serves as the test's own
// user, who owns the directory, so it is closed to its owner instead.
func hideStaged(t *testing.T, root string) {
	if os.Geteuid() == 0 {
		return
	}
	staged := filepath.Join(root, filepath.FromSlash(scantest.StagedDir))
	if err := os.Chmod(staged, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(staged, 0o750) }) // so that TempDir can remove it
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	t.Parallel()
	root, d := mirror(t)
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: d.URL("mirror")})
	if err != nil {
		t.Fatalf("scan: %v\ndaemon log:\n%s", err, d.Log())
	}
	scantest.Check(t, got, scantest.Want(t, root, caps), caps)
	for _, e := range got {
		if e.Precision != time.Second {
			t.Errorf("%q: precision %v", e.Path, e.Precision)
		}
		if e.Type != scan.File && e.Size != 0 {
			t.Errorf("%s %q: size %d, want 0", e.Type, e.Path, e.Size)
		}
		if e.Type == scan.Symlink && e.Target == "" {
			t.Errorf("symlink %q without target", e.Path)
		}
		if e.Mode == 0 {
			t.Errorf("%q: no mode", e.Path)
		}
	}
}

// Without "ignore nonreadable" rsync lists the staged directory, cannot
// open it and exits 23; the scan is still complete for any client.
func TestConformanceListNonreadable(t *testing.T) {
	t.Parallel()
	testutil.RequireRoot(t, "only a daemon started as root serves as nobody, who cannot read the staged directory")
	testutil.RequireTool(t, "rsync")
	root := t.TempDir()
	scantest.Build(t, root)
	d := rsyncd.Start(t, rsyncd.Module{Name: "mirror", Path: root, ListNonreadable: true})
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: d.URL("mirror")})
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	scantest.Check(t, got, scantest.Want(t, root, caps), caps)
	if !slices.Contains(paths(got), scantest.StagedDir) {
		t.Errorf("the daemon was meant to list %s (else this test tests nothing)", scantest.StagedDir)
	}
}

func TestScanURLWithoutSlash(t *testing.T) {
	t.Parallel()
	root, d := mirror(t)
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: strings.TrimSuffix(d.URL("mirror"), "/")})
	if err != nil {
		t.Fatal(err)
	}
	scantest.Check(t, got, scantest.Want(t, root, caps), caps)
}

func under(es []scan.Entry, prefixes []string) []scan.Entry {
	var out []scan.Entry
	for _, e := range es {
		if scan.Under(e.Path, prefixes) {
			out = append(out, e)
		}
	}
	return out
}

func paths(es []scan.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Path)
	}
	return out
}

func TestScanPrefixes(t *testing.T) {
	t.Parallel()
	root, d := mirror(t)
	s := New(Options{})
	for _, prefixes := range [][]string{
		{"/releases/"},
		{"/repo/packages/", "/odd names/"},
		{"/releases/40/iso/"},
	} {
		got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: d.URL("mirror"), Prefixes: prefixes})
		if err != nil {
			t.Fatalf("%v: %v", prefixes, err)
		}
		want := under(scantest.Want(t, root, caps), prefixes)
		scantest.Check(t, got, want, caps)
		if len(got) == 0 {
			t.Errorf("%v: empty scan", prefixes)
		}
	}
	got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: d.URL("mirror"), Prefixes: []string{"/releases/"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/releases", "/releases/40", "/releases/40/iso", "/releases/40/iso/CHECKSUM",
		"/releases/40/iso/Fedora-40-x86_64.iso", "/releases/41", "/releases/latest"}; !slices.Equal(paths(got), want) {
		t.Errorf("/releases/ scan = %q, want %q", paths(got), want)
	}
	if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: d.URL("mirror"), Prefixes: []string{"releases"}}); err == nil {
		t.Error("an unclean prefix must be refused")
	}
}

// TestPrefixFiltersInRsync checks that the filter rules alone make rsync
// list only the prefixes and their parents (Scan filters again with
// scan.Under, which would hide a rule that lets too much through), also for
// names that are rsync wildcards.
func TestPrefixFiltersInRsync(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "rsync")
	root := t.TempDir()
	for _, dir := range []string{"a[1]/x", "a1/x", "b*/c/d", "bx/c/d", "b*/e", "plain/sub", "pla/sub", `back\slash/q?`, `back\slash/qq`} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d := rsyncd.Start(t, rsyncd.Module{Name: "m", Path: root})
	for _, tc := range []struct {
		prefixes []string
		want     string
	}{
		{[]string{"/a[1]/"}, "a[1] a[1]/x"},
		{[]string{"/b*/c/"}, "b* b*/c b*/c/d"},
		{[]string{"/plain/", "/b*/e/"}, "b* b*/e plain plain/sub"},
		{[]string{`/back\slash/q?/`}, `back\slash back\slash/q?`},
	} {
		filters, err := prefixFilters(tc.prefixes)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"-rl", "--list-only", "--no-motd", "--no-h"}, filters...)
		var got []string
		err = rsync.Run(testCtx(t), rsync.Cmd{Args: append(args, d.URL("m")), Stdout: func(r io.Reader) error {
			lr := rsync.NewListReader(r)
			for {
				e, err := lr.Next()
				if errors.Is(err, io.EOF) {
					return nil
				}
				if err != nil {
					return err
				}
				if e.Path != "." {
					got = append(got, e.Path)
				}
			}
		}})
		if err != nil {
			t.Fatalf("%v: %v", tc.prefixes, err)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%v (rules %q): rsync listed %q, want %q", tc.prefixes, filters, strings.Join(got, " "), tc.want)
		}
	}
}

func TestReadFile(t *testing.T) {
	t.Parallel()
	root, d := mirror(t)
	s := New(Options{})
	target := scan.Target{URL: d.URL("mirror")}
	ctx := testCtx(t)
	for _, p := range []string{
		"/README.txt",
		"/releases/latest/iso/CHECKSUM", // through a directory symlink
		"/repo/current.rpm",             // a file symlink
		"/odd names/percent%20and#hash?.txt",
		"/odd names/" + scantest.Latin1Name,
	} {
		want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadFile(ctx, target, p, 1<<20)
		if err != nil {
			t.Errorf("ReadFile(%q): %v", p, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ReadFile(%q) = %d bytes, want %d", p, len(got), len(want))
		}
	}
	// Exactly at the limit is fine.
	if got, err := s.ReadFile(ctx, target, "/README.txt", 120); err != nil || len(got) != 120 {
		t.Errorf("ReadFile at its size limit: %d bytes, %v", len(got), err)
	}
	for _, p := range []string{"/nope", "/releases/nope/x", scantest.StagedDir + "/Fedora-42.iso"} {
		if _, err := s.ReadFile(ctx, target, p, 1<<20); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(%q) err = %v, want fs.ErrNotExist", p, err)
		}
	}
	if _, err := s.ReadFile(ctx, target, "/repo/packages/a-1.0.rpm", 1000); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile over the limit: err = %v, want ErrTooLarge", err)
	}
	if _, err := s.ReadFile(ctx, target, "/repo", 1000); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a directory: err = %v, want a not-a-file error", err)
	}
	for _, bad := range []string{"README.txt", "/../etc/passwd", "/"} {
		if _, err := s.ReadFile(ctx, target, bad, 1000); err == nil {
			t.Errorf("ReadFile(%q) must be refused", bad)
		}
	}
}

func TestDeadMirror(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "rsync")
	s := New(Options{ConnectTimeout: 2 * time.Second})
	target := scan.Target{URL: "rsync://" + testutil.ClosedAddr(t) + "/mirror/"}
	start := time.Now()
	_, err := scantest.Collect(testCtx(t), s, target)
	if !errors.Is(err, scan.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a closed port took %v to fail", took)
	}
	var ee *rsync.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "code 10") || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("error %q does not carry rsync's exit code and words", err)
	}
	if _, err := s.ReadFile(testCtx(t), target, "/TIME", 100); !errors.Is(err, scan.ErrUnreachable) {
		t.Errorf("ReadFile err = %v, want ErrUnreachable", err)
	}
}

// A server that accepts connections but never greets is as good as dead.
func TestSilentMirror(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "rsync")
	addr := testutil.SilentServer(t)
	_, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: "rsync://" + addr + "/mirror/", Timeout: time.Second})
	if !errors.Is(err, scan.ErrUnreachable) || !strings.Contains(err.Error(), "code 30") {
		t.Fatalf("err = %v, want ErrUnreachable from rsync's timeout (code 30)", err)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "rsync")
	root := t.TempDir()
	scantest.Build(t, root)
	hideStaged(t, root)
	d := rsyncd.Start(t, rsyncd.Module{Name: "private", Path: root, AuthUser: "scanner", Password: "right"})
	url := strings.Replace(d.URL("private"), "rsync://", "rsync://scanner@", 1)
	s := New(Options{})

	got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: url, Password: "right"})
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	scantest.Check(t, got, scantest.Want(t, root, caps), caps)

	for _, pw := range []string{"wrong", ""} {
		_, err := scantest.Collect(testCtx(t), s, scan.Target{URL: url, Password: pw})
		if !errors.Is(err, scan.ErrAuth) || !strings.Contains(err.Error(), "auth failed") {
			t.Errorf("password %q: err = %v, want ErrAuth with rsync's words", pw, err)
		}
		if strings.Contains(err.Error(), "right") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
	if _, err := s.ReadFile(testCtx(t), scan.Target{URL: url, Password: "wrong"}, "/README.txt", 1000); !errors.Is(err, scan.ErrAuth) {
		t.Errorf("ReadFile with a wrong password: err = %v, want ErrAuth", err)
	}
}

func TestBadTargets(t *testing.T) {
	t.Parallel()
	_, d := mirror(t)
	s := New(Options{})
	if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: d.URL("nomodule")}); !errors.Is(err, ErrUnknownModule) ||
		!strings.Contains(err.Error(), "Unknown module") {
		t.Errorf("unknown module: err = %v, want ErrUnknownModule", err)
	}
	if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: d.URL("mirror") + "not/there/"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing base path: err = %v, want fs.ErrNotExist", err)
	}
	for _, bad := range []string{"http://x/y/", "rsync://", "rsync://host", "rsync://host/", "rsync://h/mod/*/", "rsync://h/mod/\n/"} {
		if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: bad}); err == nil {
			t.Errorf("URL %q must be refused", bad)
		}
	}
}

func TestEmitErrorStopsScan(t *testing.T) {
	t.Parallel()
	_, d := mirror(t)
	stop := errors.New("enough")
	n := 0
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: d.URL("mirror")}, func(scan.Entry) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("err = %v after %d entries, want the emit error after 1", err, n)
	}
}

// TestDaemonDiesMidScan kills the daemon while the listing is in flight:
// the scan must fail as truncated, never end as a shorter listing.
func TestDaemonDiesMidScan(t *testing.T) {
	t.Parallel()
	testutil.RequireTool(t, "rsync")
	root := t.TempDir()
	for _, dir := range []string{"a", "b", "c", "d"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			name := filepath.Join(root, dir, "a-file-with-a-long-name-"+strings.Repeat("x", 20)+string(rune('a'+i%26))+string(rune('a'+i/26)))
			if err := os.WriteFile(name, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// At 1 KiB/s the ~70 KiB listing takes over a minute, so it is
	// certainly unfinished when the daemon dies at the first entry.
	d := rsyncd.StartConfig(t, rsyncd.Config{BWLimit: 1, Modules: []rsyncd.Module{{Name: "m", Path: root}}})
	n := 0
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: d.URL("m")}, func(scan.Entry) error {
		if n++; n == 1 {
			d.Stop()
		}
		return nil
	})
	if !errors.Is(err, scan.ErrTruncated) {
		t.Fatalf("err = %v after %d entries, want ErrTruncated", err, n)
	}
	var ee *rsync.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v does not carry rsync's exit status", err)
	}
	t.Logf("rsync said: %v", err)
}

func TestReadListing(t *testing.T) {
	t.Parallel()
	listing := "drwxr-xr-x        4096 2026/01/02 03:04:05 .\n" +
		"drwxr-xr-x        4096 2026/01/02 03:04:05 pub\n" +
		"-rw-r--r--        1543 2026/01/02 03:04:05 pub/CHECKSUM\n" +
		"lrwxrwxrwx           2 2026/01/02 03:04:05 pub/latest -> 40\n" +
		"prw-r--r--           0 2026/01/02 03:04:05 pub/fifo\n" +
		"-rw-r--r--           5 2026/01/02 03:04:05 other\n"
	var got []scan.Entry
	emit := func(e scan.Entry) error { got = append(got, e); return nil }
	lines := 0
	if err := readListing(strings.NewReader(listing), []string{"/pub/"}, emit, &lines); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/pub", "/pub/CHECKSUM", "/pub/latest"}; !slices.Equal(paths(got), want) || lines != 6 {
		t.Fatalf("entries %q from %d lines, want %q from 6", paths(got), lines, want)
	}

	// Cut mid-line, as when rsync dies while printing: truncated.
	got, lines = nil, 0
	err := readListing(strings.NewReader(listing[:len(listing)-7]), nil, emit, &lines)
	if err = classify("list", err, lines > 0); !errors.Is(err, scan.ErrTruncated) || !strings.Contains(err.Error(), "line 6") {
		t.Fatalf("cut listing: err = %v, want ErrTruncated naming line 6", err)
	}

	// A hostile listing fails and emits nothing from the bad line on.
	for _, bad := range []string{
		"-rw-r--r--           5 2026/01/02 03:04:05 ../../etc/passwd\n",
		"-rw-r--r--           5 2026/01/02 03:04:05 pub/\\#000nul\n",
		"total 12\n",
	} {
		got, lines = nil, 0
		err := readListing(strings.NewReader(listing+bad+listing), nil, emit, &lines)
		if err = classify("list", err, true); !errors.Is(err, scan.ErrBadListing) || !strings.Contains(err.Error(), "line 7") {
			t.Errorf("listing with %q: err = %v, want ErrBadListing naming line 7", bad, err)
		}
		if len(got) != 4 {
			t.Errorf("listing with %q: emitted %d entries, want the 4 before it", bad, len(got))
		}
	}
}
