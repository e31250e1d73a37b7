package fileserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/httpscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
)

func TestTLSHTTP2AndCertificateReload(t *testing.T) {
	root, data := contentTree(t)
	dir := t.TempDir()
	cfg := DefaultConfig(root)
	cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cfg.AccessLog = filepath.Join(dir, "access.log")
	selfSigned(t, cfg.CertFile, cfg.KeyFile, 1)
	ts := start(t, cfg)

	out := filepath.Join(dir, "out")
	for _, c := range []struct{ flag, want string }{{"--http2", "2"}, {"--http1.1", "1.1"}} {
		v := mustRun(t, "curl", "-sS", "-f", c.flag, "--cacert", cfg.CertFile, "-o", out, "-w", "%{http_version}", ts.TLSURL+"/iso/Fedora-40.iso")
		got, _ := os.ReadFile(out)
		if v != c.want || !bytes.Equal(got, data) {
			t.Errorf("curl %s: HTTP/%s, %d bytes, want HTTP/%s and the file", c.flag, v, len(got), c.want)
		}
	}
	// Ranges over HTTP/2 too.
	if got := mustRun(t, "curl", "-sS", "--http2", "--cacert", cfg.CertFile, "-r", "5-9", ts.TLSURL+"/iso/Fedora-40.iso"); got != string(data[5:10]) {
		t.Errorf("HTTP/2 range: %q", got)
	}
	// HTTP/2 requests are logged too (with computed sizes).
	lines := awaitLines(t, cfg.AccessLog, 3)
	// (curl may hang up as soon as it has Content-Length bytes, before the
	// handler's last write is acknowledged: that write then counts as not
	// sent, so %b may fall short by one write.)
	if got := parseLog(t, lines[0]); got.request != "GET /iso/Fedora-40.iso HTTP/2.0" || got.body <= int64(len(data))-64<<10 || got.body > int64(len(data)) || got.out <= got.body {
		t.Errorf("HTTP/2 log line: %+v", got)
	}
	// HTTP/1.1 over TLS counts the wire: more than the plain bytes.
	if got := parseLog(t, lines[1]); got.out <= got.body || got.in == 0 {
		t.Errorf("HTTP/1.1 over TLS log line: %+v", got)
	}

	serial := func() int64 {
		ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
		defer cancel()
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}
		c, err := d.DialContext(ctx, "tcp", strings.TrimPrefix(ts.TLSURL, "https://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serial %d, want 1", s)
	}
	// A broken pair (new certificate, old key) keeps the old one in service.
	selfSigned(t, cfg.CertFile, filepath.Join(dir, "other-key.pem"), 3)
	await(t, "the broken pair to be tried", func() bool {
		return ts.metric(t, "mirrorkit_fileserver_tls_reloads_total", "result=error") >= 1 || serial() != 1
	})
	if s := serial(); s != 1 {
		t.Fatalf("after a broken renewal: serial %d, want the old 1", s)
	}
	// A proper renewal is picked up without a restart.
	selfSigned(t, cfg.CertFile, cfg.KeyFile, 2)
	await(t, "the renewed certificate", func() bool { return serial() == 2 })
	if n := ts.metric(t, "mirrorkit_fileserver_tls_reloads_total", "result=ok"); n != 1 {
		t.Errorf("tls_reloads_total{ok} = %v, want 1", n)
	}
}

// TestSendfile proves the plain-HTTP file path ends in TCPConn.ReadFrom
// with the file itself (sendfile(2)) through every wrapper, and that the
// counter behind this proof does not count what did not go that way.
func TestSendfile(t *testing.T) {
	root := t.TempDir()
	const size = 8 << 20
	writeFile(t, filepath.Join(root, "f.img"), pattern(size), 0o644)
	dir := t.TempDir()
	cfg := DefaultConfig(root)
	cfg.CertFile, cfg.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cfg.AccessLog = filepath.Join(dir, "access.log") // the logging path must keep sendfile too
	selfSigned(t, cfg.CertFile, cfg.KeyFile, 1)
	ts := start(t, cfg)
	mustRun(t, "curl", "-sS", "-f", "-o", "/dev/null", ts.URL+"/f.img")
	// net/http writes the first 512 bytes itself, then hands over the rest.
	if n := ts.sendfileBytes.Load(); n < size-512 || n > size {
		t.Errorf("sendfile carried %d bytes of a %d-byte file", n, size)
	}
	before := ts.sendfileBytes.Load()
	mustRun(t, "curl", "-sS", "-f", "--http1.1", "--cacert", cfg.CertFile, "-o", "/dev/null", ts.TLSURL+"/f.img")
	mustRun(t, "curl", "-sS", "-f", "-o", "/dev/null", "-r", "0-99,200-299", ts.URL+"/f.img")
	if n := ts.sendfileBytes.Load(); n != before {
		t.Errorf("TLS and multipart responses went through sendfile (%d bytes)?", n-before)
	}
	if n := ts.metric(t, "mirrorkit_fileserver_sent_bytes_total"); n < 2*size {
		t.Errorf("sent_bytes_total %v after two full downloads of %d", n, size)
	}
}

// TestHTTPScanReadsOurListings runs mirrorkit's own HTTP scanner against the
// server, on the scanners' conformance tree, in both formats.
func TestHTTPScanReadsOurListings(t *testing.T) {
	root := t.TempDir()
	scantest.Build(t, root)
	cfg := DefaultConfig(root)
	// Two scanners with their own connection pools, one after the other,
	// from one address: the per-IP cap is not what this test is about.
	cfg.MaxConnsPerIP = 0
	ts := start(t, cfg)
	for _, c := range []struct {
		name   string
		accept string // "" keeps the scanner's own (it prefers JSON)
		caps   scantest.Caps
	}{
		{"json", "", scantest.Caps{Precision: time.Second, DirTimes: true, ExactSizes: true}},
		{"html", "text/html", scantest.Caps{Precision: time.Minute, DirTimes: true, ExactSizes: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tr http.RoundTripper = http.DefaultTransport.(*http.Transport).Clone()
			if c.accept != "" {
				tr = acceptRewriter{tr, c.accept}
			}
			s := httpscan.New(httpscan.Options{Client: &http.Client{Transport: tr}, RequestsPerSecond: -1})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			got, err := scantest.Collect(ctx, s, scan.Target{URL: ts.URL + "/", Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			scantest.Check(t, got, scantest.Want(t, root, c.caps), c.caps)
			if len(got) < 15 {
				t.Errorf("only %d entries", len(got))
			}
		})
	}
}

type acceptRewriter struct {
	http.RoundTripper
	accept string
}

func (a acceptRewriter) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Accept", a.accept)
	return a.RoundTripper.RoundTrip(r)
}
