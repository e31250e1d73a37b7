package redirector

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
)

// The JSON API (docs/api.md) lives on the redirector's listener under
// APIPrefix. The redirector owns the whole prefix, not only the current
// version's routes: any /api/ path is answered by the API (a JSON 404 when
// unknown) and never looked up in the catalog, so adding /api/v2/ later
// changes nothing for downloads. A catalog with a top-level "api" entry is
// reported when the catalog is loaded; its files cannot be downloaded
// through the redirector.
const (
	APIPrefix  = "/api/"
	apiVersion = "v1"
	apiBase    = APIPrefix + apiVersion + "/"
	// scanHistory is how many recent scans the mirror detail shows.
	scanHistory = 20
	// historyTimeout bounds the store read behind a mirror's detail: the
	// API answers without the history rather than hang on a slow store.
	historyTimeout = 2 * time.Second
)

//go:embed openapi.json
var openAPIDoc []byte

func isAPI(p string) bool { return strings.HasPrefix(p, APIPrefix) }

// APIMirrors is GET /api/v1/mirrors.
type APIMirrors struct {
	Generated time.Time          `json:"generated"`
	Mirrors   []netstatus.Mirror `json:"mirrors"`
}

// APIMirror is GET /api/v1/mirrors/{name}: the mirror, its recent scans
// with the lag each saw, and its recent probes, newest first.
type APIMirror struct {
	Generated time.Time        `json:"generated"`
	Mirror    netstatus.Mirror `json:"mirror"`
	netstatus.History
}

// APIStatus is GET /api/v1/status: the network at a glance.
type APIStatus struct {
	APIVersion   string                  `json:"api_version"`
	Generated    time.Time               `json:"generated"`
	Files        int                     `json:"files"`
	CatalogBuilt time.Time               `json:"catalog_built,omitzero"`
	Mirrors      int                     `json:"mirrors"`
	Totals       map[netstatus.State]int `json:"totals"`
}

// APIError is every API error's body.
type APIError struct {
	Error string `json:"error"`
}

// serveAPI answers every path under APIPrefix.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Anyone may read the public picture from a browser page.
	h.Set("Access-Control-Allow-Origin", "*")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		apiError(w, http.StatusMethodNotAllowed, "only GET and HEAD")
		return
	}
	p, _, err := cleanPath(r.URL)
	if err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	route, ok := strings.CutPrefix(p+"/", apiBase)
	if !ok {
		apiError(w, http.StatusNotFound, "no such API; this server speaks "+apiBase)
		return
	}
	route = strings.TrimSuffix(route, "/")
	if route == "openapi.json" {
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPIDoc)
		return
	}
	if file, ok := strings.CutPrefix(route, "files/"); ok {
		s.apiFile(w, r, "/"+file)
		return
	}
	n := s.Network()
	if n == nil {
		apiError(w, http.StatusServiceUnavailable, "starting up")
		return
	}
	switch {
	case route == "status":
		writeJSON(w, "public, max-age=10", APIStatus{APIVersion: apiVersion, Generated: n.Generated, Files: n.Files,
			CatalogBuilt: n.CatalogBuilt, Mirrors: len(n.Mirrors), Totals: n.Totals})
	case route == "mirrors":
		writeJSON(w, "public, max-age=10", APIMirrors{Generated: n.Generated, Mirrors: n.Mirrors})
	case strings.HasPrefix(route, "mirrors/") && !strings.Contains(route[len("mirrors/"):], "/"):
		s.apiMirror(w, r, n, route[len("mirrors/"):])
	default:
		apiError(w, http.StatusNotFound, "no such API route: "+p)
	}
}

// apiMirror answers one mirror with its history.
func (s *Server) apiMirror(w http.ResponseWriter, r *http.Request, n *netstatus.Network, name string) {
	m, ok := n.Mirror(name)
	if !ok {
		apiError(w, http.StatusNotFound, fmt.Sprintf("no public mirror named %q", name))
		return
	}
	writeJSON(w, "public, max-age=10", APIMirror{Generated: n.Generated, Mirror: m, History: s.MirrorHistory(r.Context(), name)})
}

// MirrorHistory returns a public mirror's recent scans, read from the store
// on request (this is not the download path) and time-boxed, and its
// recent probes. A store that does not answer in time leaves the scans out
// with a word why; the probes are in memory and always there.
func (s *Server) MirrorHistory(ctx context.Context, name string) netstatus.History {
	h := netstatus.History{Scans: []netstatus.Scan{}, Probes: []netstatus.ProbeResult{}}
	if n := s.Network(); n == nil {
		return h
	} else if _, ok := n.Mirror(name); !ok {
		return h // private or unknown: nothing to show
	}
	if s.cfg.ScanHistory != nil {
		ctx, cancel := context.WithTimeout(ctx, historyTimeout)
		defer cancel()
		recs, err := s.cfg.ScanHistory(ctx, name, scanHistory)
		if err != nil {
			s.cfg.Log.Warn("scan history not read", "mirror", name, "err", err)
			h.ScansError = "scan history unavailable right now"
		}
		h.Scans = append(h.Scans, netstatus.ScansOf(recs)...)
	}
	if s.cfg.ProbeHistory != nil {
		h.Probes = append(h.Probes, netstatus.ProbesOf(s.cfg.ProbeHistory(name))...)
	}
	return h
}

// apiFile answers a file's mirrors in this client's order, with the public
// mirrors left out and why: the same list as PATH?mirrorlist&json.
func (s *Server) apiFile(w http.ResponseWriter, r *http.Request, p string) {
	st := s.state.Load()
	if st == nil {
		apiError(w, http.StatusServiceUnavailable, "starting up")
		return
	}
	id, ok := st.Inv.Lookup(p)
	f, _ := st.Inv.File(id)
	if !ok || f.Staged {
		// Staged content is indistinguishable from missing, as for downloads.
		apiError(w, http.StatusNotFound, "no such file in the catalog: "+p)
		return
	}
	req := s.request(st, r, p, id, f.Size)
	if st.embargo[req.Client.Country] {
		apiError(w, http.StatusForbidden, fmt.Sprintf("downloads are not offered to %s: export regulations the project must follow forbid it", req.Client.Country))
		return
	}
	rnd := s.rnds.Get().(*rand.Rand)
	defer s.rnds.Put(rnd)
	// The order is this client's (location, scheme, a weighted draw).
	writeJSON(w, "private, max-age=10", s.mirrorList(st, &req, rnd, p, id))
}

func writeJSON(w http.ResponseWriter, cache string, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", cache)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // a failed write is the client gone
}

func apiError(w http.ResponseWriter, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(APIError{Error: msg})
}
