package httpscan

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"golang.org/x/net/html"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// cell is one <td> or <th> of a table row.
type cell struct {
	class string
	href  string // the cell's first link
	text  strings.Builder
}

// tableRows calls fn for every row of every table on the page, with its cells'
// text decoded (entities resolved, so &nbsp; is U+00A0).
func tableRows(body []byte, fn func(cells []*cell) error) error {
	z := html.NewTokenizer(bytes.NewReader(body))
	var (
		row   []*cell
		inRow bool
	)
	flush := func() error {
		if !inRow {
			return nil
		}
		inRow = false
		cells := row
		row = nil
		if len(cells) == 0 {
			return nil
		}
		return fn(cells)
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			return flush()
		case html.StartTagToken, html.SelfClosingTagToken:
			tn, hasAttr := z.TagName()
			switch string(tn) {
			case "tr":
				if err := flush(); err != nil {
					return err
				}
				inRow = true
			case "td", "th":
				if !inRow {
					continue
				}
				c := &cell{}
				if hasAttr {
					c.class = attr(z, "class")
				}
				row = append(row, c)
			case "a":
				if len(row) > 0 && row[len(row)-1].href == "" && hasAttr {
					row[len(row)-1].href = attr(z, "href")
				}
			}
		case html.EndTagToken:
			tn, _ := z.TagName()
			switch string(tn) {
			case "tr", "table":
				if err := flush(); err != nil {
					return err
				}
			}
		case html.TextToken:
			if len(row) > 0 {
				row[len(row)-1].text.Write(z.Text())
			}
		}
	}
}

// parseApache reads Apache 2.4 mod_autoindex with FancyIndexing and
// HTMLTable (Debian's default):
//
//	<tr><td valign="top"><img src="/icons/unknown.gif" alt="[   ]"></td><td><a href="a.iso">a.iso</a></td><td align="right">2026-01-02 03:04  </td><td align="right">4.0G</td><td>&nbsp;</td></tr>
//
// The time column is "YYYY-MM-DD HH:MM" (2.4) or "DD-Mon-YYYY HH:MM" (2.2,
// or IndexOptions' default elsewhere), in the server's local time; sizes are
// exact below 973 bytes and rounded ("4.0G") above, "-" for directories.
// The columns are found by content, not position, since IndexOptions can
// suppress the icon, time, size and description columns.
func parseApache(body []byte, d dir) ([]scan.Entry, error) {
	c := newCollector(d)
	err := tableRows(body, func(cells []*cell) error {
		i, name, isDir, ok, err := rowLink(cells, d)
		if err != nil || !ok {
			return err
		}
		var (
			mtime time.Time
			prec  time.Duration
			size  = int64(-1)
		)
		rest := cells[i+1:]
		for j, cl := range rest {
			t, p, ok := parseDate(cl.text.String())
			if !ok {
				continue
			}
			mtime, prec = t, p
			if j+1 < len(rest) {
				if n, ok := parseSize(rest[j+1].text.String()); ok {
					size = n
				}
			}
			break
		}
		typ := scan.File
		if isDir {
			typ = scan.Dir
		}
		return c.add(name, typ, size, mtime, prec)
	})
	if err != nil {
		return nil, err
	}
	return c.out, nil
}

// rowLink finds the row's link to a child of d: the cell's index and the
// child's name.
func rowLink(cells []*cell, d dir) (i int, name string, isDir, ok bool, err error) {
	for i, cl := range cells {
		if cl.href == "" {
			continue
		}
		name, isDir, ok, err := d.child(cl.href)
		if err != nil || ok {
			return i, name, isDir, ok, err
		}
	}
	return 0, "", false, false, nil
}

// parseLighttpd reads lighttpd's mod_dirlisting table:
//
//	<tr class="d"><td class="n"><a href="sub/">sub</a>/</td><td class="m">2026-Jan-02 03:04:05</td><td class="s">- &nbsp;</td><td class="t">Directory</td></tr>
//	<tr><td class="n"><a href="a.iso">a.iso</a></td><td class="m">2026-Jan-02 03:04:05</td><td class="s">4.0G</td><td class="t">application/octet-stream</td></tr>
//
// Times have seconds (server local time); sizes are always rounded (even 5
// bytes print as "0.1K"), so Size is -1 unless the cell is plain digits.
func parseLighttpd(body []byte, d dir) ([]scan.Entry, error) {
	c := newCollector(d)
	err := tableRows(body, func(cells []*cell) error {
		_, name, isDir, ok, err := rowLink(cells, d)
		if err != nil || !ok {
			return err
		}
		var (
			mtime time.Time
			prec  time.Duration
			size  = int64(-1)
		)
		for _, cl := range cells {
			switch cl.class {
			case "m":
				t, p, ok := parseDate(cl.text.String())
				if !ok {
					return fmt.Errorf("%w: lighttpd row for %q: bad time %q", scan.ErrBadListing, name, cl.text.String())
				}
				mtime, prec = t, p
			case "s":
				if n, ok := parseSize(cl.text.String()); ok {
					size = n
				}
			}
		}
		typ := scan.File
		if isDir {
			typ = scan.Dir
		}
		return c.add(name, typ, size, mtime, prec)
	})
	if err != nil {
		return nil, err
	}
	return c.out, nil
}

// parseApacheList reads mod_autoindex without FancyIndexing: names only.
//
//	<ul><li><a href="/"> Parent Directory</a></li>
//	<li><a href="a.iso"> a.iso</a></li>
//	</ul>
func parseApacheList(body []byte, d dir) ([]scan.Entry, error) {
	c := newCollector(d)
	z := html.NewTokenizer(bytes.NewReader(body))
	inLi := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return c.out, nil
		case html.StartTagToken, html.SelfClosingTagToken:
			tn, hasAttr := z.TagName()
			switch string(tn) {
			case "li":
				inLi = true
			case "a":
				if !inLi || !hasAttr {
					continue
				}
				name, isDir, ok, err := d.child(attr(z, "href"))
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
				typ := scan.File
				if isDir {
					typ = scan.Dir
				}
				if err := c.add(name, typ, -1, time.Time{}, 0); err != nil {
					return nil, err
				}
			}
		case html.EndTagToken:
			if tn, _ := z.TagName(); string(tn) == "li" || string(tn) == "ul" {
				inLi = false
			}
		}
	}
}
