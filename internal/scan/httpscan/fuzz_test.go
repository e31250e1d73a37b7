package httpscan

import (
	"errors"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// fuzzParser checks what every parser promises on any input: no panic, and
// either an ErrBadListing or entries that are clean direct children.
func fuzzParser(f *testing.F, p parser, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add(garbage(4 << 10))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range []dir{testDir(t, "http://mirror.example.org/pub/", "/pub"), testDir(t, "https://m.example.org:8443/", "/")} {
			es, err := p(body, d)
			if err != nil {
				if !errors.Is(err, scan.ErrBadListing) {
					t.Fatalf("error %v is not ErrBadListing", err)
				}
				continue
			}
			checkEntries(t, es, d)
		}
	})
}

func seedFile(f *testing.F, name string) string { return string(readTestdata(f, name)) }

func FuzzParseNginx(f *testing.F) {
	fuzzParser(f, parseNginx, seedFile(f, "nginx.html"),
		"<pre><a href=\"%2e%2e/\">x</a> 02-Jan-2026 03:04 -\r\n</pre>",
		"<pre><a href=\"a\">a</a> 02-Jan-2026 03:04 99999999999999999999\r\n</pre>")
}

func FuzzParseNginxJSON(f *testing.F) {
	fuzzParser(f, parseNginxJSON, seedFile(f, "nginx.json"),
		`[{"name":"\ud800","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`[{"name":"x","type":"other","mtime":""}]`)
}

func FuzzParseApache(f *testing.F) {
	fuzzParser(f, parseApache, seedFile(f, "apache_table.html"), seedFile(f, "apache_list.html"))
	// The list form shares the fuzz target: its pages are Apache's too.
}

func FuzzParseApacheList(f *testing.F) {
	fuzzParser(f, parseApacheList, seedFile(f, "apache_list.html"))
}

func FuzzParseLighttpd(f *testing.F) {
	fuzzParser(f, parseLighttpd, seedFile(f, "lighttpd.html"))
}

// FuzzChildFastPath checks that child's shortcut for plain relative links
// agrees with resolving them as URLs.
func FuzzChildFastPath(f *testing.F) {
	for _, s := range []string{"a.txt", "sub/", "caf%E9.txt", "%2e%2e", "a%2Fb", "%zz", "a;b", "a&b", "~x", "a b", "%00"} {
		f.Add(s)
	}
	d := testDir(f, "http://mirror.example.org/pub/x%20y/", "/pub/x y")
	f.Fuzz(func(t *testing.T, href string) {
		n1, dir1, ok1, err1 := d.child(href)
		n2, dir2, ok2, err2 := d.resolve(strings.TrimSpace(href))
		if n1 != n2 || dir1 != dir2 || ok1 != ok2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("child(%q) = %q %v %v %v; resolve = %q %v %v %v", href, n1, dir1, ok1, err1, n2, dir2, ok2, err2)
		}
	})
}
