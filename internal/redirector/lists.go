package redirector

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/buildinfo"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/metalink"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

// MirrorList is the JSON of PATH?mirrorlist: the mirrors this client would
// be served, in order, and why the others are left out. Private mirrors only
// ever appear for the clients they serve, and never as excluded.
type MirrorList struct {
	Path     string         `json:"path"`
	Size     int64          `json:"size"`
	SHA256   string         `json:"sha256,omitempty"`
	Client   ListClient     `json:"client"`
	Mirrors  []ListedMirror `json:"mirrors"`
	Excluded []Excluded     `json:"excluded"`
}

// ListClient is what the redirector knows of the client.
type ListClient struct {
	Address   string `json:"address"`
	Country   string `json:"country"`
	Continent string `json:"continent"`
	ASN       uint32 `json:"asn,omitempty"`
}

// ListedMirror is one mirror in preference order.
type ListedMirror struct {
	Name       string  `json:"name"`
	Country    string  `json:"country"`
	URL        string  `json:"url"`
	Class      string  `json:"class"`
	DistanceKm float64 `json:"distance_km,omitempty"`
	// Outdated: the mirror still has the file's previous version, which
	// the redirector's policy lets it serve for a while after a change.
	Outdated bool `json:"outdated,omitempty"`
}

// Excluded is a public mirror left out, with every reason.
type Excluded struct {
	Name    string   `json:"name"`
	Country string   `json:"country"`
	Reasons []string `json:"reasons"`
}

func (s *Server) mirrorList(st *State, req *selection.Request, rnd *rand.Rand, p string, id inventory.FileID) MirrorList {
	f, _ := st.Inv.File(id)
	c := req.Client
	l := MirrorList{Path: p, Size: f.Size, Mirrors: []ListedMirror{}, Excluded: []Excluded{},
		Client: ListClient{Address: c.Addr.String(), Country: c.Country, Continent: string(c.Continent), ASN: c.ASN}}
	if sum, ok := st.SHA256(id); ok {
		l.SHA256 = hex.EncodeToString(sum[:])
	}
	listed := map[int]bool{}
	for _, ch := range st.Table.Rank(req, rnd, nil) {
		m, _ := st.Table.Mirror(ch.Slot)
		listed[ch.Slot] = true
		lm := ListedMirror{Name: m.Name, Country: m.Location.Country, Class: ch.Class.String(),
			URL: mirrorURL(m.URLs.HTTPS, m.URLs.HTTP, req.HTTPS) + escapePath(p)[1:], Outdated: !req.Current(ch.Slot)}
		if ch.DistanceKm >= 0 {
			lm.DistanceKm = float64(int(ch.DistanceKm))
		}
		l.Mirrors = append(l.Mirrors, lm)
	}
	for slot := 0; slot < st.Table.Slots(); slot++ {
		m, ok := st.Table.Mirror(slot)
		if !ok || listed[slot] || !m.Public {
			continue
		}
		l.Excluded = append(l.Excluded, Excluded{Name: m.Name, Country: m.Location.Country, Reasons: st.Table.Explain(req, slot)})
	}
	return l
}

var listPage = template.Must(template.Must(htmlPages.Clone()).Parse(`{{define "list"}}{{template "head" (print "Mirrors for " .Path)}}{{template "top" .}}
<h1>Mirrors for {{.Path}}</h1>
<p>{{.Size}} bytes{{if .SHA256}}, SHA-256 <code>{{.SHA256}}</code>{{end}}. You are {{.Client.Address}}{{if .Client.Country}} in {{.Client.Country}}{{end}}.</p>
<p>Download: <a href="{{.Base}}">through the redirector</a> · <a href="{{.Base}}.meta4">Metalink</a> · <a href="{{.Base}}?mirrorlist&amp;json">this list as JSON</a>{{with .Pages}} · <a href="{{.}}">all mirrors</a>{{end}}</p>
<h2>In the order you would get them</h2>
{{if .Mirrors}}<table class="data">
<thead><tr><th scope="col">#</th><th scope="col">Mirror</th><th scope="col">Country</th><th scope="col">Why</th><th scope="col">Link</th></tr></thead>
<tbody>
{{range $i, $m := .Mirrors}}<tr><td data-label="#">{{$i}}</td><td data-label="Mirror">{{$.Name $m.Name}}</td><td data-label="Country">{{$m.Country}}</td><td data-label="Why">{{$m.Class}}{{if $m.DistanceKm}}, {{$m.DistanceKm}} km{{end}}{{if $m.Outdated}} (previous version, allowed for now){{end}}</td><td data-label="Link"><a href="{{$m.URL}}">{{$m.URL}}</a></td></tr>
{{end}}</tbody></table>{{else}}<p>No mirror holds the current version for you right now; the download is served from the origin.</p>{{end}}
{{if .Excluded}}<h2>Not offered to you</h2><ul>
{{range .Excluded}}<li>{{$.Name .Name}} ({{.Country}}): {{range $i, $r := .Reasons}}{{if $i}}; {{end}}{{$r}}{{end}}</li>
{{end}}</ul>{{end}}
</main></body></html>
{{end}}`))

// listView is the HTML list's data: the list, and links to the public
// mirror pages for the mirrors that have one.
type listView struct {
	MirrorList
	Base   string // the file's own URL, relative to the page
	Pages  string
	Style  string
	public map[string]bool
}

// Name writes a mirror's name, linked to its public page when it has one
// (a private mirror listed to its own clients has none).
func (v listView) Name(name string) template.HTML {
	text := template.HTMLEscapeString(name)
	if v.Pages == "" || !v.public[name] {
		return template.HTML(text)
	}
	return template.HTML(`<a href="` + template.HTMLEscapeString(v.Pages+url.PathEscape(name)) + `">` + text + `</a>`)
}

// serveList answers PATH?mirrorlist as HTML, JSON (?mirrorlist&json or
// Accept: application/json) or text (?mirrorlist&txt: one URL per line).
func (s *Server) serveList(w http.ResponseWriter, r *http.Request, l MirrorList) {
	w.Header().Set("Cache-Control", "private, no-store")
	q := r.URL.Query()
	switch {
	case q.Has("json") || strings.Contains(r.Header.Get("Accept"), "application/json"):
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(l)
	case q.Has("txt"):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, m := range l.Mirrors {
			fmt.Fprintln(w, m.URL)
		}
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		v := listView{MirrorList: l, Base: relativeRef(path.Base(l.Path)), Pages: s.cfg.PagesPrefix, Style: s.cfg.StyleURL, public: map[string]bool{}}
		if n := s.Network(); n != nil {
			for _, m := range n.Mirrors {
				v.public[m.Name] = true
			}
		}
		if err := listPage.ExecuteTemplate(w, "list", v); err != nil {
			s.cfg.Log.Warn("mirror list page", "err", err)
		}
	}
}

// serveMetalink answers PATH.meta4 (Metalink 4) and PATH.metalink (3.0).
func (s *Server) serveMetalink(w http.ResponseWriter, r *http.Request, st *State, req *selection.Request, rnd *rand.Rand, p string, id inventory.FileID, v4 bool) {
	e, ok := st.Entry(id)
	if !ok {
		notFound(w)
		return
	}
	file := metalink.File{Name: path.Base(p), Size: e.Size, ModTime: e.ModTime, SHA256: e.SHA256, SHA1: e.SHA1,
		MD5: e.MD5, SHA512: e.SHA512, PieceSize: e.PieceSize, Pieces: e.Pieces}
	// A metalink's hashes are the current version's: a mirror on the
	// previous one would fail every client's verification.
	current := *req
	current.Outdated = nil
	var urls []metalink.URL
	for i, ch := range st.Table.Rank(&current, rnd, nil) {
		m, _ := st.Table.Mirror(ch.Slot)
		urls = append(urls, metalink.URL{URL: mirrorURL(m.URLs.HTTPS, m.URLs.HTTP, req.HTTPS) + escapePath(p)[1:],
			Location: m.Location.Country, Priority: i + 1})
	}
	if len(urls) == 0 {
		http.Error(w, "no mirror holds the current version of this file right now", http.StatusServiceUnavailable)
		return
	}
	scheme := "http"
	if req.HTTPS {
		scheme = "https"
	}
	o := metalink.Options{Published: time.Now().UTC(), Origin: scheme + "://" + r.Host + r.URL.EscapedPath(),
		Generator: "mirrorkit/" + buildinfo.Get().Version}
	w.Header().Set("Cache-Control", "private, no-store")
	var err error
	if v4 {
		w.Header().Set("Content-Type", metalink.ContentTypeMeta4)
		err = metalink.Meta4(w, file, urls, o)
	} else {
		w.Header().Set("Content-Type", metalink.ContentTypeMetalink3)
		err = metalink.Metalink3(w, file, urls, o)
	}
	if err != nil {
		// The metalink package writes nothing when it refuses its input, so
		// the client can still get a proper error.
		s.cfg.Log.Warn("metalink", "path", p, "err", err)
		http.Error(w, "cannot describe this file as a metalink", http.StatusInternalServerError)
	}
}
