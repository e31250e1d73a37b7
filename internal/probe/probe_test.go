package probe

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/ftpd"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

func mirrorHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/pub/TIME", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("1767323045\n")) })
	mux.HandleFunc("/pub/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://elsewhere.example/", http.StatusFound)
	})
	return mux
}

func probeOne(t *testing.T, p *Prober, tg Target) Result {
	t.Helper()
	if tg.Family == 0 {
		tg.Family = IPv4
	}
	return p.Probe(context.Background(), tg)
}

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(mirrorHandler())
	defer srv.Close()
	p := &Prober{Timeout: 2 * time.Second}
	base := srv.URL + "/pub/"
	cases := []struct {
		name, url, path string
		ok              bool
		reason          string
	}{
		{"file there", base, "/TIME", true, ""},
		{"file missing", base, "/nope", false, "404 on /nope"},
		{"redirected away", base, "/moved", false, "302 to https://elsewhere.example/ on /moved"},
		{"nothing listening", "http://" + testutil.ClosedAddr(t) + "/pub/", "/TIME", false, "connection refused"},
		{"hangs", "http://" + testutil.SilentServer(t) + "/pub/", "/TIME", false, "timeout after"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := p
			if c.name == "hangs" {
				p = &Prober{Timeout: 300 * time.Millisecond}
			}
			r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.HTTP, URL: c.url, Path: c.path})
			if r.OK != c.ok || !strings.Contains(r.Reason, c.reason) || (c.ok && r.Reason != "") {
				t.Fatalf("got ok=%v reason %q, want ok=%v reason containing %q", r.OK, r.Reason, c.ok, c.reason)
			}
			if r.At.IsZero() || r.Latency <= 0 {
				t.Fatalf("no time or latency: %+v", r)
			}
		})
	}
}

func TestAddressFamilies(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mirrorHandler()}}
	srv.Start()
	defer srv.Close()
	p := &Prober{Timeout: 2 * time.Second}
	tg := Target{MirrorID: 1, Protocol: registry.HTTP, URL: srv.URL + "/pub/", Path: "/TIME", Family: IPv6}
	if r := p.Probe(context.Background(), tg); !r.OK {
		t.Fatalf("over IPv6: %+v", r)
	}
	tg.Family = IPv4
	if r := p.Probe(context.Background(), tg); r.OK || r.Reason == "" {
		t.Fatalf("an IPv6-only mirror probed over IPv4 passed: %+v", r)
	}
}

// certs makes a CA and leaf certificates for 127.0.0.1 signed by it.
type certs struct {
	pool *x509.CertPool
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t *testing.T) *certs {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "probe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &certs{pool: pool, ca: ca, key: key}
}

func (c *certs) leaf(t *testing.T, ip string, notAfter time.Time) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "mirror"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, IPAddresses: []net.IP{net.ParseIP(ip)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.ca, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestHTTPSCertificates(t *testing.T) {
	ca := newCA(t)
	serve := func(cert tls.Certificate) string {
		srv := httptest.NewUnstartedServer(mirrorHandler())
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		return srv.URL + "/pub/"
	}
	p := &Prober{Timeout: 2 * time.Second, RootCAs: ca.pool}
	for _, c := range []struct {
		name, url, reason string
	}{
		{"good", serve(ca.leaf(t, "127.0.0.1", time.Now().Add(time.Hour))), ""},
		{"expired", serve(ca.leaf(t, "127.0.0.1", time.Now().Add(-time.Hour))), "TLS certificate expired"},
		{"other name", serve(ca.leaf(t, "192.0.2.1", time.Now().Add(time.Hour))), "TLS certificate is not for 127.0.0.1"},
	} {
		r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.HTTPS, URL: c.url, Path: "/TIME"})
		if (c.reason == "") != r.OK || !strings.Contains(r.Reason, c.reason) {
			t.Errorf("%s: ok=%v reason %q, want %q", c.name, r.OK, r.Reason, c.reason)
		}
	}
	// The system pool does not know the test CA.
	r := probeOne(t, &Prober{Timeout: 2 * time.Second}, Target{MirrorID: 1, Protocol: registry.HTTPS,
		URL: serve(ca.leaf(t, "127.0.0.1", time.Now().Add(time.Hour))), Path: "/TIME"})
	if r.OK || !strings.Contains(r.Reason, "not trusted") {
		t.Errorf("unknown authority: %+v", r)
	}
	// An http server on an https URL.
	plain := httptest.NewServer(mirrorHandler())
	defer plain.Close()
	r = probeOne(t, p, Target{MirrorID: 1, Protocol: registry.HTTPS, URL: strings.Replace(plain.URL, "http:", "https:", 1) + "/pub/", Path: "/TIME"})
	if r.OK || !strings.Contains(r.Reason, "does not speak TLS") {
		t.Errorf("plain http on an https URL: %+v", r)
	}
}

func TestRsync(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "TIME"), []byte("1\n"), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: dir})
	p := &Prober{Timeout: 5 * time.Second}
	if r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.RSYNC, URL: d.URL("pub")}); !r.OK {
		t.Fatalf("module there: %+v", r)
	}
	r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.RSYNC, URL: d.URL("nope")})
	if r.OK || !strings.Contains(r.Reason, "Unknown module") {
		t.Fatalf("unknown module: %+v", r)
	}
	// An HTTP server where a daemon should be.
	web := httptest.NewServer(mirrorHandler())
	defer web.Close()
	r = probeOne(t, p, Target{MirrorID: 1, Protocol: registry.RSYNC, URL: "rsync://" + web.Listener.Addr().String() + "/pub/"})
	if r.OK {
		t.Fatalf("an HTTP server passed as an rsync daemon: %+v", r)
	}
	r = probeOne(t, p, Target{MirrorID: 1, Protocol: registry.RSYNC, URL: "rsync://" + testutil.ClosedAddr(t) + "/pub/"})
	if r.OK || r.Reason != "connection refused" {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestFTP(t *testing.T) {
	testutil.RequireTool(t, "pure-ftpd")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "TIME"), []byte("1\n"), 0o644)
	s := ftpd.Start(t, dir)
	p := &Prober{Timeout: 5 * time.Second}
	if r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.FTP, URL: s.URL(), Path: "/TIME"}); !r.OK {
		t.Fatalf("file there: %+v", r)
	}
	r := probeOne(t, p, Target{MirrorID: 1, Protocol: registry.FTP, URL: s.URL(), Path: "/nope"})
	if r.OK || !strings.Contains(r.Reason, "on /nope") {
		t.Fatalf("missing file: %+v", r)
	}
}

func TestTargetsFor(t *testing.T) {
	m := registry.NewMirror("m", "s")
	m.ID, m.IPv4, m.IPv6 = 7, true, true
	m.URLs = registry.URLs{HTTPS: "https://m.example/pub/", Rsync: "rsync://m.example/pub/"}
	got := TargetsFor(m, "/TIME")
	if len(got) != 4 || got[0].Protocol != registry.RSYNC || got[0].Family != IPv4 || got[1].Family != IPv6 ||
		got[2].Protocol != registry.HTTPS || got[3].Path != "/TIME" || got[3].MirrorID != 7 {
		t.Fatalf("targets %+v", got)
	}
	m.IPv6 = false
	if got := TargetsFor(m, "/TIME"); len(got) != 2 {
		t.Fatalf("IPv4 only: %+v", got)
	}
}
