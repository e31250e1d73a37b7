package fileserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// contentTree is a small repository: packages, metadata, an image.
func contentTree(t *testing.T) (root string, data []byte) {
	t.Helper()
	root = t.TempDir()
	data = pattern(1 << 20)
	writeFile(t, filepath.Join(root, "iso/Fedora-40.iso"), data, 0o644)
	writeFile(t, filepath.Join(root, "repo/Packages/a-1.0-1.x86_64.rpm"), data[:70001], 0o644)
	writeFile(t, filepath.Join(root, "repo/repodata/repomd.xml"), []byte("<repomd/>\n"), 0o644)
	writeFile(t, filepath.Join(root, "repo/repodata/abc-primary.xml.zst"), data[:300], 0o644)
	writeFile(t, filepath.Join(root, "arch/core.db"), data[:500], 0o644)
	writeFile(t, filepath.Join(root, "arch/pacman-7.0-1-x86_64.pkg.tar.zst"), data[:900], 0o644)
	writeFile(t, filepath.Join(root, "debian/dists/stable/InRelease"), []byte("Origin: Debian\n"), 0o644)
	writeFile(t, filepath.Join(root, "debian/pool/main/h/hello_2.10-3_amd64.deb"), data[:2000], 0o644)
	writeFile(t, filepath.Join(root, "README.txt"), []byte("hello\n"), 0o644)
	writeFile(t, filepath.Join(root, "iso/Fedora-40.iso.asc"), []byte("-----BEGIN PGP SIGNATURE-----\n"), 0o644)
	return root, data
}

func TestRangesWithCurl(t *testing.T) {
	root, data := contentTree(t)
	ts := start(t, DefaultConfig(root))
	u := ts.URL + "/iso/Fedora-40.iso"
	dir := t.TempDir()
	out := filepath.Join(dir, "out")

	// One range.
	head := mustRun(t, "curl", "-sS", "-D", "-", "-o", out, "-r", "1000-1999", u)
	code, h := parseHead(t, head)
	got, _ := os.ReadFile(out)
	if code != 206 || !bytes.Equal(got, data[1000:2000]) || h.Get("Content-Range") != fmt.Sprintf("bytes 1000-1999/%d", len(data)) {
		t.Errorf("range: %d %v, %d bytes", code, h, len(got))
	}
	// Several: multipart/byteranges.
	head = mustRun(t, "curl", "-sS", "-D", "-", "-o", out, "-r", "0-9,100-199,5000-", u)
	code, h = parseHead(t, head)
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if code != 206 || err != nil || mt != "multipart/byteranges" {
		t.Fatalf("multi-range: %d %q %v", code, h.Get("Content-Type"), err)
	}
	body, _ := os.ReadFile(out)
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	wants := [][]byte{data[0:10], data[100:200], data[5000:]}
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			if i != len(wants) {
				t.Errorf("multi-range: %d parts, want %d", i, len(wants))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		if i >= len(wants) || !bytes.Equal(b, wants[i]) {
			t.Errorf("multi-range part %d: %d bytes, wrong content", i, len(b))
		}
	}
	// Past the end: 416.
	if code := mustRun(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "9999999-", u); code != "416" {
		t.Errorf("range past the end: %s, want 416", code)
	}

	// Validators: ETag, If-Range, If-None-Match, If-Modified-Since.
	_, h = parseHead(t, mustRun(t, "curl", "-sSI", u))
	etag := h.Get("ETag")
	if h.Get("Last-Modified") == "" || !strings.HasPrefix(etag, `"`) || h.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("HEAD: %v", h)
	}
	if h.Get("Content-Length") != strconv.Itoa(len(data)) {
		t.Errorf("HEAD Content-Length %q, want %d", h.Get("Content-Length"), len(data))
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", "0-9", "-H", "If-Range: " + etag}, "206"},
		{[]string{"-r", "0-9", "-H", `If-Range: "stale-etag"`}, "200"},
		{[]string{"-H", "If-None-Match: " + etag}, "304"},
		{[]string{"-z", h.Get("Last-Modified")}, "304"},
		{[]string{"-z", "Mon, 02 Jan 2006 15:04:05 GMT"}, "200"},
	} {
		args := append([]string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}, c.args...)
		if got := mustRun(t, "curl", append(args, u)...); got != c.want {
			t.Errorf("curl %v: %s, want %s", c.args, got, c.want)
		}
	}
}

func TestResumeWithCurlAndWget(t *testing.T) {
	root, data := contentTree(t)
	ts := start(t, DefaultConfig(root))
	u := ts.URL + "/iso/Fedora-40.iso"
	dir := t.TempDir()
	// A download that broke off after 300,001 bytes.
	for _, tool := range []string{"curl", "wget"} {
		p := filepath.Join(dir, tool+".iso")
		writeFile(t, p, data[:300001], 0o644)
		switch tool {
		case "curl":
			mustRun(t, "curl", "-sS", "-f", "-C", "-", "-o", p, u)
		case "wget":
			mustRun(t, "wget", "-q", "-c", "-O", p, u)
		}
		got, _ := os.ReadFile(p)
		if !bytes.Equal(got, data) {
			t.Errorf("%s resume: %d bytes, equal %v", tool, len(got), bytes.Equal(got, data))
		}
	}
	if n := ts.metric(t, "mirrorkit_fileserver_requests_total", "code=206"); n < 2 {
		t.Errorf("%v 206 answers, want the two resumes to be ranged", n)
	}
}

func TestLargeSparseFile(t *testing.T) {
	root := t.TempDir()
	const size = 5<<30 + 7
	tail := []byte("the last 16 byte")
	sparse(t, filepath.Join(root, "big.img"), size, tail)
	ts := start(t, DefaultConfig(root))
	u := ts.URL + "/big.img"
	_, h := parseHead(t, mustRun(t, "curl", "-sSI", u))
	if h.Get("Content-Length") != strconv.Itoa(size) {
		t.Errorf("HEAD Content-Length %q, want %d", h.Get("Content-Length"), size)
	}
	out := mustRun(t, "curl", "-sS", "-r", fmt.Sprintf("%d-", size-16), u)
	if out != string(tail) {
		t.Errorf("last 16 bytes: %q", out)
	}
	out = mustRun(t, "curl", "-sS", "-r", "-16", u)
	if out != string(tail) {
		t.Errorf("suffix range: %q", out)
	}
	// wget resuming 4 GiB in: ranges past 32 bits.
	p := filepath.Join(t.TempDir(), "big.img")
	sparse(t, p, size-100, []byte{0})
	mustRun(t, "wget", "-q", "-c", "-O", p, u)
	fi, _ := os.Stat(p)
	f, _ := os.Open(p)
	defer f.Close()
	got := make([]byte, 16)
	f.ReadAt(got, size-16)
	if fi.Size() != size || string(got) != string(tail) {
		t.Errorf("wget -c over 4 GiB: size %d, tail %q", fi.Size(), got)
	}
}

func TestContentTypesAndCaching(t *testing.T) {
	root, _ := contentTree(t)
	ts := start(t, DefaultConfig(root))
	const meta, day = "max-age=0, must-revalidate", "public, max-age=86400"
	for _, c := range []struct {
		path, ctype, cache string
		expiresNow         bool
	}{
		{"/iso/Fedora-40.iso", "application/octet-stream", day, false},
		{"/repo/Packages/a-1.0-1.x86_64.rpm", "application/octet-stream", day, false},
		{"/debian/pool/main/h/hello_2.10-3_amd64.deb", "application/octet-stream", day, false},
		{"/arch/pacman-7.0-1-x86_64.pkg.tar.zst", "application/octet-stream", day, false},
		{"/repo/repodata/repomd.xml", "application/xml", meta, true},
		{"/repo/repodata/abc-primary.xml.zst", "application/octet-stream", meta, true},
		{"/arch/core.db", "application/octet-stream", meta, true},
		{"/debian/dists/stable/InRelease", "text/plain; charset=utf-8", meta, true},
		{"/README.txt", "text/plain; charset=utf-8", "public, max-age=3600", false},
		{"/iso/Fedora-40.iso.asc", "application/pgp-signature", "public, max-age=3600", false},
		{"/iso/", "text/html; charset=utf-8", meta, true},
	} {
		before := time.Now().Add(-2 * time.Second)
		_, h := parseHead(t, mustRun(t, "curl", "-sSI", ts.URL+c.path))
		if h.Get("Content-Type") != c.ctype || h.Get("Cache-Control") != c.cache {
			t.Errorf("%s: Content-Type %q Cache-Control %q, want %q %q", c.path, h.Get("Content-Type"), h.Get("Cache-Control"), c.ctype, c.cache)
		}
		exp, err := http.ParseTime(h.Get("Expires"))
		switch {
		case c.expiresNow && (err != nil || exp.Before(before) || exp.After(time.Now().Add(2*time.Second))):
			t.Errorf("%s: Expires %q, want now", c.path, h.Get("Expires"))
		case !c.expiresNow && h.Get("Expires") != "":
			t.Errorf("%s: Expires %q, want none", c.path, h.Get("Expires"))
		}
	}
}

func TestTypeTableLongestSuffix(t *testing.T) {
	tt := newTypeTable(map[string]string{".zst": "a/zst", ".pkg.tar.zst": "a/pkg", "Release": "t/r", ".XML": "a/xml"}, "d/d")
	for name, want := range map[string]string{
		"x.pkg.tar.zst": "a/pkg", "x.tar.zst": "a/zst", "Release": "t/r", "release": "t/r",
		"REPOMD.XML": "a/xml", "x.Release": "d/d", "zst": "d/d", "": "d/d",
	} {
		if got := tt.lookup(name); got != want {
			t.Errorf("lookup(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestKeepAlive: one curl, many files, one connection; wget the same.
func TestKeepAlive(t *testing.T) {
	root, _ := contentTree(t)
	ts := start(t, DefaultConfig(root))
	urls := []string{"/README.txt", "/repo/repodata/repomd.xml", "/arch/core.db", "/iso/Fedora-40.iso", "/debian/dists/stable/InRelease"}
	args := []string{"-sS", "-f"}
	for _, u := range urls {
		args = append(args, "-o", "/dev/null", ts.URL+u)
	}
	mustRun(t, "curl", args...)
	if n := ts.metric(t, "mirrorkit_fileserver_connections_total"); n != 1 {
		t.Errorf("curl used %v connections for %d files, want 1", n, len(urls))
	}
	dir := t.TempDir()
	wargs := []string{"-q", "-P", dir}
	for _, u := range urls {
		wargs = append(wargs, ts.URL+u)
	}
	mustRun(t, "wget", wargs...)
	if n := ts.metric(t, "mirrorkit_fileserver_connections_total"); n != 2 {
		t.Errorf("wget used %v connections for %d files, want 1", n-1, len(urls))
	}
	if n := ts.metric(t, "mirrorkit_fileserver_requests_total"); n != 2*float64(len(urls)) {
		t.Errorf("%v requests, want %d", n, 2*len(urls))
	}
}

// TestIdleTimeout: an idle keep-alive connection is closed after
// IdleTimeout, and not before.
func TestIdleTimeout(t *testing.T) {
	root, _ := contentTree(t)
	cfg := DefaultConfig(root)
	cfg.IdleTimeout = 300 * time.Millisecond
	ts := start(t, cfg)
	c, err := net.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /README.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	idleSince := time.Now()
	if resp.Close {
		t.Fatal("server asked to close after the first response")
	}
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err = br.ReadByte()
	idle := time.Since(idleSince)
	if err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if idle < cfg.IdleTimeout-50*time.Millisecond {
		t.Errorf("closed after %v idle, before the idle timeout %v", idle, cfg.IdleTimeout)
	}
}

// TestPerIPLimit: with six connections open from 127.0.0.1, the seventh is
// answered 503 with Retry-After and closed; when one of the six goes, a new
// one is served.
func TestPerIPLimit(t *testing.T) {
	root, _ := contentTree(t)
	ts := start(t, DefaultConfig(root))
	var held []net.Conn
	for range 6 {
		c, err := net.Dial("tcp", ts.Addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	await(t, "six connections accepted", func() bool {
		return ts.metric(t, "mirrorkit_fileserver_active_connections") == 6
	})
	head := mustRun(t, "curl", "-sS", "-D", "-", "-o", "/dev/null", ts.URL+"/README.txt")
	code, h := parseHead(t, head)
	if code != 503 || h.Get("Retry-After") != "10" || !strings.EqualFold(h.Get("Connection"), "close") {
		t.Errorf("7th connection: %d %v, want 503 with Retry-After: 10 and Connection: close", code, h)
	}
	if n := ts.metric(t, "mirrorkit_fileserver_refusals_total", "reason=per_ip_limit"); n != 1 {
		t.Errorf("refusals{per_ip_limit} = %v, want 1", n)
	}
	// The six are served normally.
	fmt.Fprintf(held[0], "GET /README.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(held[0]), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("one of the six: %v %v", resp, err)
	}
	held[1].Close()
	held = append(held[:1], held[2:]...)
	await(t, "a slot to free up", func() bool {
		return ts.metric(t, "mirrorkit_fileserver_active_connections") == 5
	})
	if code := mustRun(t, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ts.URL+"/README.txt"); code != "200" {
		t.Errorf("after a slot freed: %s, want 200", code)
	}
}
