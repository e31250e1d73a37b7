package httpscan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// What nginx's autoindex shows (autoindex_exact_size on, autoindex_localtime
// off): symlinks followed, exact sizes, UTC times cut (not rounded) to the
// minute in HTML and to the second in JSON, and directories with their own
// mtimes in both.
var (
	capsNginxHTML = scantest.Caps{Symlinks: false, Precision: time.Minute, DirTimes: true, ExactSizes: true}
	capsNginxJSON = scantest.Caps{Symlinks: false, Precision: time.Second, DirTimes: true, ExactSizes: true}
)

func TestConformanceNginx(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []nginx.Option
		caps scantest.Caps
	}{
		{"html", nil, capsNginxHTML},
		{"json", []nginx.Option{nginx.JSON()}, capsNginxJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			scantest.Build(t, root)
			srv := nginx.Start(t, root, tc.opts...)
			// Count dials: keep-alive must carry a scan on at most one
			// connection per worker.
			var dials atomic.Int32
			tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				dials.Add(1)
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}}
			t.Cleanup(tr.CloseIdleConnections)
			s := New(Options{Client: &http.Client{Transport: tr}})
			got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: srv.URL(), Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			scantest.Check(t, got, scantest.Want(t, root, tc.caps), tc.caps)
			for _, e := range got {
				if e.Precision != tc.caps.Precision {
					t.Errorf("%q: precision %v, want %v", e.Path, e.Precision, tc.caps.Precision)
				}
			}
			if n := dials.Load(); n > DefaultConcurrency {
				t.Errorf("%d connections for one scan, want at most %d (keep-alive)", n, DefaultConcurrency)
			}
		})
	}
}

func TestPrefixesLimitTheCrawl(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := nginx.Start(t, root, nginx.AccessLog())
	before := len(srv.Requests()) // Start's readiness probe
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL(), Prefixes: []string{"/releases/"}})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
		if !strings.HasPrefix(e.Path, "/releases/") && e.Path != "/releases" {
			t.Errorf("entry %q outside the prefixes", e.Path)
		}
	}
	for _, want := range []string{"/releases", "/releases/40/iso/CHECKSUM", "/releases/latest/iso/CHECKSUM", "/releases/41"} {
		if !containsString(paths, want) {
			t.Errorf("missing %q in %q", want, paths)
		}
	}
	// One request per directory crawled: the base and every directory
	// emitted (the staged one included: asked, refused).
	wantReqs := 1
	for _, e := range got {
		if e.Type == scan.Dir {
			wantReqs++
		}
	}
	lines, _ := srv.Await(func(lines []string) bool { return len(lines) >= before+wantReqs })
	if len(lines) != before+wantReqs {
		t.Errorf("%d requests, want %d: %q", len(lines)-before, wantReqs, lines[before:])
	}
	for _, line := range lines[before:] {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "GET" || f[1] != "/" && !strings.HasPrefix(f[1], "/releases/") {
			t.Errorf("request outside the prefixes: %q", line)
		}
	}
	if _, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL(), Prefixes: []string{"releases"}}); err == nil {
		t.Error("a prefix that is not slash-led and slash-ended was accepted")
	}
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestStagedDirIsSkipped(t *testing.T) {
	testutil.RequireRoot(t, "the staged directory is readable by nginx's workers unless the test runs as root (workers run as nobody)")
	root := t.TempDir()
	scantest.Build(t, root)
	srv := nginx.Start(t, root, nginx.AccessLog())
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL()})
	if err != nil {
		t.Fatalf("scan failed on the staged directory: %v", err)
	}
	for _, e := range got {
		if strings.HasPrefix(e.Path, scantest.StagedDir+"/") {
			t.Errorf("staged content %q", e.Path)
		}
	}
	refused := "GET " + scantest.StagedDir + "/ 403"
	if _, ok := srv.Await(func(lines []string) bool { return containsString(lines, refused) }); !ok {
		t.Errorf("no 403 for GET %s/ in %q: the scan must have asked and been refused", scantest.StagedDir, srv.Requests())
	}
}

func TestBaseForbiddenIsAuth(t *testing.T) {
	testutil.RequireRoot(t, "needs nginx's workers to run as nobody (root test)")
	root := t.TempDir()
	srv := nginx.Start(t, root)
	if err := os.Chmod(root, 0o750); err != nil {
		t.Fatal(err)
	}
	_, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL()})
	if !errors.Is(err, scan.ErrAuth) {
		t.Fatalf("err = %v, want ErrAuth", err)
	}
}

func TestClosedPortIsUnreachable(t *testing.T) {
	addr := testutil.ClosedAddr(t)
	start := time.Now()
	_, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: "http://" + addr + "/pub/", Timeout: 5 * time.Second})
	if !errors.Is(err, scan.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v to notice a closed port", d)
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	addr := testutil.SilentServer(t)
	_, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: "http://" + addr + "/", Timeout: 300 * time.Millisecond})
	if !errors.Is(err, scan.ErrUnreachable) || !strings.Contains(err.Error(), "no I/O") {
		t.Fatalf("err = %v, want ErrUnreachable after the inactivity timeout", err)
	}
}

// buildWide makes n directories with a file each.
func buildWide(t *testing.T, root string, n int) {
	for i := range n {
		d := filepath.Join(root, fmt.Sprintf("d%03d", i))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServerStoppedMidCrawl(t *testing.T) {
	root := t.TempDir()
	buildWide(t, root, 200)
	srv := nginx.Start(t, root)
	var stopped atomic.Bool
	n := 0
	err := New(Options{Concurrency: 2, RequestsPerSecond: -1}).Scan(testCtx(t), scan.Target{URL: srv.URL(), Timeout: 5 * time.Second}, func(scan.Entry) error {
		n++
		if stopped.CompareAndSwap(false, true) {
			// The root's listing is in; 200 directories are still to come.
			if err := srv.Stop(); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err == nil {
		t.Fatalf("scan succeeded with %d entries after the server stopped", n)
	}
	if !errors.Is(err, scan.ErrTruncated) {
		t.Errorf("err = %v, want ErrTruncated", err)
	}
}

func TestDirectoryVanishesMidCrawl(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := nginx.Start(t, root)
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: srv.URL()}, func(e scan.Entry) error {
		if e.Path == "/repo/packages" {
			// Listed by its parent, gone before its own page is fetched.
			return os.RemoveAll(filepath.Join(root, "repo", "packages"))
		}
		return nil
	})
	if !errors.Is(err, scan.ErrTruncated) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want ErrTruncated for a 404", err)
	}
}

func TestEmitErrorStopsScan(t *testing.T) {
	root := t.TempDir()
	buildWide(t, root, 20)
	srv := nginx.Start(t, root)
	stop := errors.New("enough")
	calls := 0
	err := New(Options{}).Scan(testCtx(t), scan.Target{URL: srv.URL()}, func(scan.Entry) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err = %v after %d calls, want the emit error after 1", err, calls)
	}
}

func TestHugePageIsBadListing(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "huge"), 0o755); err != nil {
		t.Fatal(err)
	}
	// nginx serves a directory's index.html instead of its autoindex: a
	// mirror can send anything as a "listing".
	if err := os.WriteFile(filepath.Join(root, "huge", "index.html"), garbage(50<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := nginx.Start(t, root)
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL()})
	if !errors.Is(err, scan.ErrBadListing) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want ErrBadListing for a 50 MB page", err)
	}
	for _, e := range got {
		if strings.HasPrefix(e.Path, "/huge/") {
			t.Errorf("entry %q from the huge page", e.Path)
		}
	}
}

func TestSymlinkLoopFails(t *testing.T) {
	root := t.TempDir()
	if err := os.Symlink(".", filepath.Join(root, "loop")); err != nil {
		t.Fatal(err)
	}
	srv := nginx.Start(t, root)
	_, err := scantest.Collect(testCtx(t), New(Options{MaxDepth: 8, RequestsPerSecond: -1}), scan.Target{URL: srv.URL()})
	if !errors.Is(err, scan.ErrBadListing) || !strings.Contains(err.Error(), "symlink loop") {
		t.Fatalf("err = %v, want ErrBadListing for an endless tree", err)
	}
}

// nginxPage renders an nginx-style autoindex page for the fault-injection
// server below.
func nginxPage(names ...string) string {
	var b strings.Builder
	b.WriteString("<html>\r\n<head><title>Index</title></head>\r\n<body>\r\n<h1>Index</h1><hr><pre><a href=\"../\">../</a>\r\n")
	for _, n := range names {
		size := "5"
		if strings.HasSuffix(n, "/") {
			size = "-"
		}
		fmt.Fprintf(&b, "<a href=\"%s\">%s</a>    02-Jan-2026 03:04    %s\r\n", n, n, size)
	}
	b.WriteString("</pre><hr></body>\r\n</html>\r\n")
	return b.String()
}

// The one fault nginx cannot be made to produce on demand: a 5xx for one
// directory while the rest of the tree answers.
func TestServerErrorOnSubdirectory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pub/":
			fmt.Fprint(w, nginxPage("a/", "b/", "c/", "f"))
		case "/pub/a/", "/pub/c/":
			fmt.Fprint(w, nginxPage("x"))
		case "/pub/b/":
			http.Error(w, "backend down", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	got, err := scantest.Collect(testCtx(t), New(Options{}), scan.Target{URL: srv.URL + "/pub/"})
	if !errors.Is(err, scan.ErrTruncated) || !strings.Contains(err.Error(), "500") {
		t.Fatalf("err = %v (after %d entries), want ErrTruncated for the 500", err, len(got))
	}
}

func TestRedirects(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"pub", "pub/sub"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"pub/a", "pub/sub/b"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	srv := nginx.Start(t, root, nginx.AccessLog(),
		// A mirror that moved its tree: every old URL redirects.
		nginx.ServerDirectives(`location /moved/ { rewrite ^/moved/(.*)$ /pub/$1 permanent; }`),
		// Same machine, other host name: not ours to follow.
		nginx.ServerDirectives(`location = /away/ { return 302 http://localhost:$server_port/pub/; }`),
		nginx.ServerDirectives(`location = /loop/ { return 302 /loop/; }`))
	s := New(Options{RequestsPerSecond: -1})
	got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: srv.URL() + "moved/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Path != "/a" || got[1].Path != "/sub" || got[2].Path != "/sub/b" {
		t.Errorf("through a same-host redirect: %+v", got)
	}
	if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: srv.URL() + "away/"}); !errors.Is(err, scan.ErrBadListing) || !strings.Contains(err.Error(), "another host") {
		t.Errorf("redirect to another host: err = %v, want ErrBadListing", err)
	}
	if _, err := scantest.Collect(testCtx(t), s, scan.Target{URL: srv.URL() + "loop/"}); !errors.Is(err, scan.ErrBadListing) || !strings.Contains(err.Error(), "too many redirects") {
		t.Errorf("redirect loop: err = %v, want ErrBadListing", err)
	}
	hops := 0
	srv.Await(func(lines []string) bool {
		hops = 0
		for _, l := range lines {
			if l == "GET /loop/ 302" {
				hops++
			}
		}
		return hops >= maxRedirects+1
	})
	if hops != maxRedirects+1 {
		t.Errorf("%d requests in a redirect loop, want %d", hops, maxRedirects+1)
	}
}

func TestVerifyWithHEAD(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := nginx.Start(t, root, nginx.AccessLog())
	before := len(srv.Requests())
	big := "/releases/40/iso/Fedora-40-x86_64.iso"
	small := "/releases/40/iso/CHECKSUM"
	var got []scan.Entry
	err := New(Options{}).Verify(testCtx(t), scan.Target{URL: srv.URL()}, []string{big, "/releases/40/iso/missing.iso", small}, func(e scan.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{big: scantest.BigSize, small: 1543}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %d entries", got, len(want))
	}
	for _, e := range got {
		fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != scan.File || e.Size != want[e.Path] || e.Precision != time.Second ||
			!e.ModTime.Equal(fi.ModTime().UTC().Truncate(time.Second)) || e.ModTime.Location() != time.UTC {
			t.Errorf("%+v: want size %d, mtime %v at 1s", e, want[e.Path], fi.ModTime().UTC())
		}
	}
	lines, _ := srv.Await(func(lines []string) bool { return len(lines) >= before+3 })
	if len(lines) != before+3 {
		t.Errorf("%d requests for 3 paths: %q", len(lines)-before, lines[before:])
	}
	for _, line := range lines[before:] {
		if !strings.HasPrefix(line, "HEAD ") {
			t.Errorf("request %q, want HEAD only", line)
		}
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	err = New(Options{}).Verify(testCtx(t), scan.Target{URL: srv.URL()}, []string{small}, func(scan.Entry) error { return nil })
	if !errors.Is(err, scan.ErrUnreachable) {
		t.Errorf("verify against a stopped server: err = %v, want ErrUnreachable", err)
	}
}

func TestReadFile(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	srv := nginx.Start(t, root)
	s := New(Options{})
	tgt := scan.Target{URL: srv.URL()}
	want, err := os.ReadFile(filepath.Join(root, "README.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadFile(testCtx(t), tgt, "/README.txt", 1<<10)
	if err != nil || string(got) != string(want) {
		t.Fatalf("ReadFile = %q, %v; want %q", got, err, want)
	}
	got, err = s.ReadFile(testCtx(t), tgt, "/odd names/"+scantest.Latin1Name, 1<<10)
	if err != nil || len(got) != 9 {
		t.Errorf("ReadFile(Latin-1 name) = %q, %v", got, err)
	}
	if _, err := s.ReadFile(testCtx(t), tgt, "/no/such/file", 1<<10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadFile(testCtx(t), tgt, "/releases/40/iso/Fedora-40-x86_64.iso", 1<<10); !errors.Is(err, scan.ErrTruncated) {
		t.Errorf("a file over max: err = %v, want ErrTruncated", err)
	}
	if _, err := s.ReadFile(testCtx(t), tgt, "../etc/passwd", 1<<10); err == nil {
		t.Error("an unclean path was accepted")
	}
}

func TestBucketLimitsRate(t *testing.T) {
	b := newBucket(100, 2)
	ctx := testCtx(t)
	start := time.Now()
	for range 12 {
		if err := b.wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 2 from the burst, 10 at 100/s.
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Errorf("12 tokens in %v, want at least ~100ms", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := newBucket(0.001, 1).wait(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled wait: %v", err)
	}
	slow := newBucket(0.001, 1)
	_ = slow.wait(ctx)
	c2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := slow.wait(c2); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past deadline: %v", err)
	}
	if err := (*bucket)(nil).wait(ctx); err != nil {
		t.Errorf("nil bucket: %v", err)
	}
}

// The limit is per mirror host and shared by every scan of one Scanner.
func TestRateLimitIsPerHost(t *testing.T) {
	s := New(Options{RequestsPerSecond: 5})
	a1, _ := url.Parse("http://a.example.org/x/")
	a2, _ := url.Parse("http://A.example.org:80/y/")
	b, _ := url.Parse("http://b.example.org/")
	if s.bucket(a1) != s.bucket(a2) || s.bucket(a1) == s.bucket(b) {
		t.Error("buckets are not per host")
	}
}

func TestProtocol(t *testing.T) {
	if p := New(Options{}).Protocol(); p != "http" {
		t.Errorf("Protocol() = %q", p)
	}
	if p := New(Options{Protocol: "https"}).Protocol(); p != "https" {
		t.Errorf("Protocol() = %q", p)
	}
}

func TestBadTargets(t *testing.T) {
	s := New(Options{})
	for _, u := range []string{"ftp://x/", "http://x/no-slash", "http:///", "http://x/?q=1", "::"} {
		if err := s.Scan(testCtx(t), scan.Target{URL: u}, func(scan.Entry) error { return nil }); err == nil {
			t.Errorf("Scan(%q) accepted", u)
		}
	}
}

// countingTransport measures the client side of a scan against the real
// server: how many requests were in flight at once, and how many in all.
type countingTransport struct {
	inflight, peak, total atomic.Int32
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	n := c.inflight.Add(1)
	defer c.inflight.Add(-1)
	c.total.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	// Counted up to the headers only; a worker reads its page before it
	// can send another request, so the peak is still the workers' count.
	return http.DefaultTransport.RoundTrip(req)
}

func TestConcurrencyAndRateBounds(t *testing.T) {
	root := t.TempDir()
	buildWide(t, root, 60)
	srv := nginx.Start(t, root)
	ct := &countingTransport{}
	const rate = 100
	s := New(Options{Client: &http.Client{Transport: ct}, Concurrency: 3, RequestsPerSecond: rate})
	start := time.Now()
	got, err := scantest.Collect(testCtx(t), s, scan.Target{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if len(got) != 120 {
		t.Errorf("%d entries, want 120", len(got))
	}
	if p := ct.peak.Load(); p > 3 {
		t.Errorf("%d requests in flight at once, want at most 3", p)
	}
	// 61 requests, 3 of them from the burst, the rest at 100/s.
	if n := ct.total.Load(); n != 61 {
		t.Errorf("%d requests, want 61", n)
	}
	if floor := time.Duration(61-3) * time.Second / rate; elapsed < floor*9/10 {
		t.Errorf("61 requests in %v, faster than %d/s allows (%v)", elapsed, rate, floor)
	}
}
