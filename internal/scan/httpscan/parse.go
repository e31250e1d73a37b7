package httpscan

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// dir is the directory a page lists: the URL the page came from (after
// redirects), against which its links resolve, and its catalog path.
type dir struct {
	url  *url.URL
	path string // clean, slash-led; "/" for the base
}

// parser turns one index page into entries of the directory it lists. Every
// entry's Path is CleanPath-clean and a direct child of d.path.
type parser func(body []byte, d dir) ([]scan.Entry, error)

// sniffWindow is how much of a page sniff looks at: every format announces
// itself in its first lines.
const sniffWindow = 16 << 10

// sniff picks the parser for a page from its Content-Type and first bytes.
func sniff(contentType string, body []byte) (parser, string, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if strings.HasPrefix(strings.ToLower(contentType), "application/json") || bytes.HasPrefix(trimmed, []byte("[")) {
		return parseNginxJSON, "nginx-json", nil
	}
	head := bytes.ToLower(body[:min(len(body), sniffWindow)])
	switch {
	case bytes.Contains(head, []byte(`summary="directory listing"`)) || bytes.Contains(head, []byte(`<td class="n">`)):
		return parseLighttpd, "lighttpd", nil
	case bytes.Contains(head, []byte("<table")) && (bytes.Contains(head, []byte("?c=n;o=")) || bytes.Contains(head, []byte("index of"))):
		// Sort links, unless IndexOptions SuppressColumnSorting removed them.
		return parseApache, "apache-table", nil
	case bytes.Contains(head, []byte("<pre")):
		return parseNginx, "nginx", nil
	case bytes.Contains(head, []byte("<ul")) && bytes.Contains(head, []byte("index of")):
		return parseApacheList, "apache-list", nil
	}
	return nil, "", fmt.Errorf("%w: page is not an index page of a known format (Content-Type %q)", scan.ErrBadListing, contentType)
}

// child resolves a link found on d's page. ok is false for links that are not
// to a direct child of d (sort links, parents, icons, other hosts, queries,
// fragments); those are ignored. A link to a direct child whose decoded name
// is unacceptable (".", "..", a "/" or NUL byte) is an error: the page lies.
func (d dir) child(href string) (name string, isDir, ok bool, err error) {
	href = strings.TrimSpace(href)
	if href == "" {
		return "", false, false, nil
	}
	if seg, ok := plainRef(href); ok && strings.HasSuffix(d.url.EscapedPath(), "/") {
		// What nearly every row of every index page holds: one escaped
		// segment relative to the page, which url.ResolveReference would
		// only re-assemble and take apart again.
		if name, err = url.PathUnescape(seg); err != nil {
			return "", false, false, nil
		}
		return d.checkName(href, name, strings.HasSuffix(href, "/"))
	}
	return d.resolve(href)
}

// resolve is child's general case: resolve the link as a browser would and
// see where it lands.
func (d dir) resolve(href string) (name string, isDir, ok bool, err error) {
	ref, err := url.Parse(href)
	if err != nil {
		return "", false, false, nil
	}
	u := d.url.ResolveReference(ref)
	if u.Scheme != d.url.Scheme || !sameHost(u, d.url) || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", false, false, nil
	}
	ep := u.EscapedPath()
	isDir = strings.HasSuffix(ep, "/")
	ep = strings.TrimSuffix(ep, "/")
	i := strings.LastIndexByte(ep, '/')
	if i < 0 {
		return "", false, false, nil
	}
	parent, seg := ep[:i+1], ep[i+1:]
	if seg == "" || !samePath(parent, d.url.EscapedPath()) {
		return "", false, false, nil
	}
	name, err = url.PathUnescape(seg)
	if err != nil {
		return "", false, false, nil
	}
	return d.checkName(href, name, isDir)
}

func (d dir) checkName(href, name string, isDir bool) (string, bool, bool, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return "", false, false, fmt.Errorf("%w: link %q names %q", scan.ErrBadListing, href, name)
	}
	return name, isDir, true, nil
}

// plainRef reports whether href is a single relative path segment (with an
// optional trailing "/") that resolves to a child without URL parsing: only
// bytes that url.URL keeps as they are in an escaped path, no dot segment.
// Anything else takes the general path, so both always agree.
func plainRef(href string) (seg string, ok bool) {
	seg = strings.TrimSuffix(href, "/")
	if seg == "" || seg[0] == '.' {
		return "", false
	}
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.~!$&'()*+,;=@%", c) >= 0:
		default:
			return "", false
		}
	}
	return seg, true
}

// samePath compares two escaped paths by what they name, since servers and
// url.URL escape different sets of bytes.
func samePath(a, b string) bool {
	if a == b {
		return true
	}
	ua, err1 := url.PathUnescape(a)
	ub, err2 := url.PathUnescape(b)
	return err1 == nil && err2 == nil && ua == ub
}

func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// entryPath joins a directory's path and a child's name and checks the result.
func (d dir) entryPath(name string) (string, error) {
	p := d.path + "/" + name
	if d.path == "/" {
		p = "/" + name
	}
	clean, err := scan.CleanPath(p)
	if err != nil {
		return "", err
	}
	if clean != p {
		return "", fmt.Errorf("%w: name %q in %s is not a plain name", scan.ErrBadListing, name, d.path)
	}
	return p, nil
}

// collector gathers a page's entries, dropping repeated names: a page that
// lists a name twice gives the first.
type collector struct {
	d    dir
	seen map[string]bool
	out  []scan.Entry
}

func newCollector(d dir) *collector { return &collector{d: d, seen: map[string]bool{}} }

func (c *collector) add(name string, typ scan.Type, size int64, mtime time.Time, prec time.Duration) error {
	p, err := c.d.entryPath(name)
	if err != nil {
		return err
	}
	if c.seen[p] {
		return nil
	}
	c.seen[p] = true
	if typ == scan.Dir {
		size = 0
	}
	if prec == 0 {
		mtime = time.Time{}
	} else {
		mtime = mtime.UTC()
	}
	c.out = append(c.out, scan.Entry{Path: p, Type: typ, Size: size, ModTime: mtime, Precision: prec})
	return nil
}

// dateLayouts are the time formats index pages print, with their precision.
var dateLayouts = []struct {
	layout string
	prec   time.Duration
}{
	{"02-Jan-2006 15:04", time.Minute},    // nginx, Apache 2.2
	{"2006-01-02 15:04", time.Minute},     // Apache 2.4
	{"2006-Jan-02 15:04:05", time.Second}, // lighttpd
	{"02-Jan-2006 15:04:05", time.Second},
	{"2006-01-02 15:04:05", time.Second},
}

// parseDate reads an index page's time as UTC: the page does not say its zone.
func parseDate(s string) (time.Time, time.Duration, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "  ") || strings.ContainsAny(s, "\t\r\n\u00a0") {
		s = strings.Join(strings.Fields(s), " ")
	}
	for _, l := range dateLayouts {
		if len(s) != len(l.layout) {
			continue
		}
		if t, err := time.Parse(l.layout, s); err == nil {
			return t.UTC(), l.prec, true
		}
	}
	return time.Time{}, 0, false
}

// parseSize reads a size column: plain digits are exact, "-" and empty mean
// none (a directory), anything else ("4.0G", "12K") is a rounded size: -1.
// ok is false for text that is not a size at all.
func parseSize(s string) (size int64, ok bool) {
	s = strings.TrimSpace(s)
	switch {
	case s == "" || s == "-":
		return -1, true
	case isDigits(s):
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	num := strings.TrimRight(s, "KMGTPEkmgtpeBb")
	if num == s || num == "" {
		return 0, false
	}
	if _, err := strconv.ParseFloat(strings.TrimSpace(num), 64); err != nil {
		return 0, false
	}
	return -1, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
