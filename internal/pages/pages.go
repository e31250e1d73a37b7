package pages

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/web"
)

// DB-IP's licence (CC BY 4.0) asks pages that show its results to credit it;
// pass these as Options.GeoCredit and GeoCreditURL when geo data is DB-IP.
const (
	DBIPCredit    = "IP geolocation by DB-IP"
	DBIPCreditURL = "https://db-ip.com"
)

// Options configure the pages. The zero value serves under /mirrors/.
type Options struct {
	// Prefix is the path the pages live under, beginning and ending with
	// "/"; default "/mirrors/". The redirector serves file paths at the
	// root, so the pages need a subtree of their own.
	Prefix string
	// Title heads every page; default "Mirrors".
	Title string
	// GeoCredit is a footer line crediting the geolocation data, linked to
	// GeoCreditURL (http or https) when set; see DBIPCredit.
	GeoCredit    string
	GeoCreditURL string
	// APIURL, when set, is linked from every page's header as the
	// machine-readable form of the same data.
	APIURL string
	// MaxAge is the Cache-Control max-age of pages and the map; default 30 s,
	// about how often the model is rebuilt.
	MaxAge time.Duration
	// History, when set, gives a mirror's page its recent scans (with the
	// lag each saw) and probes; without it the page shows the last scan.
	// It is called per request for public mirrors only.
	History func(ctx context.Context, mirror string) netstatus.History
}

// The Content-Security-Policy of every response: nothing but the page's own
// stylesheet and images, no script at all, no framing, no forms.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// New returns the pages' handler. source returns the current network model
// and may return nil before the first one is built (the pages then answer
// 503). The handler serves, under opts.Prefix:
//
//	{prefix}              the mirror list with the map
//	{prefix}map.svg       the map alone, as an SVG image
//	{prefix}{name}        one mirror's page
//	{prefix}_static/...   the stylesheet (names cannot start with "_")
//
// Anything else under the prefix is an HTML 404.
func New(source func() *netstatus.Network, opts Options) (http.Handler, error) {
	if source == nil {
		return nil, errors.New("pages: nil network source")
	}
	if opts.Prefix == "" {
		opts.Prefix = "/mirrors/"
	}
	if !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/") || strings.ContainsAny(opts.Prefix, "{}?#% \t\n") {
		return nil, fmt.Errorf("pages: prefix %q must begin and end with / and hold no pattern or escape characters", opts.Prefix)
	}
	if opts.Title == "" {
		opts.Title = "Mirrors"
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 30 * time.Second
	}
	h := &handler{source: source, opts: opts}
	if opts.GeoCreditURL != "" {
		u, ok := linkURL(opts.GeoCreditURL, "http", "https")
		if !ok {
			return nil, fmt.Errorf("pages: geo credit URL %q is not an http(s) URL", opts.GeoCreditURL)
		}
		h.site.GeoCreditURL = u
	}

	outlineData, err := fs.ReadFile(web.FS, "map/countries-110m.txt")
	if err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	if h.outlines, err = parseOutlines(outlineData); err != nil {
		return nil, fmt.Errorf("pages: %w", err)
	}
	if h.style, err = style(); err != nil {
		return nil, err
	}
	h.site.Title = opts.Title
	h.site.Prefix = opts.Prefix
	h.site.APIURL = opts.APIURL
	h.site.GeoCredit = opts.GeoCredit
	h.site.StyleURL = styleURL(opts.Prefix, h.style)

	if err := h.parseTemplates(); err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	p := opts.Prefix
	mux.HandleFunc("GET "+p+"{$}", h.serveList)
	mux.HandleFunc("GET "+p+"map.svg", h.serveMap)
	mux.HandleFunc("GET "+p+"_static/style.css", h.serveStyle)
	mux.HandleFunc("GET "+p+"{name}", h.serveMirror)
	mux.HandleFunc("GET "+p, h.serveNotFound)
	if p != "/" {
		mux.HandleFunc("GET "+strings.TrimSuffix(p, "/"), func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, p, http.StatusMovedPermanently)
		})
	}
	return mux, nil
}

func style() (body, error) {
	css, err := fs.ReadFile(web.FS, "static/style.css")
	if err != nil {
		return body{}, fmt.Errorf("pages: %w", err)
	}
	return newBody(css), nil
}

// The version in the query lets browsers keep the stylesheet for a day and
// still see a new one at once after an upgrade.
func styleURL(prefix string, b body) string {
	return prefix + "_static/style.css?v=" + strings.Trim(b.etag, `"`)
}

// StyleURL is the pages' stylesheet under prefix ("/mirrors/"), versioned
// by its content, for other pages that share the look: the redirector's
// directory indexes and file pages.
func StyleURL(prefix string) string {
	b, err := style()
	if err != nil {
		return "" // the embedded file is always there
	}
	return styleURL(prefix, b)
}

type handler struct {
	source   func() *netstatus.Network
	opts     Options
	site     siteView
	outlines *outlines
	style    body

	list, mirror, errorT, svg *template.Template

	// cache holds the list page and map rendered for the last model seen.
	// A model is replaced, never changed, so its pointer identifies it.
	cache atomic.Pointer[rendered]
}

type rendered struct {
	net       *netstatus.Network
	list, svg body
}

// body is a rendered response with its entity tag.
type body struct {
	b    []byte
	etag string
}

func newBody(b []byte) body {
	sum := sha256.Sum256(b)
	return body{b, `"` + hex.EncodeToString(sum[:12]) + `"`}
}

func (h *handler) parseTemplates() error {
	funcs := template.FuncMap{"iso": iso, "when": when}
	base, err := template.New("layout").Funcs(funcs).ParseFS(web.FS, "templates/layout.html", "templates/map.svg")
	if err != nil {
		return fmt.Errorf("pages: templates: %w", err)
	}
	page := func(file string) (*template.Template, error) {
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		t, err = t.ParseFS(web.FS, "templates/"+file)
		if err != nil {
			return nil, fmt.Errorf("pages: templates: %w", err)
		}
		return t.Lookup("layout"), nil
	}
	if h.list, err = page("list.html"); err != nil {
		return err
	}
	if h.mirror, err = page("mirror.html"); err != nil {
		return err
	}
	if h.errorT, err = page("error.html"); err != nil {
		return err
	}
	svg, err := base.Clone()
	if err != nil {
		return err
	}
	h.svg = svg.Lookup("mapdoc")
	return nil
}

// current returns the rendered list and map for the current model, rendering
// them if the model changed since the last request.
func (h *handler) current() (*rendered, error) {
	n := h.source()
	if n == nil {
		return nil, nil
	}
	if c := h.cache.Load(); c != nil && c.net == n {
		return c, nil
	}
	var lb, sb bytes.Buffer
	if err := h.list.Execute(&lb, h.buildList(n)); err != nil {
		return nil, err
	}
	if err := h.svg.Execute(&sb, h.buildMap(n, true)); err != nil {
		return nil, err
	}
	c := &rendered{net: n, list: newBody(lb.Bytes()), svg: newBody(sb.Bytes())}
	h.cache.Store(c)
	return c, nil
}

func (h *handler) serveList(w http.ResponseWriter, r *http.Request) {
	c, err := h.current()
	if c == nil {
		h.unavailable(w, r, err)
		return
	}
	h.send(w, r, http.StatusOK, "text/html; charset=utf-8", h.maxAge(), c.list)
}

func (h *handler) serveMap(w http.ResponseWriter, r *http.Request) {
	c, err := h.current()
	if c == nil {
		h.unavailable(w, r, err)
		return
	}
	h.send(w, r, http.StatusOK, "image/svg+xml", h.maxAge(), c.svg)
}

func (h *handler) serveStyle(w http.ResponseWriter, r *http.Request) {
	h.send(w, r, http.StatusOK, "text/css; charset=utf-8", "public, max-age=86400", h.style)
}

func (h *handler) serveMirror(w http.ResponseWriter, r *http.Request) {
	n := h.source()
	if n == nil {
		h.unavailable(w, r, nil)
		return
	}
	name := r.PathValue("name")
	m, ok := n.Mirror(name)
	if !ok {
		h.errorPage(w, r, n, http.StatusNotFound, "Not found", fmt.Sprintf("There is no public mirror named %q.", name))
		return
	}
	var hist *netstatus.History
	if h.opts.History != nil {
		hs := h.opts.History(r.Context(), name)
		hist = &hs
	}
	var b bytes.Buffer
	if err := h.mirror.Execute(&b, h.buildMirror(n, m, hist)); err != nil {
		h.unavailable(w, r, err)
		return
	}
	h.send(w, r, http.StatusOK, "text/html; charset=utf-8", h.maxAge(), newBody(b.Bytes()))
}

func (h *handler) serveNotFound(w http.ResponseWriter, r *http.Request) {
	h.errorPage(w, r, h.source(), http.StatusNotFound, "Not found", "There is no page here.")
}

// unavailable answers 503 before the first model exists, or if rendering
// failed (a template bug: logged by the server, not shown).
func (h *handler) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Retry-After", "5")
	msg := "The mirror network's state is not known yet. Try again in a few seconds."
	if err != nil {
		msg = "The mirror pages could not be rendered."
		logError(r, err)
	}
	h.errorPage(w, r, nil, http.StatusServiceUnavailable, "Not available yet", msg)
}

// logError reports a rendering error to the server's error log, where
// net/http reports its own handler failures.
func logError(r *http.Request, err error) {
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ErrorLog != nil {
		srv.ErrorLog.Printf("pages: %s: %v", r.URL.Path, err)
	}
}

func (h *handler) errorPage(w http.ResponseWriter, r *http.Request, n *netstatus.Network, code int, heading, msg string) {
	v := errorPage{Site: h.site, Heading: heading, Message: msg}
	if n != nil {
		v.Generated = n.Generated
	}
	var b bytes.Buffer
	if err := h.errorT.Execute(&b, v); err != nil {
		http.Error(w, heading, code)
		return
	}
	h.send(w, r, code, "text/html; charset=utf-8", "no-store", newBody(b.Bytes()))
}

func (h *handler) maxAge() string {
	return "public, max-age=" + strconv.Itoa(int(h.opts.MaxAge/time.Second))
}

// send writes a response with the pages' headers; successful ones carry an
// ETag and answer If-None-Match with 304.
func (h *handler) send(w http.ResponseWriter, r *http.Request, code int, ctype, cache string, b body) {
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	if code == http.StatusOK {
		hd.Set("ETag", b.etag)
		if etagMatch(r.Header.Get("If-None-Match"), b.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	hd.Set("Content-Length", strconv.Itoa(len(b.b)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(b.b)
	}
}

// etagMatch implements If-None-Match's weak comparison over a list.
func etagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
