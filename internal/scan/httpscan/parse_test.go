package httpscan

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

func testDir(tb testing.TB, rawURL, p string) dir {
	tb.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatal(err)
	}
	return dir{url: u, path: p}
}

func pubDir(tb testing.TB) dir { return testDir(tb, "http://mirror.example.org/pub/", "/pub") }

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

var (
	t0304   = time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)
	t030405 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tNYE    = time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC)
	tNYEs   = time.Date(2025, 12, 31, 23, 59, 59, 0, time.UTC)
)

const longName = "Fedora-Workstation-Live-x86_64-40-1.14-very-long-name.iso"

func file(p string, size int64, mt time.Time, prec time.Duration) scan.Entry {
	return scan.Entry{Path: p, Type: scan.File, Size: size, ModTime: mt, Precision: prec}
}

func dirEntry(p string, mt time.Time, prec time.Duration) scan.Entry {
	return scan.Entry{Path: p, Type: scan.Dir, ModTime: mt, Precision: prec}
}

// checkEntries holds for everything a parser accepts: clean paths, direct
// children of the listed directory, no duplicates, UTC times, sane types.
func checkEntries(tb testing.TB, es []scan.Entry, d dir) {
	tb.Helper()
	seen := map[string]bool{}
	for _, e := range es {
		if c, err := scan.CleanPath(e.Path); err != nil || c != e.Path {
			tb.Fatalf("unclean path %q", e.Path)
		}
		parent := e.Path[:strings.LastIndexByte(e.Path, '/')]
		if parent == "" {
			parent = "/"
		}
		if parent != d.path || e.Path == d.path {
			tb.Fatalf("%q is not a direct child of %q", e.Path, d.path)
		}
		if seen[e.Path] {
			tb.Fatalf("%q twice", e.Path)
		}
		seen[e.Path] = true
		if e.Type != scan.File && e.Type != scan.Dir {
			tb.Fatalf("%q: type %v", e.Path, e.Type)
		}
		if e.Size < -1 {
			tb.Fatalf("%q: size %d", e.Path, e.Size)
		}
		if !e.ModTime.IsZero() && e.ModTime.Location() != time.UTC {
			tb.Fatalf("%q: time %v not UTC", e.Path, e.ModTime)
		}
	}
}

func sorted(es []scan.Entry) []scan.Entry {
	out := slices.Clone(es)
	slices.SortFunc(out, func(a, b scan.Entry) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func diffEntries(t *testing.T, got, want []scan.Entry) {
	t.Helper()
	got, want = sorted(got), sorted(want)
	for i := 0; i < max(len(got), len(want)); i++ {
		switch {
		case i >= len(got):
			t.Errorf("missing %+v", want[i])
		case i >= len(want):
			t.Errorf("extra %+v", got[i])
		case got[i] != want[i]:
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestParseGolden(t *testing.T) {
	m, s := time.Minute, time.Second
	tests := []struct {
		file  string
		parse parser
		kind  string
		want  []scan.Entry
	}{
		{"nginx.html", parseNginx, "nginx", []scan.Entry{
			dirEntry("/pub/a:b", t0304, m),
			dirEntry("/pub/empty", t0304, m),
			dirEntry("/pub/sub", t0304, m),
			dirEntry("/pub/sublink", t0304, m),
			file("/pub/"+longName, 4, t0304, m),
			file("/pub/a.txt", 5, t0304, m),
			file("/pub/big.iso", 4294979641, tNYE, m),
			file("/pub/caf\xe9.txt", 1, t0304, m),
			file("/pub/link", 5, t0304, m),
			file("/pub/percent%20and#hash?.txt", 3, t0304, m),
			file("/pub/with spaces & more.txt", 2, t0304, m),
			file("/pub/ünïcødé-日本.txt", 4, t0304, m),
		}},
		{"nginx.json", parseNginxJSON, "nginx-json", []scan.Entry{
			dirEntry("/pub/a:b", t030405, s),
			dirEntry("/pub/empty", t030405, s),
			dirEntry("/pub/sub", t030405, s),
			dirEntry("/pub/sublink", t030405, s),
			file("/pub/"+longName, 4, t030405, s),
			file("/pub/a.txt", 5, t030405, s),
			file("/pub/big.iso", 4294979641, tNYEs, s),
			file("/pub/caf\xe9.txt", 1, t030405, s),
			file("/pub/link", 5, t030405, s),
			file("/pub/percent%20and#hash?.txt", 3, t030405, s),
			file("/pub/with spaces & more.txt", 2, t030405, s),
			file("/pub/ünïcødé-日本.txt", 4, t030405, s),
		}},
		{"apache_table.html", parseApache, "apache-table", []scan.Entry{
			file("/pub/"+longName, -1, t0304, m),
			dirEntry("/pub/a:b", t0304, m),
			file("/pub/a.txt", 5, t0304, m),
			file("/pub/big.iso", -1, tNYE, m),
			file("/pub/caf\xe9.txt", 1, t0304, m),
			dirEntry("/pub/empty", t0304, m),
			file("/pub/libfoo-1.0.tar.xz", -1, t0304, m),
			file("/pub/percent%20and#hash?.txt", 3, t0304, m),
			dirEntry("/pub/sub", t0304, m),
			file("/pub/with spaces & more.txt", 2, t0304, m),
			file("/pub/ünïcødé-日本.txt", 4, t0304, m),
		}},
		{"apache_list.html", parseApacheList, "apache-list", []scan.Entry{
			file("/pub/"+longName, -1, time.Time{}, 0),
			dirEntry("/pub/a:b", time.Time{}, 0),
			file("/pub/a.txt", -1, time.Time{}, 0),
			file("/pub/caf\xe9.txt", -1, time.Time{}, 0),
			dirEntry("/pub/empty", time.Time{}, 0),
			file("/pub/percent%20and#hash?.txt", -1, time.Time{}, 0),
			dirEntry("/pub/sub", time.Time{}, 0),
			file("/pub/with spaces & more.txt", -1, time.Time{}, 0),
		}},
		{"lighttpd.html", parseLighttpd, "lighttpd", []scan.Entry{
			dirEntry("/pub/a:b", t030405, s),
			dirEntry("/pub/empty", t030405, s),
			dirEntry("/pub/sub", t030405, s),
			file("/pub/"+longName, -1, t030405, s),
			file("/pub/a.txt", -1, t030405, s),
			file("/pub/big.iso", -1, tNYEs, s),
			file("/pub/caf\xe9.txt", -1, t030405, s),
			file("/pub/percent%20and#hash?.txt", -1, t030405, s),
			file("/pub/with spaces & more.txt", -1, t030405, s),
			file("/pub/ünïcødé-日本.txt", -1, t030405, s),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			body := readTestdata(t, tc.file)
			ct := "text/html"
			if strings.HasSuffix(tc.file, ".json") {
				ct = "application/json"
			}
			if _, kind, err := sniff(ct, body); err != nil || kind != tc.kind {
				t.Errorf("sniff = %q, %v; want %q", kind, err, tc.kind)
			}
			d := pubDir(t)
			got, err := tc.parse(body, d)
			if err != nil {
				t.Fatal(err)
			}
			checkEntries(t, got, d)
			diffEntries(t, got, tc.want)
		})
	}
}

// The dates Apache 2.2 and IndexOptions-less servers print, and the
// description column's free text, which must not be read as a size.
func TestParseApacheOldDates(t *testing.T) {
	page := `<html><head><title>Index of /pub</title></head><body><h1>Index of /pub</h1>
<table><tr><th><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr><tr><th colspan="5"><hr></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[DIR]"></td><td><a href="/">Parent Directory</a></td><td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/folder.gif" alt="[DIR]"></td><td><a href="beep/">beep/</a>           </td><td align="right">02-Jan-2026 03:04  </td><td align="right">  - </td><td>&nbsp;</td></tr>
<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="x.bin">x.bin</a></td><td align="right">31-Dec-2025 23:59  </td><td align="right">120 </td><td>12</td></tr>
<tr><th colspan="5"><hr></th></tr>
</table>
</body></html>`
	d := pubDir(t)
	got, err := parseApache([]byte(page), d)
	if err != nil {
		t.Fatal(err)
	}
	diffEntries(t, got, []scan.Entry{
		dirEntry("/pub/beep", t0304, time.Minute),
		file("/pub/x.bin", 120, tNYE, time.Minute),
	})
}

// Apache's FancyIndexing without HTMLTable: a <pre> like nginx's, with icons
// before the links and a description after the size.
func TestParseApachePre(t *testing.T) {
	page := `<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html>
 <head>
  <title>Index of /pub/fedora/linux/releases</title>
 </head>
 <body>
<h1>Index of /pub/fedora/linux/releases</h1>
<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>                    <a href="?C=M;O=A">Last modified</a>      <a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr><img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="/pub/fedora/linux/">Parent Directory</a>                             -   
<img src="/icons/folder.gif" alt="[DIR]"> <a href="40/">40/</a>                     2026-01-02 03:04    -   
<img src="/icons/unknown.gif" alt="[   ]"> <a href="Fedora-Workstation-Live-x86_64-40-1.14-very-long-name.iso">Fedora-Workstation-L..&gt;</a> 2025-12-31 23:59  2.1G  Live image, 64-bit
<img src="/icons/text.gif" alt="[TXT]"> <a href="README">README</a>                  2026-01-02 03:04  120   
<hr></pre>
<address>Apache/2.4.62 (Debian) Server at mirror.example.org Port 80</address>
</body></html>
`
	d := testDir(t, "http://mirror.example.org/pub/fedora/linux/releases/", "/releases")
	parse, kind, err := sniff("text/html;charset=ISO-8859-1", []byte(page))
	if err != nil || kind != "nginx" {
		t.Fatalf("sniff = %q, %v", kind, err)
	}
	got, err := parse([]byte(page), d)
	if err != nil {
		t.Fatal(err)
	}
	diffEntries(t, got, []scan.Entry{
		dirEntry("/releases/40", t0304, time.Minute),
		file("/releases/"+longName, -1, tNYE, time.Minute),
		file("/releases/README", 120, t0304, time.Minute),
	})
}

func TestSniffRejectsOtherPages(t *testing.T) {
	for _, page := range []string{
		"",
		"<html><body><h1>Welcome to our mirror</h1><p><a href=\"fedora/\">Fedora</a></p></body></html>",
		"User-agent: *\nDisallow: /\n",
	} {
		if _, kind, err := sniff("text/html", []byte(page)); !errors.Is(err, scan.ErrBadListing) {
			t.Errorf("sniff(%.40q) = %q, %v; want ErrBadListing", page, kind, err)
		}
	}
}

// Hostile pages: links that climb out, point elsewhere or smuggle bytes in
// never become entries.
func TestParseHostile(t *testing.T) {
	d := testDir(t, "http://mirror.example.org/pub/", "/pub")
	row := func(href string) string {
		return `<a href="` + href + `">x</a>  02-Jan-2026 03:04  5` + "\r\n"
	}
	page := func(rows ...string) []byte {
		return []byte("<html><body><h1>Index of /pub/</h1><hr><pre>" + strings.Join(rows, "") + "</pre><hr></body></html>")
	}
	ignored := []string{
		"../", "../../etc/passwd", "/etc/passwd", "http://evil.example.com/pub/x", "https://mirror.example.org/pub/x",
		"http://mirror.example.org:8080/pub/x", "//evil.example.com/pub/x", "?C=N;O=D", "x?download=1", "#top",
		"sub/deeper", "sub//", "javascript:alert(1)", "mailto:root@example.org", "http://user@mirror.example.org/pub/x",
		"./", "", "%zz", "/pub/../etc/passwd",
	}
	for _, href := range ignored {
		es, err := parseNginx(page(row(href)), d)
		if err != nil || len(es) != 0 {
			t.Errorf("href %q: got %v, %v; want it ignored", href, es, err)
		}
	}
	bad := []string{"%00", "a%00b", "%2e%2e/", "%2E%2E", "a%2Fb", ".%2e/", "%2e"}
	for _, href := range bad {
		es, err := parseNginx(page(row(href)), d)
		if !errors.Is(err, scan.ErrBadListing) || es != nil {
			t.Errorf("href %q: got %v, %v; want ErrBadListing", href, es, err)
		}
	}
	// An absolute link to the same directory on the same host is a child.
	es, err := parseNginx(page(row("http://MIRROR.example.org:80/pub/ok")), d)
	if err != nil || len(es) != 1 || es[0].Path != "/pub/ok" {
		t.Errorf("absolute same-host link: %v, %v", es, err)
	}

	for _, js := range []string{
		`[{"name":"../x","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`[{"name":"..","type":"directory","mtime":"Fri, 02 Jan 2026 03:04:05 GMT"}]`,
		`[{"name":"a\u0000b","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`[{"name":"a/b","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`[{"name":"","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`[{"name":"x","type":"file","mtime":"yesterday","size":1}]`,
		`[{"name":"x","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":-5}]`,
		`[{"name":7,"type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}]`,
		`{"name":"x"}`,
		`[{"name":"x","type":"file","mtime":"Fri, 02 Jan 2026 03:04:05 GMT","size":1}`,
	} {
		if es, err := parseNginxJSON([]byte(js), d); !errors.Is(err, scan.ErrBadListing) || es != nil {
			t.Errorf("JSON %s: got %v, %v; want ErrBadListing", js, es, err)
		}
	}
}

// garbage is size bytes of listing fragments and noise, deterministic, so
// parsers see half-formed rows, stray tags and bad escapes in every order.
func garbage(size int) []byte {
	frags := []string{
		`<a href="`, `">`, `</a>`, `../`, `%00`, `%2e%2e/`, `%E9`, `x`, `sub/`, `//evil.example/`, `?C=N;O=D`,
		"  02-Jan-2026 03:04  ", "4294979641\r\n", "-\r\n", "4.0G", `<pre>`, `</pre>`, `<tr>`, `</tr>`,
		`<td class="n">`, `<td class="m">`, `<td class="s">`, `</td>`, `<td>`, "2026-Jan-02 03:04:05",
		"2026-01-02 03:04", `<ul>`, `<li>`, `</li>`, `[{"name":"`, `","type":"file","mtime":"`, `"}]`,
		"Fri, 02 Jan 2026 03:04:05 GMT", "\x00", "\xff\xfe", "&amp;", "&#0;", "<!--", "-->",
	}
	var b bytes.Buffer
	x := uint32(2463534242)
	for b.Len() < size {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b.WriteString(frags[x%uint32(len(frags))])
	}
	return b.Bytes()
}

func TestParseGarbage(t *testing.T) {
	size := 8 << 20
	if testing.Short() {
		size = 1 << 20
	}
	g := garbage(size)
	d := pubDir(t)
	for name, p := range map[string]parser{"nginx": parseNginx, "json": parseNginxJSON, "apache": parseApache, "list": parseApacheList, "lighttpd": parseLighttpd} {
		es, err := p(g, d)
		if err == nil {
			checkEntries(t, es, d)
		} else if !errors.Is(err, scan.ErrBadListing) {
			t.Errorf("%s: error %v is not ErrBadListing", name, err)
		}
	}
}

func TestUnquoteJSON(t *testing.T) {
	for raw, want := range map[string]string{
		`"plain"`:           "plain",
		"\"caf\xe9\"":       "caf\xe9",
		`"a\"b\\c\/d"`:      `a"b\c/d`,
		`"\u00e9\u65e5"`:    "é日",
		`"\ud83d\ude00"`:    "😀",
		`"\ud83d"`:          "\ufffd",
		`"tab\tnl\n\u0001"`: "tab\tnl\n\x01",
	} {
		got, err := unquoteJSON([]byte(raw))
		if err != nil || got != want {
			t.Errorf("unquoteJSON(%s) = %q, %v; want %q", raw, got, err, want)
		}
	}
	for _, raw := range []string{`"\x"`, `"\u12"`, `"\`, `x`, `""x`} {
		if _, err := unquoteJSON([]byte(raw)); err == nil && raw != `""x` {
			t.Errorf("unquoteJSON(%s) accepted", raw)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"-": -1, "  - ": -1, "4294979641": 4294979641, " 14 ": 14, "4.0G": -1, "1.2K": -1, "0.1K": -1, "303.1K": -1, "12M": -1} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"abc", "G", "1.2.3K", "99999999999999999999999"} {
		if _, ok := parseSize(in); ok {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestParseDuplicateNames(t *testing.T) {
	page := "<pre><a href=\"a\">a</a> 02-Jan-2026 03:04 1\r\n<a href=\"a\">a</a> 02-Jan-2026 03:05 2\r\n</pre>"
	es, err := parseNginx([]byte(page), pubDir(t))
	if err != nil || len(es) != 1 || es[0].Size != 1 {
		t.Errorf("got %v, %v; want the first of two", es, err)
	}
}

func TestNginxRowWithoutColumns(t *testing.T) {
	page := "<pre><a href=\"a\">a</a>\r\n</pre>"
	if _, err := parseNginx([]byte(page), pubDir(t)); !errors.Is(err, scan.ErrBadListing) {
		t.Errorf("err = %v, want ErrBadListing", err)
	}
}
