package redirector

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/clientip"
	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/policy"
	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/selection"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Location is what geo data says about a client address.
type Location struct {
	Country   string
	Continent country.Continent
	Lat, Lon  float64
	HasCoords bool
	ASN       uint32
}

// Config is the redirector's fixed setup.
type Config struct {
	// Origin is the local copy of the tree, for files served directly and as
	// the last fallback; "" when the redirector has none.
	Origin string
	// Fallback base URLs when no mirror qualifies and there is no origin.
	Fallback []string
	// Status of a redirect; 302 by default.
	Status  int
	Policy  *policy.Policy
	Clients *clientip.Resolver
	// Locate maps a client address to geo data; nil means none.
	Locate func(netip.Addr) Location
	// AllowOverride lets ?country=XX and ?asn=N choose the client's location
	// (debugging, like MirrorManager); off in production.
	AllowOverride bool
	// Links is how many next-best mirrors go in Link headers.
	Links int
	Log   *slog.Logger
	// Now is the clock that measures how long ago a file changed, for the
	// policy's allowed lag of outdated mirrors; nil is time.Now.
	Now func() time.Time
	// Metrics, when set, counts outcomes, redirects by mirror and country,
	// and shows the network's state.
	Metrics *Metrics
	// ScanHistory returns a mirror's most recent scans for its detail
	// (store.Store.Scans); nil leaves them out.
	ScanHistory func(ctx context.Context, mirror string, limit int) ([]store.ScanRecord, error)
	// ProbeHistory returns a mirror's recent probe results for its detail
	// (Health.History); nil leaves them out.
	ProbeHistory func(mirror string) []probe.Result
	// PagesPrefix is where the public mirror pages live ("/mirrors/"), for
	// links from directory indexes and file pages; "" links none. StyleURL
	// is their stylesheet (pages.StyleURL), which those pages then share.
	PagesPrefix, StyleURL string
}

// Server is the redirector's HTTP handler.
type Server struct {
	cfg   Config
	root  *os.Root
	state atomic.Pointer[State]
	// network is the public picture of the network, rebuilt with the state.
	network atomic.Pointer[netstatus.Network]
	rnds    sync.Pool
}

// New builds a server; SetState must be called before it answers requests.
func New(cfg Config) (*Server, error) {
	if cfg.Status == 0 {
		cfg.Status = http.StatusFound
	}
	if cfg.Status < 300 || cfg.Status > 399 {
		return nil, fmt.Errorf("redirect status %d is not a 3xx", cfg.Status)
	}
	if cfg.Policy == nil {
		p, err := policy.New(nil, -1)
		if err != nil {
			return nil, err
		}
		cfg.Policy = p
	}
	if cfg.Clients == nil {
		cfg.Clients, _ = clientip.New(nil)
	}
	if cfg.Links == 0 {
		cfg.Links = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg}
	if cfg.Origin != "" {
		root, err := os.OpenRoot(cfg.Origin)
		if err != nil {
			return nil, fmt.Errorf("origin: %w", err)
		}
		s.root = root
	}
	s.rnds.New = func() any { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
	return s, nil
}

// SetState makes st the state every following request reads.
func (s *Server) SetState(st *State) {
	if s.cfg.Metrics != nil && st.redirects == nil {
		st.redirects = s.cfg.Metrics.forTable(st.Table)
	}
	s.state.Store(st)
}

// SetNetwork makes n the public picture the API (and pages) show.
func (s *Server) SetNetwork(n *netstatus.Network) {
	s.network.Store(n)
	s.cfg.Metrics.network(n)
}

// Network returns the current public picture of the network; nil before
// the first refresh. It is never modified: callers may keep and read it.
func (s *Server) Network() *netstatus.Network { return s.network.Load() }

// Close releases the origin directory.
func (s *Server) Close() error {
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := s.cfg.Metrics
	// The API owns the whole /api/ prefix (see APIPrefix), before any
	// file lookup, so a catalog path can never shadow it nor it a file
	// silently: the loader warns about a catalog with a top-level /api.
	if isAPI(r.URL.Path) {
		m.count(outAPI)
		s.serveAPI(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		m.count(outMethodNotAllowed)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET and HEAD", http.StatusMethodNotAllowed)
		return
	}
	p, dir, err := cleanPath(r.URL)
	if err != nil {
		m.count(outBadRequest)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st := s.state.Load()
	if st == nil {
		m.count(outUnavailable)
		http.Error(w, "starting up", http.StatusServiceUnavailable)
		return
	}
	id, ok := st.Inv.Lookup(p)
	metalinkV4, metalinkV3 := false, false
	if !ok {
		// PATH.meta4 and PATH.metalink describe PATH.
		base, v4 := strings.CutSuffix(p, ".meta4")
		if !v4 {
			base, _ = strings.CutSuffix(p, ".metalink")
		}
		if base != p {
			if bid, found := st.Inv.Lookup(base); found {
				id, ok, p = bid, true, base
				metalinkV4, metalinkV3 = v4, !v4
			}
		}
	}
	if !ok {
		if children, isDir := st.cat.children[p]; isDir {
			m.count(outIndex)
			s.index(w, r, p, dir, children)
			return
		}
		m.count(outNotFound)
		notFound(w)
		return
	}
	f, _ := st.Inv.File(id)
	if f.Staged || dir {
		m.count(outNotFound)
		notFound(w) // staged content is indistinguishable from missing
		return
	}
	req := s.request(st, r, p, id, f.Size)
	if st.embargo[req.Client.Country] {
		m.count(outEmbargoed)
		http.Error(w, fmt.Sprintf("downloads are not offered to %s: export regulations the project must follow forbid it", req.Client.Country), http.StatusForbidden)
		return
	}
	rnd := s.rnds.Get().(*rand.Rand)
	defer s.rnds.Put(rnd)
	if r.URL.RawQuery != "" && r.URL.Query().Has("mirrorlist") {
		m.count(outList)
		s.serveList(w, r, s.mirrorList(st, &req, rnd, p, id))
		return
	}
	if metalinkV4 || metalinkV3 {
		m.count(outMetalink)
		s.serveMetalink(w, r, st, &req, rnd, p, id, metalinkV4)
		return
	}
	if s.root != nil && s.cfg.Policy.Decide(p, f.Size) != policy.Redirect {
		m.count(outServedLocally)
		digest(w, st, id)
		s.serveLocal(w, r, p)
		return
	}
	var buf [32]selection.Choice
	choice, ok, next := st.Table.PickTop(&req, rnd, min(s.cfg.Links, len(buf)), buf[:0])
	if !ok {
		digest(w, st, id)
		s.fallback(w, r, p, req.HTTPS)
		return
	}
	m.redirected(st, choice.Slot, req.Client.Country)
	mi, _ := st.Table.Mirror(choice.Slot)
	ep := escapePath(p)[1:]
	// Every header value of the redirect shares one allocation.
	hs := headerSet{h: w.Header(), vals: make([]string, 0, 4+len(next))}
	// The digest and the duplicates describe the current version; a mirror
	// still on the previous one gets neither.
	if req.Current(choice.Slot) {
		hs.digest(st, id)
		hs.links(st, &req, ep, next)
	}
	s.redirect(w, r, &hs, mirrorURL(mi.URLs.HTTPS, mi.URLs.HTTP, req.HTTPS)+ep)
}

// request is the selection request for the file id at p: its holders, the
// client's scheme, address and location.
func (s *Server) request(st *State, r *http.Request, p string, id inventory.FileID, size int64) selection.Request {
	req := selection.Request{Holders: st.Inv.Holders(id), Size: size, HTTPS: s.isHTTPS(r), Outdated: s.outdated(st, p, id)}
	addr, _ := s.cfg.Clients.Addr(r)
	req.Client = s.client(r, addr)
	return req
}

// headerSet sets response headers whose values live in one preallocated
// slice: a redirect's handful of headers costs one allocation, not one each.
type headerSet struct {
	h    http.Header
	vals []string
}

// set sets key (canonical already) to v.
func (hs *headerSet) set(key, v string) {
	hs.vals = append(hs.vals, v)
	n := len(hs.vals)
	hs.h[key] = hs.vals[n-1 : n : n]
}

// digest sets the file's RFC 3230 and RFC 9530 digest headers when the
// catalog knows its hash; both values are cut from one string.
func (hs *headerSet) digest(st *State, id inventory.FileID) {
	sum, ok := st.SHA256(id)
	if !ok {
		return
	}
	const a, b, n = "SHA-256=", "sha-256=:", 44 // n: base64 of 32 bytes
	var buf [len(a) + n + len(b) + n + 1]byte
	i := copy(buf[:], a)
	base64.StdEncoding.Encode(buf[i:], sum[:])
	i += n
	i += copy(buf[i:], b)
	base64.StdEncoding.Encode(buf[i:], sum[:])
	buf[len(buf)-1] = ':'
	both := string(buf[:])
	hs.set("Digest", both[:len(a)+n])
	hs.set("Repr-Digest", both[len(a)+n:])
}

// digest sets the digest headers on a response that is not a redirect.
func digest(w http.ResponseWriter, st *State, id inventory.FileID) {
	hs := headerSet{h: w.Header()}
	hs.digest(st, id)
}

// links adds RFC 6249 Link headers for the next best mirrors that hold the
// current version (a duplicate is an identical copy); ep is the escaped path
// without its leading slash.
func (hs *headerSet) links(st *State, req *selection.Request, ep string, next []selection.Choice) {
	start := len(hs.vals)
	for _, c := range next {
		if !req.Current(c.Slot) {
			continue
		}
		m, _ := st.Table.Mirror(c.Slot)
		pri := strconv.Itoa(len(hs.vals) - start + 1)
		hs.vals = append(hs.vals, "<"+mirrorURL(m.URLs.HTTPS, m.URLs.HTTP, req.HTTPS)+ep+">; rel=duplicate; pri="+pri+"; geo="+st.geo[c.Slot])
	}
	if len(hs.vals) > start {
		hs.h["Link"] = hs.vals[start:len(hs.vals):len(hs.vals)]
	}
}

// outdated returns the mirrors on the file's previous version when the
// policy lets them serve it now: its prefix allows outdated copies and the
// file changed no longer ago than the prefix's maximum lag.
func (s *Server) outdated(st *State, p string, id inventory.FileID) []uint64 {
	if !s.cfg.Policy.AllowsOutdated() {
		return nil
	}
	lag := s.cfg.Policy.MaxLag(p)
	at := st.Inv.ChangedAt(id)
	if lag <= 0 || at == 0 || s.cfg.Now().UnixNano()-at > int64(lag) {
		return nil
	}
	return st.Inv.Previous(id)
}

// client locates the address, or takes ?country= and ?asn= when allowed.
func (s *Server) client(r *http.Request, addr netip.Addr) selection.Client {
	c := selection.Client{Addr: addr}
	if s.cfg.Locate != nil && addr.IsValid() {
		l := s.cfg.Locate(addr)
		c.Country, c.Continent, c.Lat, c.Lon, c.HasCoords, c.ASN = l.Country, l.Continent, l.Lat, l.Lon, l.HasCoords, l.ASN
	}
	if s.cfg.AllowOverride {
		q := r.URL.Query()
		if cc, ok := country.Normalize(q.Get("country")); ok {
			cont, _ := country.ContinentOf(cc)
			c.Country, c.Continent, c.HasCoords = cc, cont, false
		}
		if n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToUpper(q.Get("asn")), "AS"), 10, 32); err == nil {
			c.ASN = uint32(n)
		}
	}
	return c
}

// isHTTPS: the connection is TLS, or a trusted proxy says the client's was.
// An untrusted client cannot claim https to get https mirrors only, nor
// hide it.
func (s *Server) isHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && s.cfg.Clients.Trusted(peer.Addr()) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// mirrorURL picks the base URL for the request's scheme: https only for https
// requests (never a downgrade); for plain http, the mirror's http URL when it
// has one.
func mirrorURL(https, http string, wantHTTPS bool) string {
	if wantHTTPS || http == "" {
		return https
	}
	return http
}

func (s *Server) redirect(w http.ResponseWriter, r *http.Request, hs *headerSet, target string) {
	// Each client may get another mirror: no shared cache may keep this.
	hs.set("Location", target)
	hs.set("Cache-Control", "private, no-store")
	w.WriteHeader(s.cfg.Status)
	if r.Method == http.MethodGet {
		esc := template.HTMLEscapeString(target)
		for _, part := range [...]string{"<a href=\"", esc, "\">", esc, "</a>\n"} {
			io.WriteString(w, part)
		}
	}
}

// fallback answers when no mirror qualifies: the origin if there is one,
// else a configured fallback mirror of the right scheme.
func (s *Server) fallback(w http.ResponseWriter, r *http.Request, p string, wantHTTPS bool) {
	if s.root != nil {
		s.cfg.Metrics.fellBack(fallbackOrigin)
		s.serveLocal(w, r, p)
		return
	}
	for _, base := range s.cfg.Fallback {
		if !wantHTTPS || strings.HasPrefix(base, "https://") {
			s.cfg.Metrics.fellBack(fallbackMirror)
			s.redirect(w, r, &headerSet{h: w.Header()}, strings.TrimSuffix(base, "/")+escapePath(p))
			return
		}
	}
	s.cfg.Metrics.fellBack(fallbackNone)
	http.Error(w, "no mirror holds the current version of this file right now; try again later", http.StatusServiceUnavailable)
}

// serveLocal serves a catalog file from the origin. os.Root refuses any path
// that would leave the tree, symlinks included.
func (s *Server) serveLocal(w http.ResponseWriter, r *http.Request, p string) {
	f, err := s.root.Open(strings.TrimPrefix(p, "/"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.cfg.Log.Warn("origin file not served", "path", p, "err", err)
		}
		notFound(w)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o004 == 0 {
		notFound(w)
		return
	}
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

func notFound(w http.ResponseWriter) {
	http.Error(w, "not found", http.StatusNotFound)
}

// The redirector's own pages (directory indexes, PATH?mirrorlist) share the
// public pages' stylesheet when the pages are mounted, and fall back to a
// few inline rules when they are not.
var htmlPages = template.Must(template.New("").Parse(`
{{define "head"}}<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.}}</title>
{{end}}
{{define "top"}}{{if .Style}}<link rel="stylesheet" href="{{.Style}}">{{else}}<style>body{font-family:sans-serif;max-width:60em;margin:auto;padding:0 1em}td,th{padding:.2em .6em;text-align:left}</style>{{end}}
</head><body>
{{if .Pages}}<header class="top"><a class="home" href="{{.Pages}}">Mirrors</a><a href="/">Files</a></header>{{end}}
<main>{{end}}
{{define "index"}}{{template "head" (print "Index of " .Path)}}{{template "top" .}}
<h1>Index of {{.Path}}</h1>
<table class="data files">
<thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Mirrors</th></tr></thead>
<tbody>
{{if ne .Path "/"}}<tr><td data-label="Name"><a href="../">../</a></td><td data-label="Size"></td><td data-label="Mirrors"></td></tr>
{{end}}{{range .Children}}<tr><td data-label="Name"><a href="{{.Href}}">{{.Name}}{{if .Dir}}/{{end}}</a></td><td data-label="Size">{{if not .Dir}}{{.Size}} bytes{{end}}</td><td data-label="Mirrors">{{if not .Dir}}<a href="{{.Href}}?mirrorlist" title="which mirrors have {{.Name}}, and why the others do not">mirrors</a>{{end}}</td></tr>
{{end}}</tbody></table>
{{with .Pages}}<p><a href="{{.}}">All mirrors and their state</a></p>{{end}}
</main></body></html>
{{end}}`))

// index lists a public directory of the catalog.
func (s *Server) index(w http.ResponseWriter, r *http.Request, p string, slash bool, children []Child) {
	if !slash && p != "/" {
		http.Redirect(w, r, escapePath(p)+"/", http.StatusMovedPermanently)
		return
	}
	type row struct {
		Child
		Href string
	}
	rows := make([]row, len(children))
	for i, c := range children {
		href := relativeRef(c.Name)
		if c.Dir {
			href += "/"
		}
		rows[i] = row{c, href}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := htmlPages.ExecuteTemplate(w, "index", struct {
		Path         string
		Children     []row
		Pages, Style string
	}{p, rows, s.cfg.PagesPrefix, s.cfg.StyleURL}); err != nil {
		s.cfg.Log.Warn("index page", "err", err)
	}
}
