package redirector

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
)

func TestMirrorListOutputs(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	// A private mirror that serves nobody here must never be listed.
	priv := registry.NewMirror("secret", "site")
	priv.ID, priv.Public = 9, false
	priv.URLs.HTTP, priv.Location.Country, priv.Location.Continent = "http://secret.example/", "DE", "EU"
	w.mirrors = append(w.mirrors, priv)
	col := w.inv.NewColumn(9)
	col.Finish(nil)
	w.inv.Commit(col)
	w.refresh(t, nil)

	rec := do(t, w.srv, "GET", "/pub/x.iso?mirrorlist&json", "192.0.2.9:1")
	var l MirrorList
	if err := json.Unmarshal(rec.Body.Bytes(), &l); err != nil {
		t.Fatalf("%v: %s", err, rec.Body.String())
	}
	if len(l.Mirrors) != 2 || l.Mirrors[0].Name != "de" || l.Mirrors[0].Class != "country" || l.Mirrors[1].Name != "us" ||
		l.Mirrors[1].DistanceKm < 5000 || l.Client.Country != "DE" || l.SHA256 == "" {
		t.Fatalf("list %+v", l)
	}
	if len(l.Excluded) != 1 || l.Excluded[0].Name != "jp" || !strings.Contains(strings.Join(l.Excluded[0].Reasons, ";"), "current version") {
		t.Fatalf("excluded %+v", l.Excluded)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Fatal("a private mirror appears in a public list")
	}
	accept := do(t, w.srv, "GET", "/pub/x.iso?mirrorlist", "192.0.2.9:1")
	if !strings.Contains(accept.Header().Get("Content-Type"), "text/html") || !strings.Contains(accept.Body.String(), "de.example.org") ||
		!strings.Contains(accept.Body.String(), "does not hold") {
		t.Fatalf("html list: %s", accept.Body.String())
	}
	txt := do(t, w.srv, "GET", "/pub/x.iso?mirrorlist&txt", "192.0.2.9:1").Body.String()
	if txt != "http://de.example.org/mirror/pub/x.iso\nhttp://us.example.net/pub/x.iso\n" {
		t.Fatalf("txt list %q", txt)
	}
}

func TestMeta4(t *testing.T) {
	w := newWorld(t, Config{Locate: locateByPrefix})
	rec := do(t, w.srv, "GET", "/pub/x.iso.meta4", "192.0.2.9:1")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/metalink4+xml" {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		XMLName xml.Name `xml:"urn:ietf:params:xml:ns:metalink metalink"`
		Files   []struct {
			Name string `xml:"name,attr"`
			Size int64  `xml:"size"`
			Hash []struct {
				Type  string `xml:"type,attr"`
				Value string `xml:",chardata"`
			} `xml:"hash"`
			URLs []struct {
				Location string `xml:"location,attr"`
				Priority int    `xml:"priority,attr"`
				Value    string `xml:",chardata"`
			} `xml:"url"`
		} `xml:"file"`
	}
	if err := xml.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, rec.Body.String())
	}
	f := doc.Files[0]
	if f.Name != "x.iso" || f.Size != 9000 || len(f.Hash) == 0 || f.Hash[0].Type != "sha-256" || len(f.URLs) != 2 ||
		f.URLs[0].Location != "de" || f.URLs[0].Priority != 1 || f.URLs[1].Value != "http://us.example.net/pub/x.iso" {
		t.Fatalf("meta4 %+v", doc)
	}
	if rec := do(t, w.srv, "GET", "/pub/x.iso.metalink", "192.0.2.9:1"); rec.Code != 200 || rec.Header().Get("Content-Type") != "application/metalink+xml" {
		t.Fatalf("metalink 3: %d", rec.Code)
	}
	if rec := do(t, w.srv, "GET", "/pub/staged/s.iso.meta4", "192.0.2.9:1"); rec.Code != 404 {
		t.Fatalf("metalink of a staged file: %d", rec.Code)
	}
	// A directory name with the suffix is not the directory.
	if rec := do(t, w.srv, "GET", "/pub.meta4", "192.0.2.9:1"); rec.Code != 404 {
		t.Fatalf("/pub.meta4: %d", rec.Code)
	}
}

// aria2c takes the redirector's metalink, downloads from the mirror, checks
// the hash, and refuses a mirror that serves a corrupt copy.
func TestAria2cWithRedirectorMetalink(t *testing.T) {
	aria := testutil.RequireTool(t, "aria2c")
	w := newWorld(t, Config{Locate: locateByPrefix})
	good := nginx.Start(t, w.origin)
	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "pub"), 0o755)
	corrupt := []byte(strings.Repeat("iso", 3000))
	corrupt[100] ^= 1
	os.WriteFile(filepath.Join(bad, "pub", "x.iso"), corrupt, 0o644)
	evil := nginx.Start(t, bad)
	front := httptest.NewServer(w.srv)
	defer front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fetch := func(mirrorURL string) ([]byte, error) {
		w.mirrors[0].URLs = registry.URLs{HTTP: mirrorURL}
		w.mirrors = w.mirrors[:1]
		w.refresh(t, nil)
		dir := t.TempDir()
		cmd := exec.CommandContext(ctx, aria, "--dir="+dir, "--file-allocation=none", "--summary-interval=0",
			"--console-log-level=warn", "--check-integrity=true", "--max-tries=1", "--follow-metalink=mem",
			front.URL+"/pub/x.iso.meta4")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, err
		}
		got, rerr := os.ReadFile(filepath.Join(dir, "x.iso"))
		if rerr != nil || string(got) != strings.Repeat("iso", 3000) {
			t.Fatalf("aria2c reported success but the file is wrong: %v %s", rerr, out)
		}
		return out, nil
	}
	if out, err := fetch(good.URL()); err != nil {
		t.Fatalf("aria2c from a good mirror: %v\n%s", err, out)
	}
	out, err := fetch(evil.URL())
	if err == nil {
		t.Fatal("aria2c accepted a corrupt copy")
	}
	// aria2c's exit code 32 is "checksum validation failed": it fetched the
	// copy and refused it on the hash from our metalink.
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 32 || !strings.Contains(string(out), "Checksum error") {
		t.Fatalf("aria2c failed for another reason: %v\n%s", err, out)
	}
}
