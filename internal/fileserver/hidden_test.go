package fileserver

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hiddenTree builds a tree with every kind of thing that must not be served
// next to things that must, and returns its root.
func hiddenTree(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "pub-root")
	w := func(rel string, mode os.FileMode) {
		writeFile(t, filepath.Join(root, rel), []byte("content of "+rel+"\n"), mode)
	}
	w("pub/file.txt", 0o644)
	w("pub/.treeinfo", 0o644) // a real installer file: dot names are not hidden as such
	w("pub/caf\xe9.txt", 0o644)
	w("pub/unreadable.txt", 0o640)
	w("pub/.~tmp~/x.rpm", 0o644)
	w("pub/.x.rpm.AbC123", 0o644)
	w("staged/f.iso", 0o644)
	w("staged-x/g.txt", 0o644)
	writeFile(t, filepath.Join(base, "outside.txt"), []byte("secret\n"), 0o644)
	for _, c := range []struct {
		dir  string
		mode os.FileMode
	}{{"staged", 0o750}, {"staged-x", 0o711}} {
		if err := os.Chmod(filepath.Join(root, c.dir), c.mode); err != nil {
			t.Fatal(err)
		}
	}
	links := map[string]string{
		"link-ok":         "pub/file.txt",
		"link-abs-in":     filepath.Join(root, "pub/file.txt"),
		"link-dir-ok":     "pub",
		"link-staged":     "staged/f.iso",
		"link-staged-dir": "staged",
		"link-out":        "/etc/passwd",
		"link-out-rel":    "../outside.txt",
		"link-out-dir":    "..",
		"loop":            "loop",
		"dangling":        "nothing-here",
		"pub/up-staged":   "../staged/f.iso",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	mkfifo(t, filepath.Join(root, "fifo"))
	return root
}

// notServed are paths that must answer exactly like a missing file.
var notServed = []string{
	"/nonexistent",
	"/pub/unreadable.txt",
	"/staged", "/staged/", "/staged/f.iso",
	"/staged-x/", "/staged-x/g.txt",
	"/pub/.~tmp~/", "/pub/.~tmp~/x.rpm",
	"/pub/.x.rpm.AbC123",
	"/link-staged", "/link-staged-dir", "/link-staged-dir/", "/link-staged-dir/f.iso",
	"/pub/up-staged",
	"/link-out", "/link-out-rel", "/link-out-dir/", "/link-out-dir/outside.txt",
	"/loop", "/dangling", "/fifo",
	"/pub/file.txt/",
	"/pub/nope\xff", // invalid UTF-8 that names nothing
}

func get(t *testing.T, method, rawURL string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func headerWithoutDate(h http.Header) http.Header {
	h = h.Clone()
	h.Del("Date")
	return h
}

func TestNotServedIsIndistinguishableFromMissing(t *testing.T) {
	root := hiddenTree(t)
	ts := start(t, DefaultConfig(root))
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		ref, refBody := get(t, method, ts.URL+"/nonexistent")
		if ref.StatusCode != http.StatusNotFound {
			t.Fatalf("%s /nonexistent: %d", method, ref.StatusCode)
		}
		for _, p := range notServed {
			resp, body := get(t, method, ts.URL+(&url.URL{Path: p}).EscapedPath())
			if resp.StatusCode != ref.StatusCode || string(body) != string(refBody) {
				t.Errorf("%s %q: %d %q, want %d %q", method, p, resp.StatusCode, body, ref.StatusCode, refBody)
			}
			if got, want := headerWithoutDate(resp.Header), headerWithoutDate(ref.Header); !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("%s %q: headers %v, want %v (as for a missing file)", method, p, got, want)
			}
		}
	}
	// What is served next to them.
	for p, want := range map[string]string{
		"/pub/file.txt":         "content of pub/file.txt\n",
		"/link-ok":              "content of pub/file.txt\n",
		"/link-abs-in":          "content of pub/file.txt\n",
		"/link-dir-ok/file.txt": "content of pub/file.txt\n",
		"/pub/.treeinfo":        "content of pub/.treeinfo\n",
		"/pub/caf\xe9.txt":      "content of pub/caf\xe9.txt\n",
		"//pub/./file.txt":      "content of pub/file.txt\n",
	} {
		resp, body := get(t, http.MethodGet, ts.URL+(&url.URL{Path: p}).EscapedPath())
		if resp.StatusCode != http.StatusOK || string(body) != want {
			t.Errorf("GET %q: %d %q, want 200 %q", p, resp.StatusCode, body, want)
		}
	}
}

func TestListingsShowOnlyWhatIsServed(t *testing.T) {
	root := hiddenTree(t)
	ts := start(t, DefaultConfig(root))
	want := map[string][]string{
		"/":     {"link-dir-ok/", "pub/", "link-abs-in", "link-ok"},
		"/pub/": {".treeinfo", "caf\xe9.txt", "file.txt"},
	}
	for dir, names := range want {
		// HTML: names from the hrefs, as a scanner reads them.
		resp, body := get(t, http.MethodGet, ts.URL+dir)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", dir, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var got []string
		for _, line := range strings.Split(string(body), "\n") {
			_, rest, ok := strings.Cut(line, `<a href="`)
			if !ok {
				continue
			}
			href, _, _ := strings.Cut(rest, `"`)
			if href == "../" {
				continue
			}
			name, err := url.PathUnescape(href)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
		}
		if !slices.Equal(got, names) {
			t.Errorf("HTML listing of %s: %q, want %q", dir, got, names)
		}
		// JSON, by Accept and by ?json.
		for _, req := range []struct{ url, accept string }{
			{ts.URL + dir, "application/json, text/html;q=0.9, */*;q=0.5"},
			{ts.URL + dir + "?json", ""},
		} {
			r, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, req.url, nil)
			if req.accept != "" {
				r.Header.Set("Accept", req.accept)
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("%s (Accept %q): Content-Type %q", req.url, req.accept, ct)
			}
			var list []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			}
			if err := json.Unmarshal(raw, &list); err != nil {
				t.Fatalf("%s: %v\n%s", req.url, err, raw)
			}
			var got []string
			for _, e := range list {
				n := e.Name
				if e.Type == "directory" {
					n += "/"
				}
				got = append(got, n)
			}
			// encoding/json turns the Latin-1 byte into U+FFFD; compare that way.
			wantJSON := make([]string, len(names))
			for i, n := range names {
				wantJSON[i] = strings.ToValidUTF8(n, "\uFFFD")
			}
			if !slices.Equal(got, wantJSON) {
				t.Errorf("JSON listing of %s: %q, want %q", req.url, got, wantJSON)
			}
		}
	}
	// A directory without its slash is redirected, a staged one is not.
	resp, _ := get(t, http.MethodGet, ts.URL+"/pub")
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/pub/" {
		t.Errorf("GET /pub: %d Location %q, want 301 /pub/", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestHostilePathsWithCurl sends what a browser would never send, with
// curl --path-as-is so nothing is normalised on the way.
func TestHostilePathsWithCurl(t *testing.T) {
	root := hiddenTree(t)
	ts := start(t, DefaultConfig(root))
	for _, c := range []struct {
		path string
		code string
	}{
		{"/%2e%2e/outside.txt", "400"},
		{"/pub/%2E%2E/%2e%2e/outside.txt", "400"},
		{"/pub/../pub/file.txt", "400"},
		{"/pub/file.txt%00.iso", "400"},
		{"/%2e%2e%2foutside.txt", "400"}, // net/http decodes %2f too: a ".." segment
		{"/pub/caf%E9.txt", "200"},
		{"/pub/caf%C3%A9.txt", "404"}, // the UTF-8 spelling is another name
		{"/pub/%FF%FE", "404"},
		{"/link-out-rel", "404"},
		{"/staged/f.iso", "404"},
	} {
		out := mustRun(t, "curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", ts.URL+c.path)
		if out != c.code {
			t.Errorf("curl %s: %s, want %s", c.path, out, c.code)
		}
	}
	// A HEAD of staged content looks like a HEAD of nothing, to curl too.
	a := mustRun(t, "curl", "-sI", ts.URL+"/staged/f.iso")
	b := mustRun(t, "curl", "-sI", ts.URL+"/no/such/file")
	strip := func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\r\n") {
			if !strings.HasPrefix(l, "Date:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if strip(a) != strip(b) {
		t.Errorf("HEAD staged:\n%s\nHEAD missing:\n%s", a, b)
	}
}

func TestRejectNonUTF8(t *testing.T) {
	root := hiddenTree(t)
	cfg := DefaultConfig(root)
	cfg.RejectNonUTF8 = true
	ts := start(t, cfg)
	resp, _ := get(t, http.MethodGet, ts.URL+"/pub/caf%E9.txt")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("Latin-1 name with reject_non_utf8: %d, want 404", resp.StatusCode)
	}
	_, body := get(t, http.MethodGet, ts.URL+"/pub/?json")
	if strings.Contains(string(body), "caf") {
		t.Errorf("listing shows a rejected name: %s", body)
	}
}

func TestRsyncTempRule(t *testing.T) {
	for name, want := range map[string]bool{
		".~tmp~":          true,
		".~tmp~x":         true,
		".foo.rpm.aB3xY9": true,
		".a.Z00000":       true,
		".treeinfo":       false,
		".discinfo":       false,
		"foo.rpm.aB3xY9":  false, // no leading dot
		".foo.rpm.aB3x-9": false,
		".foo.rpm.aB3xY":  false, // five
		"..aB3xY9":        false, // too short to have a name
		".x.tar.gz":       false,
	} {
		if got := isRsyncTemp(name); got != want {
			t.Errorf("isRsyncTemp(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestPatternsAgreeWithPathMatch: the fast shapes answer as path.Match does.
func TestPatternsAgreeWithPathMatch(t *testing.T) {
	pats := append(DefaultMetadata(), DefaultImmutable()...)
	pats = append(pats, "a?c", "[Rr]elease", `\*lit`, "/fedora/*/repodata/*")
	names := []string{"repomd.xml", "repomd.xml.asc", "x.xml.gz", "primary.sqlite.bz2", "Release", "Release.gpg",
		"InRelease", "Packages", "Packages.xz", "core.db", "core.db.sig", "core.db.tar.gz", "x.rpm", "x.src.rpm",
		"a.pkg.tar.zst", "TIME", "TIMEx", "abc", "release", "*lit", "lit", "x.iso", "x.iso.asc", "README"}
	for _, pat := range pats {
		ps := newPatterns([]string{pat})
		for _, n := range names {
			for _, p := range []string{"/" + n, "/fedora/40/repodata/" + n} {
				want, _ := path.Match(pat, n)
				if strings.Contains(pat, "/") {
					want, _ = path.Match(pat, p)
				}
				if got := ps.match(p); got != want {
					t.Errorf("pattern %q on %q: %v, path.Match says %v", pat, p, got, want)
				}
			}
		}
	}
}
