package ftpscan

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/ftpd"
)

// Caps of pure-ftpd 1.0.50, from what it sends:
//
//   - Symlinks: both MLSD ("type=OS.unix=slink:TARGET") and LIST ("l...
//     name -> target") show symlinks as symlinks, never followed. (For a
//     virtual user MLSD leaves the target empty: "type=OS.unix=slink:;".)
//   - DirTimes and ExactSizes: both modes give directories their mtimes and
//     files their byte sizes (the >4 GiB one included).
//   - Precision: MLSD "modify=YYYYMMDDHHMMSS" is UTC to the second. LIST
//     prints "Jan  2  2026" for the tree's January files (more than six
//     months old): a day. Its symlinks, made by Build just now, get
//     "Nov 22 02:47", a minute; the listing as a whole is only as good as its
//     coarsest entry, so LIST's Caps say a day.
var (
	mlsdCaps = scantest.Caps{Symlinks: true, Precision: time.Second, DirTimes: true, ExactSizes: true}
	listCaps = scantest.Caps{Symlinks: true, Precision: 24 * time.Hour, DirTimes: true, ExactSizes: true}
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	for _, tc := range []struct {
		name string
		opts Options
		caps scantest.Caps
		prec time.Duration // what every file entry of the Jan-2026 tree carries
	}{
		{"MLSD", Options{}, mlsdCaps, time.Second},
		{"LIST", Options{ForceLIST: true}, listCaps, 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scantest.Collect(testCtx(t), New(tc.opts), scan.Target{URL: srv.URL(), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			scantest.Check(t, got, scantest.Want(t, root, tc.caps), tc.caps)
			for _, e := range got {
				if e.Type == scan.File && e.Precision != tc.prec {
					t.Errorf("%q: precision %v, want %v", e.Path, e.Precision, tc.prec)
				}
				if e.Path == "/releases/latest" && e.Target != "40" {
					t.Errorf("latest: target %q, want 40", e.Target)
				}
				if e.Path == "/README.txt" && e.Mode != 0o644 {
					t.Errorf("README.txt: mode %v, want 0644", e.Mode)
				}
			}
		})
	}
}

// The virtual user sees the same tree; MLSD just leaves symlink targets out.
func TestConformanceUser(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root, ftpd.WithUser("mirror", "s3cret"))
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.UserURL(), Password: "s3cret", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	scantest.Check(t, got, scantest.Want(t, root, mlsdCaps), mlsdCaps)
}

func TestPrefixes(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	for _, force := range []bool{false, true} {
		got, err := scantest.Collect(testCtx(t), New(Options{ForceLIST: force}), scan.Target{URL: srv.URL(), Prefixes: []string{"/releases/"}})
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, e := range got {
			paths = append(paths, e.Path)
		}
		want := []string{"/releases", "/releases/40", "/releases/40/iso", "/releases/40/iso/CHECKSUM",
			"/releases/40/iso/Fedora-40-x86_64.iso", "/releases/41", scantest.StagedDir, "/releases/latest"}
		if strings.Join(paths, "\n") != strings.Join(want, "\n") {
			t.Errorf("ForceLIST=%v: got\n%s\nwant\n%s", force, strings.Join(paths, "\n"), strings.Join(want, "\n"))
		}
	}
}

// A base URL below the server's root: paths stay relative to it.
func TestBaseBelowRoot(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL() + "odd%20names/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got[0].Path != "/"+scantest.Latin1Name {
		t.Errorf("got %+v", got)
	}
	_, err = scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL() + "no-such-dir/"})
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, scan.ErrTruncated) {
		t.Errorf("missing base: %v, want ErrTruncated and fs.ErrNotExist", err)
	}
}

func TestReadFile(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	s := New(Options{})
	tg := scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}
	ctx := testCtx(t)
	for _, p := range []string{"/README.txt", "/odd names/with spaces & more.txt", "/odd names/percent%20and#hash?.txt"} {
		want, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadFile(ctx, tg, p, 1<<10)
		if err != nil || string(got) != string(want) {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := s.ReadFile(ctx, tg, "/missing.txt", 1<<10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadFile(ctx, tg, scantest.StagedDir+"/Fedora-42.iso", 1<<20); err == nil {
		t.Errorf("staged file readable")
	}
	if _, err := s.ReadFile(ctx, tg, "/README.txt", 10); !errors.Is(err, scan.ErrTruncated) {
		t.Errorf("file over max: %v, want ErrTruncated", err)
	}
	// The connection is fine after an abandoned transfer: a fresh one each time.
	if got, err := s.ReadFile(ctx, tg, "/README.txt", 120); err != nil || len(got) != 120 {
		t.Errorf("ReadFile with max = size: %d bytes, %v", len(got), err)
	}
}

// pure-ftpd answers a wrong password slowly (argon2id, then a delay of
// its own), so both calls run at once.
func TestWrongPassword(t *testing.T) {
	srv := ftpd.Start(t, t.TempDir(), ftpd.WithUser("mirror", "s3cret"))
	s := New(Options{})
	tg := scan.Target{URL: srv.UserURL(), Password: "wrong", Timeout: 30 * time.Second}
	t.Run("Scan", func(t *testing.T) {
		t.Parallel()
		if err := s.Scan(testCtx(t), tg, func(scan.Entry) error { return nil }); !errors.Is(err, scan.ErrAuth) {
			t.Errorf("Scan: %v, want ErrAuth", err)
		}
	})
	t.Run("ReadFile", func(t *testing.T) {
		t.Parallel()
		if _, err := s.ReadFile(testCtx(t), tg, "/x", 10); !errors.Is(err, scan.ErrAuth) {
			t.Errorf("ReadFile: %v, want ErrAuth", err)
		}
	})
}

func TestClosedPort(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	start := time.Now()
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: "ftp://" + addr + "/", Timeout: 10 * time.Second}, func(scan.Entry) error { return nil })
	if !errors.Is(err, scan.ErrUnreachable) {
		t.Errorf("Scan: %v, want ErrUnreachable", err)
	}
	t.Log(err)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refused connection took %v", d)
	}
}

// A server that accepts but never greets: the inactivity timeout ends it.
func TestSilentServer(t *testing.T) {
	addr := testutil.SilentServer(t)
	start := time.Now()
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: "ftp://" + addr + "/", Timeout: 300 * time.Millisecond}, func(scan.Entry) error { return nil })
	if !errors.Is(err, scan.ErrUnreachable) {
		t.Errorf("Scan: %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

// Cancelling the context ends a scan blocked on the network at once.
func TestCancel(t *testing.T) {
	addr := testutil.SilentServer(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err := New(Options{}).Scan(ctx, scan.Target{URL: "ftp://" + addr + "/", Timeout: time.Minute}, func(scan.Entry) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Scan: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// The server dies after the first directory: the scan must fail, not end
// as if the rest of the tree were gone.
func TestServerKilledMidScan(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	for _, force := range []bool{false, true} {
		srv := ftpd.Start(t, root)
		n := 0
		err := New(Options{ForceLIST: force}).Scan(testCtx(t), scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}, func(scan.Entry) error {
			if n++; n == 1 {
				if err := srv.Stop(); err != nil {
					t.Fatal(err)
				}
			}
			return nil
		})
		if !errors.Is(err, scan.ErrTruncated) && !errors.Is(err, scan.ErrUnreachable) {
			t.Errorf("ForceLIST=%v: Scan after kill: %v, want ErrTruncated or ErrUnreachable", force, err)
		}
		t.Logf("ForceLIST=%v: %v", force, err)
	}
}

// bigTree makes root/big with n files, with names long enough that the
// listing spans many reads.
func bigTree(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	big := filepath.Join(root, "big")
	if err := os.Mkdir(big, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		name := "file-with-a-name-long-enough-to-fill-the-socket-buffers-" + strings.Repeat("x", 60) + "-" + strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(big, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// smallReceiveBuffer keeps a data connection's window small (an explicit
// SO_RCVBUF also turns off autotuning, which on loopback grows to
// megabytes), so the server is more likely still sending when the test
// acts on the first bytes.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); err != nil {
		return err
	}
	return serr
}

// The server dies while a listing streams in. The kernel may still deliver
// what the server had written, and its 226 may already be here: a scan can
// then legitimately succeed, but only with the whole listing. A short
// success is the failure this test exists for.
func TestDataConnectionBreaks(t *testing.T) {
	const n = 6000
	root := bigTree(t, n)
	for _, force := range []bool{false, true} {
		srv := ftpd.Start(t, root)
		s := New(Options{ForceLIST: force})
		s.opts.dataControl = smallReceiveBuffer
		killed, read := false, 0
		s.opts.onData = func(n int) {
			// Past the root's short listing, inside /big's.
			if read += n; read > 64<<10 && !killed {
				killed = true
				if err := srv.Stop(); err != nil {
					t.Error(err)
				}
			}
		}
		got := 0
		err := s.Scan(testCtx(t), scan.Target{URL: srv.URL(), Prefixes: []string{"/big/"}, Timeout: 10 * time.Second}, func(scan.Entry) error {
			got++
			return nil
		})
		if !killed {
			t.Fatal("no listing data was read")
		}
		switch {
		case err == nil && got != n+1:
			t.Errorf("ForceLIST=%v: short success: %d entries of %d", force, got, n+1)
		case err != nil && !errors.Is(err, scan.ErrTruncated):
			t.Errorf("ForceLIST=%v: %v, want ErrTruncated", force, err)
		}
		t.Logf("ForceLIST=%v: %d entries, %v", force, got, err)
	}
}

// The server dies as a listing begins (its data connection is being
// opened): nothing of that listing arrives, and the scan fails.
func TestServerDiesAsListingStarts(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	for _, force := range []bool{false, true} {
		srv := ftpd.Start(t, root)
		s := New(Options{ForceLIST: force})
		dials := 0
		s.opts.dataControl = func(string, string, syscall.RawConn) error {
			if dials++; dials == 2 { // the root's listing is the first
				return srv.Stop()
			}
			return nil
		}
		err := s.Scan(testCtx(t), scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}, func(scan.Entry) error { return nil })
		if !errors.Is(err, scan.ErrTruncated) {
			t.Errorf("ForceLIST=%v: %v, want ErrTruncated", force, err)
		}
		t.Logf("ForceLIST=%v: %v", force, err)
	}
}

// The server hangs (SIGSTOP) as a listing begins: the inactivity timeout
// ends the scan with ErrTruncated, promptly.
func TestListingTimeout(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	s := New(Options{})
	s.opts.dataControl = func(string, string, syscall.RawConn) error { return srv.Freeze() }
	start := time.Now()
	err := s.Scan(testCtx(t), scan.Target{URL: srv.URL(), Timeout: 500 * time.Millisecond}, func(scan.Entry) error { return nil })
	if !errors.Is(err, scan.ErrTruncated) {
		t.Errorf("Scan: %v, want ErrTruncated", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout took %v", d)
	}
	t.Log(err)
}

// pure-ftpd stops every listing at 10000 entries (its default -L) and
// still answers 226; only the reply's text says "Output truncated". The
// scan must fail, not report a directory that lost its tail.
func TestServerTruncatesListing(t *testing.T) {
	root := bigTree(t, 10001)
	srv := ftpd.Start(t, root)
	for _, force := range []bool{false, true} {
		err := New(Options{ForceLIST: force}).Scan(testCtx(t), scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}, func(scan.Entry) error { return nil })
		if !errors.Is(err, scan.ErrTruncated) {
			t.Errorf("ForceLIST=%v: %v, want ErrTruncated", force, err)
		}
		t.Logf("ForceLIST=%v: %v", force, err)
	}
}

// A directory the server shows twice under different names (a bind mount
// of the root below itself; pure-ftpd shows symlinks as symlinks, but a
// mirror can repeat itself through mounts, or through a server that
// follows links). MLSD's unique fact (device and inode) tells the scanner
// /a/loop is the root again: it is reported, not walked. LIST has no such
// fact and reports what the server shows, the copy included. The kernel
// keeps a bind mount from containing itself, so this repeats once; a
// server that follows a symlink loop repeats forever, which the depth cap
// stops (TestDepthCap).
func TestDirectoryShownTwice(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "a/loop"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "a", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := ftpd.Start(t, root, ftpd.WithBind(root, filepath.Join(root, "a", "loop")))
	tg := scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, "/a /a/f /a/loop"},
		{Options{ForceLIST: true}, "/a /a/f /a/loop /a/loop/a /a/loop/a/f /a/loop/a/loop"},
	} {
		got, err := scantest.Collect(testCtx(t), New(tc.opts), tg)
		if err != nil {
			t.Fatalf("ForceLIST=%v: %v", tc.opts.ForceLIST, err)
		}
		var paths []string
		for _, e := range got {
			paths = append(paths, e.Path)
		}
		if strings.Join(paths, " ") != tc.want {
			t.Errorf("ForceLIST=%v: got %q, want %q", tc.opts.ForceLIST, paths, tc.want)
		}
	}
}

// A tree deeper than MaxDepth fails the scan instead of being cut short.
func TestDepthCap(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "d", "d", "d", "d", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := ftpd.Start(t, root)
	tg := scan.Target{URL: srv.URL(), Timeout: 10 * time.Second}
	for _, force := range []bool{false, true} {
		if _, err := scantest.Collect(testCtx(t), New(Options{MaxDepth: 4, ForceLIST: force}), tg); !errors.Is(err, scan.ErrBadListing) {
			t.Errorf("ForceLIST=%v, MaxDepth 4: %v, want ErrBadListing", force, err)
		}
		if got, err := scantest.Collect(testCtx(t), New(Options{MaxDepth: 5, ForceLIST: force}), tg); err != nil || len(got) != 5 {
			t.Errorf("ForceLIST=%v, MaxDepth 5: %d entries, %v; want 5", force, len(got), err)
		}
	}
}

func TestEmitErrorStops(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := ftpd.Start(t, root)
	stop := errors.New("enough")
	n := 0
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: srv.URL()}, func(scan.Entry) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("Scan: %v after %d entries, want the emit error after 1", err, n)
	}
}

func TestBadTargets(t *testing.T) {
	s := New(Options{})
	for _, u := range []string{"http://example.org/", "ftp:///x/", "ftp://u:pw@example.org/", "ftp://example.org/../x/", "ftp://example.org/?q"} {
		if err := s.Scan(t.Context(), scan.Target{URL: u}, func(scan.Entry) error { return nil }); err == nil {
			t.Errorf("Scan(%q) succeeded", u)
		}
	}
	if err := s.Scan(t.Context(), scan.Target{URL: "ftp://127.0.0.1:1/", Prefixes: []string{"/releases"}}, func(scan.Entry) error { return nil }); err == nil || errors.Is(err, scan.ErrUnreachable) {
		t.Errorf("unclean prefix: %v", err)
	}
}
