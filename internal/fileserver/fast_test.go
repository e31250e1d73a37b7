package fileserver

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawExchange sends raw bytes on a new connection and reads one answer.
func rawExchange(t *testing.T, addr, raw string, head bool) (*http.Response, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// addrOf turns a test server's URL into its address.
func addrOf(u string) string { return strings.TrimPrefix(u, "http://") }

// The fast path answers exactly as the net/http path does, for what it
// takes and for everything it hands over: the same status, headers (but the
// time-of-answer ones) and body. And it takes the plain requests only.
func TestFastPathMatchesNetHTTP(t *testing.T) {
	root, _ := contentTree(t)
	cfg := DefaultConfig(root)
	cfg.NoRange = []string{"*.db"}
	fast := start(t, cfg)
	ref := start(t, cfg, func(s *Server) { s.noFast = true })
	files := []string{"/README.txt", "/repo/repodata/repomd.xml", "/arch/core.db", "/debian/dists/stable/InRelease", "/iso/Fedora-40.iso.asc"}
	for _, ts := range []*testServer{fast, ref} {
		for _, f := range files { // fill the file caches
			if resp, _ := get(t, "GET", ts.URL+f); resp.StatusCode != 200 {
				t.Fatalf("%s: %d", f, resp.StatusCode)
			}
		}
	}
	type exchange struct {
		raw  string
		head bool
		fast bool // the fast path should answer it
	}
	ex := []exchange{
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\n\r\n", false, true},
		{"HEAD /README.txt HTTP/1.1\r\nHost: m\r\n\r\n", true, true},
		{"GET /repo/repodata/repomd.xml HTTP/1.1\r\nHost: m.example:8080\r\nUser-Agent: dnf/4.14\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n", false, true},
		{"GET /arch/core.db HTTP/1.1\r\nhost: m\r\nCONNECTION: close\r\n\r\n", false, true},
		{"GET /debian/dists/stable/InRelease HTTP/1.1\r\nHost: m\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n\r\n", false, true},
		{"GET /iso/Fedora-40.iso.asc HTTP/1.1\r\nHost: [::1]:80\r\nReferer: http://x/\r\n\r\n", false, true},
		// Handed over:
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nRange: bytes=0-2\r\n\r\n", false, false},
		{"GET /arch/core.db HTTP/1.1\r\nHost: m\r\nRange: bytes=0-2\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nIf-None-Match: *\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nIf-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT\r\n\r\n", false, false},
		{"GET /READ%4DE.txt HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"GET /README.txt?x=1 HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"GET /nope.txt HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"GET /repo/ HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"GET /repo//repodata/repomd.xml HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.0\r\nHost: m\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nHost: n\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nContent-Length: 3\r\n\r\nabc", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\nHost: m\n\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nX-Long: a\r\n b\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", false, false},
		{"get /README.txt HTTP/1.1\r\nHost: m\r\n\r\n", false, false},
		{"POST /README.txt HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nX-Custom: 1\r\n\r\n", false, false},
		{"GET /README.txt HTTP/1.1\r\nHost: m\r\nBad Name: 1\r\n\r\n", false, false},
	}
	for _, e := range ex {
		before := fast.fastAnswers.Load()
		fr, fb := rawExchange(t, addrOf(fast.URL), e.raw, e.head)
		took := fast.fastAnswers.Load() > before
		rr, rb := rawExchange(t, addrOf(ref.URL), e.raw, e.head)
		if took != e.fast {
			t.Errorf("%q: fast path took it: %v, want %v", e.raw, took, e.fast)
		}
		for _, h := range []http.Header{fr.Header, rr.Header} {
			h.Del("Date")
			if h.Get("Expires") != "" {
				h.Set("Expires", "(now)")
			}
		}
		if fr.StatusCode != rr.StatusCode || !reflect.DeepEqual(fr.Header, rr.Header) || !bytes.Equal(fb, rb) || fr.Close != rr.Close {
			t.Errorf("%q:\n fast %d close=%v %v %q\n  ref %d close=%v %v %q", e.raw, fr.StatusCode, fr.Close, fr.Header, fb, rr.StatusCode, rr.Close, rr.Header, rb)
		}
	}
	if ref.fastAnswers.Load() != 0 {
		t.Error("the reference server used the fast path")
	}
}

// Pipelined requests on one connection: answered in order, the fast path
// handing the connection to net/http at the first request it does not take.
func TestFastPathPipelineAndHandover(t *testing.T) {
	root, _ := contentTree(t)
	ts := start(t, DefaultConfig(root))
	get(t, "GET", ts.URL+"/README.txt")
	c, err := net.Dial("tcp", addrOf(ts.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	plain := "GET /README.txt HTTP/1.1\r\nHost: m\r\n\r\n"
	ranged := "GET /README.txt HTTP/1.1\r\nHost: m\r\nRange: bytes=1-2\r\n\r\n"
	before := ts.fastAnswers.Load()
	io.WriteString(c, plain+plain+ranged+plain)
	br := bufio.NewReader(c)
	for i, want := range []struct {
		code int
		body string
	}{{200, "hello\n"}, {200, "hello\n"}, {206, "el"}, {200, "hello\n"}} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want.code || string(b) != want.body {
			t.Fatalf("answer %d: %d %q, want %d %q", i, resp.StatusCode, b, want.code, want.body)
		}
	}
	if n := ts.fastAnswers.Load() - before; n != 2 {
		t.Fatalf("the fast path answered %d, want the two before the ranged request", n)
	}
	// The connection is net/http's now, and still alive.
	io.WriteString(c, plain)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the handover: %v", err)
	}
	if n := ts.metric(t, "mirrorkit_fileserver_connections_total"); n != 2 {
		t.Fatalf("%v connections, want 2 (the warm-up and this one)", n)
	}
}

// An idle fast connection is closed after IdleTimeout; Shutdown closes one
// at once.
func TestFastPathIdleAndShutdown(t *testing.T) {
	root, _ := contentTree(t)
	dial := func(ts *testServer) (net.Conn, *bufio.Reader) {
		get(t, "GET", ts.URL+"/README.txt") // into the cache
		c, err := net.Dial("tcp", addrOf(ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		before := ts.fastAnswers.Load()
		io.WriteString(c, "GET /README.txt HTTP/1.1\r\nHost: m\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 || ts.fastAnswers.Load() == before {
			t.Fatalf("first answer, on the fast path: %v", err)
		}
		io.ReadAll(resp.Body)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		return c, br
	}
	eof := func(br *bufio.Reader, what string) {
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("%s: %v, want EOF", what, err)
		}
	}

	cfg := DefaultConfig(root)
	cfg.IdleTimeout = 300 * time.Millisecond
	_, br := dial(start(t, cfg))
	began := time.Now()
	eof(br, "an idle connection")
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before the idle timeout", d)
	}

	cfg.IdleTimeout = time.Minute
	ts := start(t, cfg)
	_, br = dial(ts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began = time.Now()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(began); d > 2*time.Second {
		t.Fatalf("shutdown waited %v for an idle fast connection", d)
	}
	eof(br, "after shutdown, the idle connection")
}

// With an access log, the fast path writes the lines the net/http path
// would: the same fields and the same byte counts (%I, %O), also for a
// connection that it hands over halfway.
func TestFastPathAccessLog(t *testing.T) {
	root, _ := contentTree(t)
	logs := map[string]string{}
	servers := map[string]*testServer{}
	for _, name := range []string{"fast", "ref"} {
		cfg := DefaultConfig(root)
		cfg.AccessLog = filepath.Join(t.TempDir(), "access.log")
		logs[name] = cfg.AccessLog
		var opts []Option
		if name == "ref" {
			opts = append(opts, func(s *Server) { s.noFast = true })
		}
		servers[name] = start(t, cfg, opts...)
	}
	plain := "GET /README.txt HTTP/1.1\r\nHost: m\r\nUser-Agent: dnf/4 \"x\"\r\nReferer: http://r/\r\n\r\n"
	head := "HEAD /repo/repodata/repomd.xml HTTP/1.1\r\nHost: m\r\n\r\n"
	ranged := "GET /README.txt HTTP/1.1\r\nHost: m\r\nRange: bytes=1-2\r\n\r\n"
	lines := map[string][]string{}
	for name, ts := range servers {
		get(t, "GET", ts.URL+"/README.txt") // into the cache
		get(t, "GET", ts.URL+"/repo/repodata/repomd.xml")
		c, err := net.Dial("tcp", addrOf(ts.URL))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for _, raw := range []string{plain, head, ranged, plain} {
			io.WriteString(c, raw)
			resp, err := http.ReadResponse(br, &http.Request{Method: strings.Fields(raw)[0]})
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
		}
		c.Close()
		if name == "fast" && ts.fastAnswers.Load() < 2 {
			t.Fatalf("the fast path answered %d with the access log on", ts.fastAnswers.Load())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := ts.Shutdown(ctx); err != nil { // writes the last lines
			t.Fatal(err)
		}
		cancel()
		b, err := os.ReadFile(logs[name])
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(all) != 6 {
			t.Fatalf("%s: %d lines, want 6:\n%s", name, len(all), b)
		}
		// Lines are written as requests end, so the warm-up connection's
		// may come before or after; the raw connection's keep their order.
		for _, l := range all {
			if strings.Contains(l, "Go-http-client") {
				continue
			}
			// The time differs; everything else must not.
			l = regexp.MustCompile(`\[[^]]*\]`).ReplaceAllString(l, "[T]")
			lines[name] = append(lines[name], l)
		}
		if len(lines[name]) != 4 {
			t.Fatalf("%s: %d lines of the raw connection, want 4:\n%s", name, len(lines[name]), b)
		}
	}
	// A line that counted nothing would match too: the first GET's %I and
	// %O are its head's and its answer's sizes.
	f := strings.Fields(lines["fast"][0])
	if in, out := f[len(f)-4], f[len(f)-3]; in != strconv.Itoa(len(plain)) || out == "0" {
		t.Fatalf("first line's %%I %%O: %s %s, want %d and the answer's size: %q", in, out, len(plain), lines["fast"][0])
	}
	if !reflect.DeepEqual(lines["fast"], lines["ref"]) {
		t.Fatalf("access log lines differ:\nfast %q\n ref %q", lines["fast"], lines["ref"])
	}
}

func FuzzParseFast(f *testing.F) {
	for _, s := range []string{
		"GET /a HTTP/1.1\r\nHost: m\r\n\r\n", "HEAD /a/b.xml HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n",
		"GET /%2e%2e/x HTTP/1.1\r\nHost: m\r\n\r\n", "GET /a HTTP/1.1\r\nHost: m\r\n x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		var req fastRequest
		if !parseFast(head, &req) {
			return
		}
		// What it takes has a clean path and exactly one Host.
		if p, slash, ok := cleanPath(req.path); !ok || slash || p != req.path || strings.ContainsAny(req.path, "%?#\\") {
			t.Fatalf("took %q with path %q", head, req.path)
		}
		if bytes.Count(bytes.ToLower(head), []byte("\r\nhost:")) != 1 {
			t.Fatalf("took %q without exactly one Host", head)
		}
	})
}
