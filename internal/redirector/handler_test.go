package redirector

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/clientip"
	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/policy"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

var mt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type world struct {
	origin  string
	entries []catalog.Entry
	inv     *inventory.Inventory
	mirrors []registry.Mirror
	srv     *Server
}

// newWorld: an origin with an ISO, repository metadata, a staged file and a
// symlink out of the tree; mirrors: "de" (http+https, holds everything),
// "us" (http only, holds the ISO), "jp" (holds nothing).
func newWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	w := &world{origin: t.TempDir(), inv: inventory.New()}
	files := map[string]string{
		"pub/x.iso":               strings.Repeat("iso", 3000),
		"pub/repodata/repomd.xml": "<repomd/>",
		"pub/staged/s.iso":        strings.Repeat("s", 9000),
		"pub/with space.iso":      strings.Repeat("w", 9000),
	}
	for p, body := range files {
		full := filepath.Join(w.origin, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(body), 0o644)
	}
	os.Symlink("/etc/passwd", filepath.Join(w.origin, "pub", "escape"))
	id := uint32(0)
	add := func(p string, typ scan.Type, size int64, staged bool, body string) {
		id++
		e := catalog.Entry{ID: id, Path: p, Type: typ, Size: size, ModTime: mt, Staged: staged}
		if body != "" {
			sum := sha256.Sum256([]byte(body))
			e.SHA256 = hex.EncodeToString(sum[:])
		}
		w.entries = append(w.entries, e)
	}
	add("/pub", scan.Dir, 0, false, "")
	add("/pub/repodata", scan.Dir, 0, false, "")
	add("/pub/repodata/repomd.xml", scan.File, 9, false, files["pub/repodata/repomd.xml"])
	add("/pub/staged", scan.Dir, 0, true, "")
	add("/pub/staged/s.iso", scan.File, 9000, true, files["pub/staged/s.iso"])
	add("/pub/with space.iso", scan.File, 9000, false, files["pub/with space.iso"])
	add("/pub/x.iso", scan.File, 9000, false, files["pub/x.iso"])
	add("/pub/escape", scan.File, 9000, false, "") // catalogued, but a symlink out of the tree on disk
	var invFiles []inventory.File
	for _, e := range w.entries {
		if e.Type == scan.File {
			invFiles = append(invFiles, inventory.File{ID: inventory.FileID(e.ID), Path: e.Path, Size: e.Size, ModTime: e.ModTime, Staged: e.Staged})
		}
	}
	if _, err := w.inv.SetCatalog(invFiles); err != nil {
		t.Fatal(err)
	}
	mk := func(id int64, name, cc string, lat, lon float64, urls registry.URLs, holds ...string) {
		m := registry.NewMirror(name, "site")
		m.ID, m.URLs = id, urls
		cont, _ := country.ContinentOf(cc)
		m.Location = registry.Location{Country: cc, Continent: string(cont), Latitude: &lat, Longitude: &lon}
		w.mirrors = append(w.mirrors, m)
		col := w.inv.NewColumn(id)
		for _, p := range holds {
			for _, f := range invFiles {
				if f.Path == p {
					col.Add(f.Path, f.Size, f.ModTime, time.Second)
				}
			}
		}
		col.Finish(nil)
		if _, err := w.inv.Commit(col); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"/pub/x.iso", "/pub/with space.iso", "/pub/repodata/repomd.xml", "/pub/staged/s.iso"}
	mk(1, "de", "DE", 50.1, 8.7, registry.URLs{HTTP: "http://de.example.org/mirror/", HTTPS: "https://de.example.org/mirror/"}, all...)
	mk(2, "us", "US", 39, -77.5, registry.URLs{HTTP: "http://us.example.net/"}, "/pub/x.iso")
	mk(3, "jp", "JP", 35.7, 139.7, registry.URLs{HTTPS: "https://jp.example.com/"})
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	w.refresh(t, nil)
	return w
}

// refresh rebuilds the state, as the daemon does when anything changes.
func (w *world) refresh(t *testing.T, embargo []string) {
	snap := w.inv.Snapshot()
	var ms []selection.Mirror
	for _, m := range w.mirrors {
		slot, _ := snap.Slot(m.ID)
		ms = append(ms, selection.Mirror{Mirror: m, Slot: slot, State: selection.State{Fresh: true}})
	}
	tb, err := selection.NewTable(ms)
	if err != nil {
		t.Fatal(err)
	}
	w.srv.SetState(NewState(tb, snap, NewCatalog(w.entries), embargo))
}

func locateByPrefix(addr netip.Addr) Location {
	switch {
	case netip.MustParsePrefix("192.0.2.0/24").Contains(addr):
		return Location{Country: "DE", Continent: "EU", Lat: 52.5, Lon: 13.4, HasCoords: true}
	case netip.MustParsePrefix("198.51.100.0/24").Contains(addr):
		return Location{Country: "US", Continent: "NA", Lat: 40.7, Lon: -74, HasCoords: true}
	case netip.MustParsePrefix("203.0.113.0/24").Contains(addr):
		return Location{Country: "CU", Continent: "NA", Lat: 23.1, Lon: -82.4, HasCoords: true}
	}
	return Location{}
}

func do(t *testing.T, h http.Handler, method, target, remote string, mutate ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for _, f := range mutate {
		f(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRedirectToNearestHolder(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	rec := do(t, w.srv, "GET", "/pub/x.iso", "192.0.2.9:5000")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "http://de.example.org/mirror/pub/x.iso" {
		t.Fatalf("German client: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if links := rec.Header().Values("Link"); len(links) != 1 || links[0] != "<http://us.example.net/pub/x.iso>; rel=duplicate; pri=1; geo=us" {
		t.Fatalf("Link headers %q", links)
	}
	sum := sha256.Sum256([]byte(strings.Repeat("iso", 3000)))
	if d := rec.Header().Get("Digest"); d != "SHA-256="+base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("Digest %q", d)
	}
	if rec.Header().Get("Repr-Digest") == "" || !strings.Contains(rec.Header().Get("Cache-Control"), "no-store") {
		t.Fatal("missing Repr-Digest or Cache-Control")
	}
	rec = do(t, w.srv, "HEAD", "/pub/x.iso", "198.51.100.9:5000")
	if rec.Header().Get("Location") != "http://us.example.net/pub/x.iso" || rec.Body.Len() != 0 {
		t.Fatalf("US client HEAD: %q, body %d", rec.Header().Get("Location"), rec.Body.Len())
	}
	// Spaces and other bytes are escaped in the target.
	rec = do(t, w.srv, "GET", "/pub/with%20space.iso", "192.0.2.9:5000")
	if rec.Header().Get("Location") != "http://de.example.org/mirror/pub/with%20space.iso" {
		t.Fatalf("escaped target %q", rec.Header().Get("Location"))
	}
}

func TestHTTPSNeverDowngraded(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	tlsReq := func(r *http.Request) { r.TLS = &tls.ConnectionState{} }
	rec := do(t, w.srv, "GET", "/pub/x.iso", "198.51.100.9:5000", tlsReq)
	// The US mirror is nearer but http only: the German https one it is.
	if rec.Header().Get("Location") != "https://de.example.org/mirror/pub/x.iso" {
		t.Fatalf("https request: %q", rec.Header().Get("Location"))
	}
	for _, l := range rec.Header().Values("Link") {
		if strings.Contains(l, "http://") {
			t.Fatalf("http mirror offered to an https client: %s", l)
		}
	}
	// X-Forwarded-Proto counts only from a trusted proxy.
	trusted, _ := clientip.New([]string{"10.0.0.0/8"})
	w2 := newWorld(t, Config{Locate: locateByPrefix, Clients: trusted})
	proto := func(r *http.Request) {
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-For", "198.51.100.9")
	}
	if rec := do(t, w2.srv, "GET", "/pub/x.iso", "10.1.1.1:80", proto); rec.Header().Get("Location") != "https://de.example.org/mirror/pub/x.iso" {
		t.Fatalf("via trusted proxy: %q", rec.Header().Get("Location"))
	}
	if rec := do(t, w2.srv, "GET", "/pub/x.iso", "198.51.100.9:80", proto); rec.Header().Get("Location") != "http://us.example.net/pub/x.iso" {
		t.Fatalf("untrusted client claiming https: %q", rec.Header().Get("Location"))
	}
}

func TestRefusals(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix, Origin: ""})
	w.refresh(t, []string{"CU"})
	cases := []struct {
		method, target, remote string
		code                   int
		body                   string
	}{
		{"GET", "/pub/../etc/passwd", "192.0.2.9:1", 400, "bad request path"},
		{"GET", "/pub/%2e%2e/%2e%2e/etc/passwd", "192.0.2.9:1", 400, "bad request path"},
		{"GET", "/pub/x.iso%00", "192.0.2.9:1", 400, "bad request path"},
		{"GET", "/pub/%ff", "192.0.2.9:1", 400, "bad request path"},
		{"POST", "/pub/x.iso", "192.0.2.9:1", 405, "only GET"},
		{"GET", "/pub/nope.iso", "192.0.2.9:1", 404, "not found"},
		{"GET", "/pub/staged/s.iso", "192.0.2.9:1", 404, "not found"},
		{"GET", "/pub/staged/", "192.0.2.9:1", 404, "not found"},
		{"GET", "/pub/x.iso", "203.0.113.5:1", 403, "export regulations"},
	}
	for _, c := range cases {
		rec := do(t, w.srv, c.method, c.target, c.remote)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.body) || rec.Header().Get("Location") != "" {
			t.Errorf("%s %s: %d %q", c.method, c.target, rec.Code, rec.Body.String())
		}
	}
	// A staged file and a missing one look exactly alike.
	a, b := do(t, w.srv, "GET", "/pub/staged/s.iso", "192.0.2.9:1"), do(t, w.srv, "GET", "/pub/nope.iso", "192.0.2.9:1")
	if a.Body.String() != b.Body.String() || len(a.Header()) != len(b.Header()) {
		t.Fatal("a staged file answers differently from a missing one")
	}
}

func TestServeLocallyAndFallback(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	// Without an origin, metadata is redirected like anything else.
	if rec := do(t, w.srv, "GET", "/pub/repodata/repomd.xml", "192.0.2.9:1"); rec.Code != http.StatusFound {
		t.Fatalf("metadata without an origin: %d", rec.Code)
	}
	w = newWorld(t, Config{Locate: locateByPrefix, Origin: ""})
	srv, err := New(Config{Locate: locateByPrefix, Origin: w.origin})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	w.srv = srv
	w.refresh(t, nil)
	rec := do(t, srv, "GET", "/pub/repodata/repomd.xml", "192.0.2.9:1")
	if rec.Code != 200 || rec.Body.String() != "<repomd/>" || rec.Header().Get("Location") != "" {
		t.Fatalf("metadata served locally: %d %q", rec.Code, rec.Body.String())
	}
	// Nobody holds it for a Japanese https client? jp holds nothing: the
	// origin serves.
	tlsReq := func(r *http.Request) { r.TLS = &tls.ConnectionState{} }
	w.inv.RemoveMirror(1)
	w.refresh(t, nil)
	rec = do(t, srv, "GET", "/pub/with%20space.iso", "192.0.2.9:1", tlsReq)
	if rec.Code != 200 || rec.Body.Len() != 9000 {
		t.Fatalf("fallback to the origin: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	// A catalogued path that is a symlink out of the tree is never served.
	if rec := do(t, srv, "GET", "/pub/escape", "192.0.2.9:1"); rec.Code != 404 || strings.Contains(rec.Body.String(), "root:") {
		t.Fatalf("symlink escape: %d %q", rec.Code, rec.Body.String())
	}
	// Without an origin: configured fallback mirrors, of the request's scheme.
	fb, _ := New(Config{Locate: locateByPrefix, Fallback: []string{"http://fallback.example.org/pub", "https://secure.example.org/"}})
	w.srv = fb
	w.refresh(t, nil)
	if rec := do(t, fb, "GET", "/pub/with%20space.iso", "192.0.2.9:1"); rec.Header().Get("Location") != "http://fallback.example.org/pub/pub/with%20space.iso" {
		t.Fatalf("http fallback %q", rec.Header().Get("Location"))
	}
	if rec := do(t, fb, "GET", "/pub/with%20space.iso", "192.0.2.9:1", tlsReq); rec.Header().Get("Location") != "https://secure.example.org/pub/with%20space.iso" {
		t.Fatalf("https fallback %q", rec.Header().Get("Location"))
	}
	none, _ := New(Config{})
	w.srv = none
	w.refresh(t, nil)
	if rec := do(t, none, "GET", "/pub/with%20space.iso", "192.0.2.9:1"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("nothing to fall back to: %d", rec.Code)
	}
}

func TestDirectoryIndex(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	if rec := do(t, w.srv, "GET", "/pub", "192.0.2.9:1"); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/pub/" {
		t.Fatalf("directory without slash: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	rec := do(t, w.srv, "GET", "/pub/", "192.0.2.9:1")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `href="x.iso"`) || !strings.Contains(body, `href="with%20space.iso"`) ||
		!strings.Contains(body, `href="repodata/"`) || strings.Contains(body, "staged") {
		t.Fatalf("index: %d\n%s", rec.Code, body)
	}
	if rec := do(t, w.srv, "GET", "/", "192.0.2.9:1"); !strings.Contains(rec.Body.String(), `href="pub/"`) {
		t.Fatalf("root index:\n%s", rec.Body.String())
	}
	// Every file links its own page: the mirrors that have it, and why
	// the others do not.
	if !strings.Contains(body, `href="x.iso?mirrorlist"`) || !strings.Contains(body, `href="with%20space.iso?mirrorlist"`) ||
		strings.Contains(body, `repodata/?mirrorlist`) {
		t.Fatalf("index lacks the file pages' links:\n%s", body)
	}
	if strings.Contains(body, "All mirrors") {
		t.Fatal("index links mirror pages that are not configured")
	}
}

// The file page links the public pages of the mirrors it names, when the
// pages are configured, and the file's other forms.
func TestFilePageLinks(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix, PagesPrefix: "/mirrors/"})
	w.srv.SetNetwork(&netstatus.Network{Mirrors: []netstatus.Mirror{{Name: "de"}, {Name: "jp"}}}) // "us" has no public page
	body := do(t, w.srv, "GET", "/pub/x.iso?mirrorlist", "192.0.2.9:1").Body.String()
	for _, want := range []string{`<a href="/mirrors/de">de</a>`, `<td data-label="Mirror">us</td>`, `<li><a href="/mirrors/jp">jp</a> (JP)`,
		`<a href="x.iso.meta4">Metalink</a>`, `<a href="x.iso?mirrorlist&amp;json">`, `<a href="/mirrors/">all mirrors</a>`} {
		if !strings.Contains(body, want) {
			t.Errorf("file page lacks %s:\n%s", want, body)
		}
	}
	if idx := do(t, w.srv, "GET", "/pub/", "192.0.2.9:1").Body.String(); !strings.Contains(idx, `<a href="/mirrors/">All mirrors and their state</a>`) {
		t.Errorf("index does not link the mirror pages:\n%s", idx)
	}
}

func TestRelativeRef(t *testing.T) {
	for in, want := range map[string]string{"x.iso": "x.iso", "with space": "with%20space", "http:x": "./http:x", "javascript:alert(1)": "./javascript:alert%281%29"} {
		if got := relativeRef(in); got != want {
			t.Errorf("relativeRef(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOverrideOnlyWhenEnabled(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	if rec := do(t, w.srv, "GET", "/pub/x.iso?country=US", "192.0.2.9:1"); !strings.HasPrefix(rec.Header().Get("Location"), "http://de.") {
		t.Fatalf("override honoured while disabled: %q", rec.Header().Get("Location"))
	}
	w2 := newWorld(t, Config{Locate: locateByPrefix, AllowOverride: true})
	if rec := do(t, w2.srv, "GET", "/pub/x.iso?country=US", "192.0.2.9:1"); rec.Header().Get("Location") != "http://us.example.net/pub/x.iso" {
		t.Fatalf("override: %q", rec.Header().Get("Location"))
	}
}

func TestNotReadyAnswers503(t *testing.T) {
	srv, _ := New(Config{})
	rec := do(t, srv, "GET", "/x", "192.0.2.9:1")
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusServiceUnavailable || len(body) == 0 {
		t.Fatalf("%d %q", rec.Code, body)
	}
}

// bumpISO gives /pub/x.iso a new version that changed at changedAt: "us"
// keeps the previous one, "de" syncs the new one.
func (w *world) bumpISO(t *testing.T, changedAt time.Time) {
	t.Helper()
	var files []inventory.File
	for i, e := range w.entries {
		if e.Type != scan.File {
			continue
		}
		f := inventory.File{ID: inventory.FileID(e.ID), Path: e.Path, Size: e.Size, ModTime: e.ModTime, Staged: e.Staged}
		if e.Path == "/pub/x.iso" {
			f.Previous, f.HasPrevious, f.ChangedAt = inventory.Version{Size: e.Size, ModTime: e.ModTime}, true, changedAt
			f.Size, f.ModTime = e.Size+1, e.ModTime.Add(time.Hour)
			sum := sha256.Sum256([]byte("the new ISO"))
			w.entries[i].Size, w.entries[i].ModTime, w.entries[i].SHA256 = f.Size, f.ModTime, hex.EncodeToString(sum[:])
		}
		files = append(files, f)
	}
	if _, err := w.inv.SetCatalog(files); err != nil {
		t.Fatal(err)
	}
	col := w.inv.NewColumn(1)
	for _, f := range files {
		col.Add(f.Path, f.Size, f.ModTime, time.Second)
	}
	col.Finish(nil)
	if _, err := w.inv.Commit(col); err != nil {
		t.Fatal(err)
	}
	w.refresh(t, nil)
}

func TestAllowOutdated(t *testing.T) {
	now := mt.Add(100 * time.Hour)
	clock := func() time.Time { return now }
	pol, err := policy.New(nil, -1, policy.Outdated{Prefix: "/pub/", MaxLag: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, Config{Locate: locateByPrefix, Policy: pol, Now: clock})
	w.bumpISO(t, now.Add(-time.Hour))
	us := "198.51.100.9:5000"

	// Within the lag the US client keeps its nearby mirror, one version
	// behind: no digest or duplicates, which describe the new version.
	rec := do(t, w.srv, "GET", "/pub/x.iso", us)
	if loc := rec.Header().Get("Location"); loc != "http://us.example.net/pub/x.iso" {
		t.Fatalf("within the lag: %q", loc)
	}
	if rec.Header().Get("Digest") != "" || rec.Header().Get("Repr-Digest") != "" || len(rec.Header().Values("Link")) != 0 {
		t.Fatalf("an outdated target got the current version's digest or links: %v", rec.Header())
	}
	// The German client gets the current copy, with its digest, and no
	// outdated mirror as a duplicate.
	rec = do(t, w.srv, "GET", "/pub/x.iso", "192.0.2.9:5000")
	if rec.Header().Get("Location") != "http://de.example.org/mirror/pub/x.iso" || rec.Header().Get("Digest") == "" {
		t.Fatalf("current holder: %q digest %q", rec.Header().Get("Location"), rec.Header().Get("Digest"))
	}
	if links := rec.Header().Values("Link"); len(links) != 0 {
		t.Fatalf("outdated mirror offered as a duplicate: %q", links)
	}
	// The mirror list says which is which; the metalink lists only the
	// current holder, whose copy matches its hashes.
	rec = do(t, w.srv, "GET", "/pub/x.iso?mirrorlist&json", us)
	if !strings.Contains(rec.Body.String(), `"outdated": true`) || !strings.Contains(rec.Body.String(), `"name": "de"`) {
		t.Fatalf("mirror list:\n%s", rec.Body)
	}
	rec = do(t, w.srv, "GET", "/pub/x.iso.meta4", us)
	if body := rec.Body.String(); rec.Code != http.StatusOK || strings.Contains(body, "us.example.net") || !strings.Contains(body, "de.example.org") {
		t.Fatalf("metalink %d:\n%s", rec.Code, body)
	}

	// Past the lag the outdated mirror is out.
	now = now.Add(2 * time.Hour)
	if loc := do(t, w.srv, "GET", "/pub/x.iso", us).Header().Get("Location"); loc != "http://de.example.org/mirror/pub/x.iso" {
		t.Fatalf("past the lag: %q", loc)
	}
	// Without a rule it never counted.
	plain := newWorld(t, Config{Locate: locateByPrefix, Now: clock})
	plain.bumpISO(t, now.Add(-time.Minute))
	if loc := do(t, plain.srv, "GET", "/pub/x.iso", us).Header().Get("Location"); loc != "http://de.example.org/mirror/pub/x.iso" {
		t.Fatalf("no allow_outdated rule: %q", loc)
	}
}
