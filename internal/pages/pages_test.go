package pages_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/html"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/pages"
)

func newPages(t *testing.T, n *netstatus.Network, opts pages.Options) http.Handler {
	t.Helper()
	h, err := pages.New(func() *netstatus.Network { return n }, opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestListPage(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{Title: "Example mirrors"})
	r := get(t, h, "/mirrors/")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	checkHeaders(t, r, "text/html; charset=utf-8")
	if cc := r.Header.Get("Cache-Control"); cc != "public, max-age=30" {
		t.Errorf("Cache-Control %q", cc)
	}
	b := body(t, r)
	for _, m := range n.Mirrors {
		if !strings.Contains(b, `href="/mirrors/`+m.Name+`"`) {
			t.Errorf("no link to %s's page", m.Name)
		}
	}
	for _, want := range []string{
		"<title>Example mirrors</title>",
		`<a href="https://www.hetzner.com/" rel="nofollow noopener">Hetzner Online</a>`,
		`<a href="https://coop.example.net/" rel="nofollow noopener">NYC Co-op</a>`,
		`<a href="rsync://de-fra.example.org/pub/" title="rsync://de-fra.example.org/pub/">rsync</a>`,
		`<a href="ftp://fr-par.example.org/pub/"`,
		`<span class="state state-up"><span class="sym" aria-hidden="true">●</span> up</span>`,
		`<span class="state state-stale"><span class="sym" aria-hidden="true">◐</span> stale</span>`,
		`<span class="state state-down"><span class="sym" aria-hidden="true">✕</span> down</span>`,
		`<span class="state state-disabled"><span class="sym" aria-hidden="true">⊘</span> disabled</span>`,
		`<span class="state state-unknown"><span class="sym" aria-hidden="true">?</span> unknown</span>`,
		"<strong>8</strong> public mirrors", "<strong>1234</strong> files",
		"10 Gbit/s", "2.5 Gbit/s", "500 Mbit/s",
		">25 min</time>", ">26 h</time>", ">40 s</time>",
		"99.9 %", "97.5 %",
		"1 mirror has no coordinates",
		"Last generated <time datetime=\"2026-06-01T12:00:00Z\">2026-06-01 12:00 UTC</time>",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("list page lacks %s", want)
		}
	}
	if strings.Count(b, "100 %") != 4 {
		t.Errorf("%d mirrors shown 100 %% complete, want 4 (99.96 must not round up)", strings.Count(b, "100 %"))
	}
	// Continents in name order, then countries in name order.
	order := []string{">Africa<", ">Asia<", ">Europe<", "France", "Germany", ">North America<", ">Oceania<", ">South America<"}
	last := 0
	for _, s := range order {
		i := strings.Index(b[last:], s)
		if i < 0 {
			t.Fatalf("%q missing or out of order", s)
		}
		last += i
	}
	// Totals in state order with counts.
	for _, s := range []string{"up</span>: <strong>4</strong>", "stale</span>: <strong>1</strong>", "down</span>: <strong>1</strong>"} {
		if !strings.Contains(b, s) {
			t.Errorf("totals lack %q", s)
		}
	}
}

func checkHeaders(t *testing.T, r *http.Response, ctype string) {
	t.Helper()
	if got := r.Header.Get("Content-Type"); got != ctype {
		t.Errorf("Content-Type %q, want %q", got, ctype)
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q: want default-src 'none', no script, no unsafe-inline", csp)
	}
	if r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no X-Content-Type-Options: nosniff")
	}
}

func TestMirrorPage(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{})
	r := get(t, h, "/mirrors/us-nyc")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	checkHeaders(t, r, "text/html; charset=utf-8")
	b := body(t, r)
	for _, want := range []string{
		"<h1>us-nyc <span class=\"state state-down\">",
		"<li>https over IPv4: connection refused</li>", "<li>https over IPv6: connection refused</li>",
		"New York, United States, North America", "40.71° N, 74.01° W",
		"2.5 Gbit/s", "IPv4, IPv6", "the whole tree",
		"3 h behind (upstream trace 2026-06-01 09:00 UTC)",
		`title="2026-06-01 11:56 UTC">4 min ago</time>`, // probe since
		"connection refused</td>", "rsync: connection refused",
		"✕</span> failed</span>",
		`<a href="https://us-nyc.example.net/mirror/">https://us-nyc.example.net/mirror/</a>`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("us-nyc page lacks %s", want)
		}
	}

	// Probes in protocol order (rsync before https), IPv4 before IPv6, with latency.
	b = body(t, get(t, h, "/mirrors/de-fra"))
	i4, i6, ir := strings.Index(b, "9.8 ms"), strings.Index(b, "12 ms"), strings.Index(b, "15 ms")
	if i4 < 0 || i6 < 0 || ir < 0 || !(ir < i4 && i4 < i6) {
		t.Errorf("probe rows out of order: rsync %d, https/IPv4 %d, https/IPv6 %d", ir, i4, i6)
	}
	if !strings.Contains(b, "Nothing: it is up and gets clients.") {
		t.Error("an up mirror's page does not say it gets clients")
	}
	b = body(t, get(t, h, "/mirrors/au-syd"))
	for _, want := range []string{"part of the tree: <code>releases/</code>, <code>isos/</code>", "<li>never scanned yet</li>", "Not probed yet.", "Not scanned yet.", "unknown: no trace seen"} {
		if !strings.Contains(b, want) {
			t.Errorf("au-syd page lacks %s", want)
		}
	}
}

// TestMirrorHistory: with a history source, a mirror's page draws its
// probes and its lag over the recent scans, each with a text equivalent.
func TestMirrorHistory(t *testing.T) {
	h := newPages(t, fixture(), pages.Options{History: history})
	b := body(t, get(t, h, "/mirrors/us-nyc"))
	for _, want := range []string{
		"https over IPv4", "8 of 12 probes answered since 2026-06-01 11:48 UTC; median latency 30 ms",
		`<rect class="state-down"`, "<title>2026-06-01 11:59 UTC: connection refused</title>",
		"<h3>Recent failures</h3>", ": https over IPv4: connection refused</li>",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("us-nyc page lacks %s", want)
		}
	}
	if n := strings.Count(b, `<rect class="state-`); n != 12 {
		t.Errorf("us-nyc strip has %d cells, want 12", n)
	}
	if n := strings.Count(b, "connection refused</li>"); n != 4+2 { // four failures, two reasons
		t.Errorf("us-nyc lists %d failure lines, want 4 failures and the two reasons above", n)
	}

	b = body(t, get(t, h, "/mirrors/fr-par"))
	for _, want := range []string{
		"Lag at each of the last 6 scans that read a trace, oldest first; the latest 26 h, the maximum 12 h",
		`<line class="limit"`, "<td data-label=\"Lag\">26 h</td>", "<td data-label=\"Lag\">6 h</td>",
		"2026-06-01 11:00 UTC: 26 h behind, over the maximum",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("fr-par page lacks %s", want)
		}
	}
	// Bars beyond the maximum are drawn stale: 26 h, 22 h, 18 h, 14 h.
	if n := strings.Count(b, `<rect class="state-stale"`); n != 4 {
		t.Errorf("fr-par chart has %d bars over the maximum, want 4", n)
	}
	if strings.Contains(b, "Probe history</h2>\n<ul") {
		t.Error("fr-par has no probe history but the page draws one")
	}

	b = body(t, get(t, h, "/mirrors/au-syd"))
	if !strings.Contains(b, "scan history unavailable right now.") || strings.Contains(b, "Not scanned yet.") {
		t.Error("au-syd page does not say the scan history is unavailable")
	}
	b = body(t, get(t, h, "/mirrors/de-fra"))
	if !strings.Contains(b, "No failed probe in this history.") || !strings.Contains(b, "12 of 12 probes answered") {
		t.Error("de-fra page does not show a clean probe history")
	}
}

// TestHostileValues: sponsors and URLs come from mirror operators. None of
// them may become markup or a script link on any page.
func TestHostileValues(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{})
	for _, path := range []string{"/mirrors/", "/mirrors/fr-par", "/mirrors/map.svg"} {
		b := body(t, get(t, h, path))
		if strings.Contains(strings.ToLower(b), "<script") {
			t.Errorf("%s contains a <script", path)
		}
		if strings.Contains(b, "javascript:") {
			t.Errorf("%s contains a javascript: link", path)
		}
		if path == "/mirrors/map.svg" {
			continue
		}
		doc, err := html.Parse(strings.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if text := visibleText(doc); !strings.Contains(text, hostileSponsor) {
			t.Errorf("%s does not show the hostile sponsor as text", path)
		}
		for _, a := range links(doc) {
			if a == "" || strings.HasPrefix(a, "#") && strings.Contains(a, "Zgotmpl") {
				t.Errorf("%s: a filtered link %q was rendered; unsafe URLs should be plain text", path, a)
			}
			if strings.ContainsAny(a, `<>"`) {
				t.Errorf("%s: link %q carries markup characters", path, a)
			}
		}
	}
	// The sponsor whose URL is javascript: is shown as plain text.
	b := body(t, get(t, h, "/mirrors/fr-par"))
	if !strings.Contains(b, "<dd>Evil &lt;script&gt;alert(&#34;sponsor&#34;)&lt;/script&gt; &amp; Co</dd>") {
		t.Error("hostile sponsor not escaped as text in the facts")
	}
	if !strings.Contains(b, "<dd>12 h; stale beyond that</dd>") {
		t.Error("fr-par's page does not show its tier's maximum lag")
	}
}

func links(doc *html.Node) []string {
	var out []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && n.Data == "a" {
			for _, a := range n.Attr {
				if a.Key == "href" {
					out = append(out, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	ViewBox string   `xml:"viewBox,attr"`
	Title   string   `xml:"title"`
	Groups  []struct {
		Class string     `xml:"class,attr"`
		Paths []struct{} `xml:"path"`
		Links []struct {
			Href   string `xml:"href,attr"`
			Circle struct {
				Class  string  `xml:"class,attr"`
				CX     float64 `xml:"cx,attr"`
				CY     float64 `xml:"cy,attr"`
				Fill   string  `xml:"fill,attr"`
				Mirror string  `xml:"data-mirror,attr"`
				Title  string  `xml:"title"`
			} `xml:"circle"`
		} `xml:"a"`
		Texts []string `xml:"text"`
	} `xml:"g"`
}

func TestMapSVG(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{})
	r := get(t, h, "/mirrors/map.svg")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	checkHeaders(t, r, "image/svg+xml")
	raw := body(t, r)
	var doc svgDoc
	dec := xml.NewDecoder(strings.NewReader(raw))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("map.svg is not well-formed XML: %v", err)
	}
	if doc.ViewBox != "0 0 3600 1420" {
		t.Errorf("viewBox %q", doc.ViewBox)
	}
	countries, circles, legend := 0, 0, 0
	dots := make(map[string]int)
	for _, g := range doc.Groups {
		switch g.Class {
		case "land":
			countries = len(g.Paths)
		case "dots":
			for _, a := range g.Links {
				c := a.Circle
				circles++
				dots[c.Mirror]++
				m, ok := n.Mirror(c.Mirror)
				if !ok {
					t.Errorf("dot for %q, not in the model", c.Mirror)
					continue
				}
				if c.Class != "dot state-"+string(m.State) {
					t.Errorf("%s: class %q, want dot state-%s", m.Name, c.Class, m.State)
				}
				if c.Fill != stateFill[m.State] {
					t.Errorf("%s: fill %q, want %s", m.Name, c.Fill, stateFill[m.State])
				}
				wx, wy := (*m.Longitude+180)*10, (84-*m.Latitude)*10
				if math.Abs(c.CX-wx) > 0.1 || math.Abs(c.CY-wy) > 0.1 {
					t.Errorf("%s at (%v,%v), want (%.1f,%.1f)", m.Name, c.CX, c.CY, wx, wy)
				}
				if a.Href != "/mirrors/"+m.Name {
					t.Errorf("%s links to %q", m.Name, a.Href)
				}
				if !strings.HasPrefix(c.Title, m.Name+" — "+string(m.State)) {
					t.Errorf("%s: tooltip %q", m.Name, c.Title)
				}
			}
		case "legend":
			legend = len(g.Texts)
		}
	}
	if countries < 170 {
		t.Errorf("%d country outlines, want the world", countries)
	}
	placed := 0
	for _, m := range n.Mirrors {
		if m.Latitude != nil {
			placed++
			if dots[m.Name] != 1 {
				t.Errorf("%s has %d dots, want 1", m.Name, dots[m.Name])
			}
		}
	}
	if circles != placed {
		t.Errorf("%d circles, want %d (one per mirror with coordinates)", circles, placed)
	}
	if legend != 5 {
		t.Errorf("legend has %d entries, want one per state", legend)
	}
	if !strings.Contains(doc.Title, "4 up, 1 stale, 1 down, 1 disabled, 1 unknown") {
		t.Errorf("map title %q does not summarise the states", doc.Title)
	}

	// The list page carries the same dots inline (and its legend in HTML).
	list := body(t, get(t, h, "/mirrors/"))
	if got := strings.Count(list, "<circle class=\"dot "); got != placed {
		t.Errorf("list page has %d dots, want %d", got, placed)
	}
}

// stateFill is the colour the map uses for each state.
var stateFill = map[netstatus.State]string{
	netstatus.Up: "#1a7f37", netstatus.Stale: "#b26a00", netstatus.Down: "#c62828",
	netstatus.Disabled: "#6b7280", netstatus.Unknown: "#5a5fc8",
}

// TestOnlyModelMirrors: the pages show the model's mirrors and nothing else.
// Private mirrors are kept out of the model by netstatus.Build; here a name
// the model does not hold (as a private mirror's would be) gets a 404 and
// appears nowhere.
func TestOnlyModelMirrors(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{})
	r := get(t, h, "/mirrors/secret-private")
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown mirror: status %d, want 404", r.StatusCode)
	}
	checkHeaders(t, r, "text/html; charset=utf-8")
	if b := body(t, r); !strings.Contains(b, "There is no public mirror named &#34;secret-private&#34;.") {
		t.Errorf("404 page: %s", b)
	}
	var names []string
	for _, m := range n.Mirrors {
		names = append(names, m.Name)
	}
	for _, path := range []string{"/mirrors/", "/mirrors/map.svg"} {
		doc, err := html.Parse(strings.NewReader(body(t, get(t, h, path))))
		if err != nil {
			t.Fatal(err)
		}
		for _, href := range links(doc) {
			if name, ok := strings.CutPrefix(href, "/mirrors/"); ok && name != "" && !strings.HasPrefix(name, "_") && !strings.HasPrefix(name, "map.svg") && !slices.Contains(names, name) {
				t.Errorf("%s links to %s, not in the model", path, href)
			}
		}
	}
	// Dropping a mirror from the model drops it from every page.
	n2 := fixture()
	n2.Mirrors = slices.DeleteFunc(n2.Mirrors, func(m netstatus.Mirror) bool { return m.Name == "jp-tyo" })
	h2 := newPages(t, n2, pages.Options{})
	for _, path := range []string{"/mirrors/", "/mirrors/map.svg", "/mirrors/jp-tyo"} {
		if b := body(t, get(t, h2, path)); strings.Contains(b, "jp-tyo") && !strings.Contains(b, `named &#34;jp-tyo&#34;`) {
			t.Errorf("%s still mentions jp-tyo", path)
		}
	}
}

func TestNotReady(t *testing.T) {
	h, err := pages.New(func() *netstatus.Network { return nil }, pages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/mirrors/", "/mirrors/map.svg", "/mirrors/de-fra"} {
		r := get(t, h, path)
		if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s before the first model: %d, Retry-After %q; want 503 with Retry-After", path, r.StatusCode, r.Header.Get("Retry-After"))
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: a 503 must not be cached, Cache-Control %q", path, r.Header.Get("Cache-Control"))
		}
	}
}

func TestETagAndCache(t *testing.T) {
	var cur atomic.Pointer[netstatus.Network]
	cur.Store(fixture())
	h, err := pages.New(cur.Load, pages.Options{MaxAge: 60e9})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/mirrors/", "/mirrors/map.svg", "/mirrors/de-fra"} {
		r := get(t, h, path)
		etag := r.Header.Get("ETag")
		if etag == "" || r.Header.Get("Cache-Control") != "public, max-age=60" {
			t.Fatalf("%s: ETag %q, Cache-Control %q", path, etag, r.Header.Get("Cache-Control"))
		}
		if r := get(t, h, path, "If-None-Match", `"other", `+etag); r.StatusCode != http.StatusNotModified {
			t.Errorf("%s with a matching If-None-Match: %d, want 304", path, r.StatusCode)
		}
		// A new model with a changed mirror changes the page.
		n := fixture()
		n.Mirrors[0].State = netstatus.Down
		n.Generated = n.Generated.Add(30e9)
		old := cur.Swap(n)
		r2 := get(t, h, path, "If-None-Match", etag)
		if r2.StatusCode != http.StatusOK || r2.Header.Get("ETag") == etag {
			t.Errorf("%s after a new model: %d with ETag %s, want 200 and a new ETag", path, r2.StatusCode, r2.Header.Get("ETag"))
		}
		cur.Store(old)
	}
	// HEAD has the headers and no body.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/mirrors/", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %s", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
}

func TestStylesheet(t *testing.T) {
	h := newPages(t, fixture(), pages.Options{})
	b := body(t, get(t, h, "/mirrors/"))
	i := strings.Index(b, `<link rel="stylesheet" href="`)
	if i < 0 {
		t.Fatal("no stylesheet link")
	}
	href := b[i+len(`<link rel="stylesheet" href="`):]
	href = href[:strings.IndexByte(href, '"')]
	if !strings.HasPrefix(href, "/mirrors/_static/style.css?v=") {
		t.Fatalf("stylesheet at %q", href)
	}
	r := get(t, h, strings.ReplaceAll(href, "&amp;", "&"))
	if r.StatusCode != http.StatusOK {
		t.Fatalf("stylesheet: %d", r.StatusCode)
	}
	checkHeaders(t, r, "text/css; charset=utf-8")
	if !strings.Contains(r.Header.Get("Cache-Control"), "max-age=86400") {
		t.Errorf("stylesheet Cache-Control %q", r.Header.Get("Cache-Control"))
	}
	css := body(t, r)
	for state, fill := range stateFill {
		if !strings.Contains(css, "--state-"+string(state)+": "+fill+";") {
			t.Errorf("style.css does not give %s the map's colour %s", state, fill)
		}
	}
	if !strings.Contains(css, "@media (max-width:") {
		t.Error("style.css has no narrow-screen rules")
	}
}

func TestRoutesAndOptions(t *testing.T) {
	n := fixture()
	h := newPages(t, n, pages.Options{Prefix: "/status/"})
	for path, want := range map[string]int{
		"/status/":                 http.StatusOK,
		"/status/map.svg":          http.StatusOK,
		"/status/de-fra":           http.StatusOK,
		"/status/de-fra/extra":     http.StatusNotFound,
		"/status/_static/nope.css": http.StatusNotFound,
		"/mirrors/":                http.StatusNotFound,
		"/status":                  http.StatusMovedPermanently,
	} {
		if r := get(t, h, path); r.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, want)
		}
	}
	if b := body(t, get(t, h, "/status/")); !strings.Contains(b, `href="/status/de-fra"`) || !strings.Contains(b, `href="/status/map.svg"`) {
		t.Error("links do not follow the prefix")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/status/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", rec.Code)
	}

	for _, bad := range []pages.Options{{Prefix: "mirrors/"}, {Prefix: "/mirrors"}, {Prefix: "/{x}/"}, {GeoCreditURL: "javascript:alert(1)"}} {
		if _, err := pages.New(func() *netstatus.Network { return n }, bad); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
	if _, err := pages.New(nil, pages.Options{}); err == nil {
		t.Error("New accepted a nil source")
	}
}

func TestGeoCredit(t *testing.T) {
	n := fixture()
	with := body(t, get(t, newPages(t, n, pages.Options{GeoCredit: pages.DBIPCredit, GeoCreditURL: pages.DBIPCreditURL}), "/mirrors/"))
	if !strings.Contains(with, `<a href="https://db-ip.com">IP geolocation by DB-IP</a>`) {
		t.Error("no DB-IP credit link in the footer")
	}
	without := body(t, get(t, newPages(t, n, pages.Options{}), "/mirrors/"))
	if strings.Contains(without, "DB-IP") {
		t.Error("DB-IP credited without GeoCredit")
	}
	api := body(t, get(t, newPages(t, n, pages.Options{APIURL: "/api/v1/mirrors"}), "/mirrors/us-nyc"))
	if !strings.Contains(api, `<a class="api" href="/api/v1/mirrors">JSON API</a>`) {
		t.Error("no API link")
	}
}

// TestConcurrentRefresh: readers while the model is swapped see whole pages
// (run with -race).
func TestConcurrentRefresh(t *testing.T) {
	var cur atomic.Pointer[netstatus.Network]
	cur.Store(fixture())
	h, err := pages.New(cur.Load, pages.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				path := []string{"/mirrors/", "/mirrors/map.svg", "/mirrors/de-fra"}[(i+j)%3]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK || !bytes.HasSuffix(bytes.TrimSpace(rec.Body.Bytes()), []byte(">")) ||
					strconv.Itoa(rec.Body.Len()) != rec.Header().Get("Content-Length") {
					errs <- fmt.Errorf("%s: %d, %d bytes", path, rec.Code, rec.Body.Len())
					return
				}
			}
		})
	}
	for range 20 {
		cur.Store(fixture())
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		t.Error(err)
	}
}
