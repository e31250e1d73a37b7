package redirector

import (
	"net/url"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	good := map[string]string{
		"/":                     "/",
		"/pub/x.iso":            "/pub/x.iso",
		"/pub/dir/":             "/pub/dir",
		"/pub/with%20space.iso": "/pub/with space.iso",
		"/pub/%C3%BC.iso":       "/pub/ü.iso",
		"/pub/a%2Bb.iso":        "/pub/a+b.iso",
		"/pub/percent%2525.iso": "/pub/percent%25.iso",
	}
	for in, want := range good {
		u, _ := url.Parse(in)
		if got, _, err := cleanPath(u); err != nil || got != want {
			t.Errorf("cleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{
		"/../etc/passwd", "/pub/../../etc", "/pub/%2e%2e/etc", "/pub/%2E%2E%2Fetc", "/pub/./x", "/pub//x",
		"/pub/x%00.iso", "/pub/%ff.iso", "/pub/a%5c..%5cb", "/pub/%0d%0aSet-Cookie:x", "/pub/%", "/" + strings.Repeat("a", 5000),
	} {
		u, err := url.Parse(in)
		if err != nil {
			continue // the server never gets this far
		}
		if p, _, err := cleanPath(u); err == nil {
			t.Errorf("cleanPath(%q) accepted as %q", in, p)
		}
	}
}

func TestEscapePath(t *testing.T) {
	if got := escapePath("/pub/with space/ü#?.iso"); got != "/pub/with%20space/%C3%BC%23%3F.iso" {
		t.Fatalf("escapePath = %q", got)
	}
	// The fast path for paths needing no escapes agrees with escaping every
	// segment, byte by byte.
	for c := 0; c < 256; c++ {
		p := "/a" + string([]byte{byte(c)}) + "b/c.iso"
		segs := strings.Split(p, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		if got, want := escapePath(p), strings.Join(segs, "/"); got != want {
			t.Errorf("byte %#x: escapePath = %q, want %q", c, got, want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/pub/x.iso", "/%2e%2e/", "/a/b/", "/a%00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		p, _, err := cleanPath(u)
		if err != nil {
			return
		}
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.Contains(p, "\x00") {
			t.Fatalf("accepted %q as %q", raw, p)
		}
	})
}
