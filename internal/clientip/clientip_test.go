package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func resolve(t *testing.T, r *Resolver, remote string, headers map[string][]string) string {
	t.Helper()
	req := httptest.NewRequest("GET", "/x", nil)
	req.RemoteAddr = remote
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	a, ok := r.Addr(req)
	if !ok {
		return "none"
	}
	return a.String()
}

func TestClientAddr(t *testing.T) {
	r, err := New([]string{"10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	xff := func(v ...string) map[string][]string { return map[string][]string{"X-Forwarded-For": v} }
	fwd := func(v ...string) map[string][]string { return map[string][]string{"Forwarded": v} }
	cases := []struct {
		name, remote string
		h            map[string][]string
		want         string
	}{
		{"direct client", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"untrusted peer cannot choose its address", "198.51.100.7:5000", xff("203.0.113.9"), "198.51.100.7"},
		{"untrusted peer, Forwarded ignored too", "198.51.100.7:5000", fwd("for=203.0.113.9"), "198.51.100.7"},
		{"trusted proxy", "10.1.2.3:80", xff("203.0.113.9"), "203.0.113.9"},
		{"spoofed entry left of the real client", "10.1.2.3:80", xff("1.2.3.4, 203.0.113.9"), "203.0.113.9"},
		{"two trusted proxies", "10.1.2.3:80", xff("203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"several header lines", "10.1.2.3:80", xff("1.2.3.4", "203.0.113.9, 10.9.9.9"), "203.0.113.9"},
		{"single trusted address", "192.0.2.1:80", xff("203.0.113.9"), "203.0.113.9"},
		{"neighbour of the trusted address", "192.0.2.2:80", xff("203.0.113.9"), "192.0.2.2"},
		{"only proxies in the chain", "10.1.2.3:80", xff("10.4.4.4"), "10.4.4.4"},
		{"garbage hop stops the walk", "10.1.2.3:80", xff("203.0.113.9, garbage"), "10.1.2.3"},
		{"garbage left of the client is ignored", "10.1.2.3:80", xff("garbage, 203.0.113.9"), "203.0.113.9"},
		{"no header from a proxy", "10.1.2.3:80", nil, "10.1.2.3"},
		{"ipv4 with port", "10.1.2.3:80", xff("203.0.113.9:4711"), "203.0.113.9"},
		{"ipv6 client via proxy", "[2001:db8:ffff::1]:80", xff("2001:db8:1::7"), "2001:db8:1::7"},
		{"mapped peer", "[::ffff:10.1.2.3]:80", xff("203.0.113.9"), "203.0.113.9"},
		{"Forwarded", "10.1.2.3:80", fwd(`for=192.0.2.60;proto=http;by=10.1.2.3`), "192.0.2.60"},
		{"Forwarded ipv6 with port", "10.1.2.3:80", fwd(`for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"Forwarded chain", "10.1.2.3:80", fwd(`for=1.2.3.4, for=203.0.113.9;proto=https`), "203.0.113.9"},
		{"Forwarded unknown", "10.1.2.3:80", fwd(`for=unknown`), "10.1.2.3"},
		{"Forwarded obfuscated", "10.1.2.3:80", fwd(`for=_hidden, for=10.5.5.5`), "10.5.5.5"},
		{"Forwarded wins over XFF", "10.1.2.3:80", map[string][]string{"Forwarded": {"for=203.0.113.9"}, "X-Forwarded-For": {"198.51.100.1"}}, "203.0.113.9"},
		{"Forwarded quoted comma", "10.1.2.3:80", fwd(`for=203.0.113.9;x="a,b"`), "203.0.113.9"},
		{"unparsable peer", "not-an-address", nil, "none"},
	}
	for _, c := range cases {
		if got := resolve(t, r, c.remote, c.h); got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestNoTrustedProxies(t *testing.T) {
	r, _ := New(nil)
	if got := resolve(t, r, "10.1.2.3:80", map[string][]string{"X-Forwarded-For": {"203.0.113.9"}}); got != "10.1.2.3" {
		t.Fatalf("headers read without trusted proxies: %s", got)
	}
}

func TestNewRejects(t *testing.T) {
	for _, bad := range []string{"", "10.0.0.0/33", "proxy.example.org", "10.0.0.0/8/8"} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzAddr(f *testing.F) {
	f.Add("203.0.113.9, 10.9.9.9", `for=192.0.2.60;proto=http`)
	f.Add("[::1]:80", `for="[2001:db8::1]:1"`)
	r, _ := New([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff, fwd string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = "10.0.0.1:80"
		req.Header.Set("X-Forwarded-For", xff)
		a, ok := r.Addr(req)
		if !ok || !a.IsValid() {
			t.Fatalf("no address for %q", xff)
		}
		req.Header.Set("Forwarded", fwd)
		if a, ok := r.Addr(req); !ok || !a.IsValid() {
			t.Fatalf("no address for Forwarded %q", fwd)
		}
		// An untrusted peer is always its own answer, whatever the headers.
		req.RemoteAddr = "198.51.100.1:80"
		if a, _ := r.Addr(req); a != netip.MustParseAddr("198.51.100.1") {
			t.Fatalf("untrusted peer replaced by %v", a)
		}
	})
}
