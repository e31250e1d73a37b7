package httpscan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/net/html"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// parseNginx reads nginx's HTML autoindex:
//
//	<h1>Index of /x/</h1><hr><pre><a href="../">../</a>
//	<a href="sub/">sub/</a>      02-Jan-2026 03:04                   -
//	<a href="a.iso">a.iso</a>    02-Jan-2026 03:04          4294979641
//	</pre><hr>
//
// Each link is followed by its time and size as text. The link text is cut
// to 47 bytes plus "..>" for long names, so the name comes from the href.
// Apache's FancyIndexing <pre> form has the same shape (icons before the
// link, a description after the size) and parses here too.
func parseNginx(body []byte, d dir) ([]scan.Entry, error) {
	c := newCollector(d)
	z := html.NewTokenizer(bytes.NewReader(body))
	var (
		inPre   bool
		href    string
		haveA   bool // inside a row: a link seen, its text may follow
		afterA  bool // the link is closed: text now is the row's columns
		columns strings.Builder
	)
	flush := func() error {
		if !haveA {
			return nil
		}
		haveA, afterA = false, false
		cols := columns.String()
		columns.Reset()
		name, isDir, ok, err := d.child(href)
		if err != nil || !ok {
			return err
		}
		f, n := fields3(cols)
		if n < 3 {
			return fmt.Errorf("%w: nginx row for %q has no time and size: %q", scan.ErrBadListing, href, cols)
		}
		mtime, prec, ok := parseDate(f[0] + " " + f[1])
		if !ok {
			return fmt.Errorf("%w: nginx row for %q: bad time %q %q", scan.ErrBadListing, href, f[0], f[1])
		}
		size, ok := parseSize(f[2])
		if !ok {
			return fmt.Errorf("%w: nginx row for %q: bad size %q", scan.ErrBadListing, href, f[2])
		}
		typ := scan.File
		if isDir {
			typ = scan.Dir
		}
		return c.add(name, typ, size, mtime, prec)
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			if err := flush(); err != nil {
				return nil, err
			}
			return c.out, nil
		case html.StartTagToken, html.SelfClosingTagToken:
			tn, hasAttr := z.TagName()
			switch {
			case string(tn) == "pre":
				inPre = true
			case inPre && string(tn) == "a":
				if err := flush(); err != nil {
					return nil, err
				}
				haveA, href = true, ""
				if hasAttr {
					href = attr(z, "href")
				}
			}
		case html.EndTagToken:
			tn, _ := z.TagName()
			switch string(tn) {
			case "pre":
				if err := flush(); err != nil {
					return nil, err
				}
				inPre = false
			case "a":
				afterA = haveA
			}
		case html.TextToken:
			if afterA {
				columns.Write(z.Raw())
			}
		}
	}
}

// fields3 is strings.Fields for the first three fields, without allocating:
// it runs once per row of pages with tens of thousands of rows.
func fields3(s string) (f [3]string, n int) {
	for n < 3 {
		s = strings.TrimLeft(s, " \t\r\n")
		if s == "" {
			break
		}
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		f[n], s = s[:end], s[end:]
		n++
	}
	return f, n
}

// attr returns the named attribute of the current tag, entities decoded.
func attr(z *html.Tokenizer, name string) string {
	var val string
	for {
		k, v, more := z.TagAttr()
		if string(k) == name && val == "" {
			val = string(v)
		}
		if !more {
			return val
		}
	}
}

// nginxJSONEntry is one element of nginx's JSON autoindex. The name stays raw:
// nginx copies the file name's bytes into the string unchanged (a Latin-1
// "é" arrives as the single byte 0xE9), and encoding/json would replace such
// bytes with U+FFFD.
type nginxJSONEntry struct {
	Name  json.RawMessage `json:"name"`
	Type  string          `json:"type"`
	MTime string          `json:"mtime"`
	Size  *int64          `json:"size"`
}

// parseNginxJSON reads autoindex_format json:
//
//	[
//	{ "name":"sub", "type":"directory", "mtime":"Fri, 02 Jan 2026 03:04:05 GMT" },
//	{ "name":"a.iso", "type":"file", "mtime":"Fri, 02 Jan 2026 03:04:05 GMT", "size":4294979641 }
//	]
//
// Names are exact here, so a bad one (with "/", "..", NUL) is an error.
// Type "other" (a socket, a dangling symlink) is nothing a client can
// download and is skipped.
func parseNginxJSON(body []byte, d dir) ([]scan.Entry, error) {
	var list []nginxJSONEntry
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("%w: nginx JSON index: %v", scan.ErrBadListing, err)
	}
	c := newCollector(d)
	for _, e := range list {
		name, err := unquoteJSON(e.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: nginx JSON index: name %s: %v", scan.ErrBadListing, e.Name, err)
		}
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return nil, fmt.Errorf("%w: nginx JSON index names %q", scan.ErrBadListing, name)
		}
		var typ scan.Type
		switch e.Type {
		case "file":
			typ = scan.File
		case "directory":
			typ = scan.Dir
		case "other":
			continue
		default:
			return nil, fmt.Errorf("%w: nginx JSON index: %q has type %q", scan.ErrBadListing, name, e.Type)
		}
		mtime, err := http.ParseTime(e.MTime)
		if err != nil {
			return nil, fmt.Errorf("%w: nginx JSON index: %q has mtime %q", scan.ErrBadListing, name, e.MTime)
		}
		size := int64(-1)
		if e.Size != nil {
			if *e.Size < 0 {
				return nil, fmt.Errorf("%w: nginx JSON index: %q has size %d", scan.ErrBadListing, name, *e.Size)
			}
			size = *e.Size
		}
		if err := c.add(name, typ, size, mtime, time.Second); err != nil {
			return nil, err
		}
	}
	return c.out, nil
}

// unquoteJSON decodes a JSON string literal keeping bytes that are not valid
// UTF-8 as they are (see nginxJSONEntry).
func unquoteJSON(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", fmt.Errorf("not a string")
	}
	s := raw[1 : len(raw)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch != '\\' {
			out = append(out, ch)
			continue
		}
		i++
		if i >= len(s) {
			return "", fmt.Errorf("dangling backslash")
		}
		switch s[i] {
		case '"', '\\', '/':
			out = append(out, s[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s[i+1:])
			if !ok {
				return "", fmt.Errorf("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					r2, ok = hex4(s[i+3:])
				}
				if dec := utf16.DecodeRune(r, r2); ok && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", fmt.Errorf("bad escape \\%c", s[i])
		}
	}
	return string(out), nil
}

func hex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
