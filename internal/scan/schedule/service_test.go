package schedule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/scan/httpscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/rsyncscan"
	"github.com/mirrorkit/mirrorkit/internal/scan/scantest"
	"github.com/mirrorkit/mirrorkit/internal/store"
	"github.com/mirrorkit/mirrorkit/internal/store/sqlite"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
	"github.com/mirrorkit/mirrorkit/internal/testutil/nginx"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

// bigISO is left out of the catalog: hashing 4 GiB would dominate the suite.
const bigISO = "/releases/40/iso/Fedora-40-x86_64.iso"

type fixture struct {
	t      *testing.T
	st     store.Store
	origin string
	svc    *Service
	rsync  *rsyncd.Daemon
	web    *nginx.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	origin := filepath.Join(dir, "origin")
	if err := os.Mkdir(origin, 0o755); err != nil {
		t.Fatal(err)
	}
	scantest.Build(t, origin)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "mk.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, st: st, origin: origin}
	f.rebuildCatalog()
	f.rsync = rsyncd.Start(t, rsyncd.Module{Name: "pub", Path: origin})
	f.web = nginx.Start(t, origin)
	if _, err := st.CreateSite(ctx, registry.Site{Name: "site"}); err != nil {
		t.Fatal(err)
	}
	f.svc = f.newService()
	return f
}

func (f *fixture) newService() *Service {
	return &Service{
		Store:     f.st,
		Inventory: inventory.New(),
		Scanners: map[registry.Protocol]scan.Scanner{
			registry.RSYNC: rsyncscan.New(rsyncscan.Options{ConnectTimeout: 5 * time.Second}),
			registry.HTTP:  httpscan.New(httpscan.Options{RequestsPerSecond: -1}),
		},
		Timeout:    time.Minute,
		IOTimeout:  20 * time.Second,
		TraceFiles: []string{"/TIME", "/lastupdate"},
	}
}

func (f *fixture) rebuildCatalog() {
	f.t.Helper()
	ctx := context.Background()
	ex, _ := catalog.ParseExcludes([]string{bigISO})
	old, err := f.st.CatalogEntries(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	prev := map[string]*catalog.Entry{}
	for i := range old {
		prev[old[i].Path] = &old[i]
	}
	es, _, err := catalog.Build(ctx, f.origin, catalog.Options{Excludes: ex, Previous: prev})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.SaveCatalog(ctx, es, &store.CatalogBuild{Origin: f.origin}); err != nil {
		f.t.Fatal(err)
	}
	if f.svc != nil {
		if err := f.svc.Load(ctx); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) mirror(name string, urls registry.URLs) registry.Mirror {
	f.t.Helper()
	m := registry.NewMirror(name, "site")
	m.URLs, m.Location.Country = urls, "DE"
	m, err := f.st.CreateMirror(context.Background(), m)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// publicFiles counts catalog files a public client can get.
func (f *fixture) publicFiles() int {
	es, err := f.st.CatalogEntries(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Type == scan.File && !e.Staged {
			n++
		}
	}
	return n
}

func deadURL(t *testing.T, scheme string) string {
	return scheme + "://" + testutil.ClosedAddr(t) + "/pub/"
}

func TestScanMirrorOverRsync(t *testing.T) {
	f := newFixture(t)
	if err := f.svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := f.mirror("full", registry.URLs{Rsync: f.rsync.URL("pub"), HTTP: f.web.URL()})
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	want := f.publicFiles()
	if !res.OK || res.Protocol != "rsync" || res.Current != want || res.Missing != 0 || res.Stale != 0 || res.Claimed != want || res.Completion != 100 {
		t.Fatalf("result %+v (want %d current)", res, want)
	}
	if res.Extra != 1 { // the big ISO, which the catalog leaves out
		t.Fatalf("extra = %d, want 1", res.Extra)
	}
	if got := f.svc.Inventory.Snapshot().Held(m.ID); got != want {
		t.Fatalf("inventory holds %d for the mirror, want %d", got, want)
	}
	hs, _ := f.st.Holdings(context.Background())
	if len(hs) != 1 || hs[0].ScanID != res.ID {
		t.Fatalf("holdings %+v", hs)
	}
}

func TestFallsBackToHTTP(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	m := f.mirror("web-only", registry.URLs{Rsync: deadURL(t, "rsync"), HTTP: f.web.URL()})
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != "http" || len(res.Attempts) != 1 || res.Attempts[0].Protocol != "rsync" {
		t.Fatalf("result %+v", res)
	}
	// Over HTTP symlinks are followed, so the public files all show; at
	// minute precision they all still match.
	if res.Current != f.publicFiles() || res.Completion != 100 {
		t.Fatalf("current %d of %d: %+v", res.Current, f.publicFiles(), res)
	}
}

// truncating wraps a real scanner and cuts its listing short, as a dropped
// connection would.
type truncating struct {
	scan.Scanner
	after int
}

func (tr truncating) Scan(ctx context.Context, t scan.Target, emit func(scan.Entry) error) error {
	n := 0
	err := tr.Scanner.Scan(ctx, t, func(e scan.Entry) error {
		if n == tr.after {
			return scan.ErrTruncated
		}
		n++
		return emit(e)
	})
	return err
}

// The rule: a failed, timed-out or truncated scan never changes the
// mirror's inventory (in memory or stored).
func TestFailuresChangeNothing(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	m := f.mirror("m", registry.URLs{Rsync: f.rsync.URL("pub")})
	good, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	held := f.svc.Inventory.Snapshot().Held(m.ID)
	stored, _ := f.st.Holdings(context.Background())

	check := func(name string, res Result, err error) {
		t.Helper()
		if err == nil || res.OK || res.Error == "" {
			t.Fatalf("%s: scan succeeded: %+v", name, res)
		}
		if got := f.svc.Inventory.Snapshot().Held(m.ID); got != held {
			t.Fatalf("%s: inventory now holds %d, was %d", name, got, held)
		}
		hs, _ := f.st.Holdings(context.Background())
		if len(hs) != 1 || hs[0].ScanID != stored[0].ScanID {
			t.Fatalf("%s: stored holdings changed: %+v", name, hs)
		}
		scans, _ := f.st.Scans(context.Background(), "m", 1)
		if len(scans) != 1 || scans[0].OK || scans[0].ID == good.ID {
			t.Fatalf("%s: failed scan not recorded: %+v", name, scans)
		}
	}

	rs := f.svc.Scanners[registry.RSYNC]
	f.svc.Scanners[registry.RSYNC] = truncating{Scanner: rs, after: 5}
	res, err := f.svc.ScanMirror(context.Background(), m)
	check("truncated", res, err)
	if !strings.Contains(res.Error, "truncated") {
		t.Fatalf("error %q does not say truncated", res.Error)
	}
	f.svc.Scanners[registry.RSYNC] = rs

	f.rsync.Stop()
	res, err = f.svc.ScanMirror(context.Background(), m)
	check("dead mirror", res, err)

	f.svc.Timeout = time.Nanosecond
	res, err = f.svc.ScanMirror(context.Background(), m)
	check("timed out", res, err)
}

func TestStaleCopyAndTrace(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	// The mirror's copy: everything from the origin, one file of another
	// version, one missing, and a trace file.
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	scantest.Build(t, copyDir)
	os.WriteFile(filepath.Join(copyDir, "README.txt"), []byte("an older README of another size"), 0o644)
	os.Remove(filepath.Join(copyDir, "repo", "repodata", "repomd.xml"))
	os.WriteFile(filepath.Join(copyDir, "TIME"), []byte("1767323045\n"), 0o644)
	d := rsyncd.Start(t, rsyncd.Module{Name: "copy", Path: copyDir})
	m := f.mirror("behind", registry.URLs{Rsync: d.URL("copy")})
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stale != 1 || res.Missing != 1 || res.Current != f.publicFiles()-2 {
		t.Fatalf("result %+v", res)
	}
	if res.TraceTime == nil || !res.TraceTime.Equal(time.Unix(1767323045, 0)) {
		t.Fatalf("trace time %v", res.TraceTime)
	}
	s := f.svc.Inventory.Snapshot()
	id, _ := s.Lookup("/README.txt")
	slot, _ := s.Slot(m.ID)
	if s.Holders(id).Has(slot) {
		t.Fatal("the stale README counts as current")
	}
}

// Holdings survive a restart, and a file the origin changed after the scan
// does not count for the mirror until it is scanned again.
func TestRestartAndCatalogChange(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	m := f.mirror("m", registry.URLs{Rsync: f.rsync.URL("pub")})
	if _, err := f.svc.ScanMirror(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	want := f.publicFiles()

	if _, fresh := f.svc.LastGood(m.ID); !fresh {
		t.Fatal("a mirror scanned just now is not fresh")
	}
	restarted := f.newService()
	if _, fresh := restarted.LastGood(m.ID); fresh {
		t.Fatal("fresh before anything was loaded")
	}
	if err := restarted.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if at, fresh := restarted.LastGood(m.ID); !fresh || at.IsZero() {
		t.Fatalf("after restart: last good %v fresh %v", at, fresh)
	}
	// Time passes beyond max_age without a good scan: stale.
	restarted.MaxAge = time.Hour
	restarted.Now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, fresh := restarted.LastGood(m.ID); fresh {
		t.Fatal("a mirror unscanned for longer than max_age is still fresh")
	}
	restarted.Now = nil
	if got := restarted.Inventory.Snapshot().Held(m.ID); got != want {
		t.Fatalf("after restart the mirror holds %d, want %d", got, want)
	}

	// The origin publishes a new README; the mirror (serving the origin's
	// directory) would have it, but nobody has scanned since.
	p := filepath.Join(f.origin, "README.txt")
	os.WriteFile(p, []byte("a new README, longer than before"), 0o644)
	f.rebuildCatalog()
	again := f.newService()
	if err := again.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := again.Inventory.Snapshot()
	id, _ := s.Lookup("/README.txt")
	slot, _ := s.Slot(m.ID)
	if s.Holders(id).Has(slot) || s.Held(m.ID) != want-1 {
		t.Fatalf("changed file still credited (holds %d of %d)", s.Held(m.ID), want)
	}
	if _, err := again.ScanMirror(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if s := again.Inventory.Snapshot(); !s.Holders(id).Has(slot) {
		t.Fatal("rescan did not credit the new version")
	}
}

func TestPartialMirror(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	m := registry.NewMirror("partial", "site")
	m.URLs.Rsync, m.Location.Country, m.Content = f.rsync.URL("pub"), "DE", []string{"/repo/"}
	m, err := f.st.CreateMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	// /repo holds a-1.0.rpm, its hardlink and repodata/repomd.xml.
	if res.Claimed != 3 || res.Current != 3 || res.Extra != 0 || res.Completion != 100 {
		t.Fatalf("result %+v", res)
	}
}

func TestParseTrace(t *testing.T) {
	want := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, in := range []string{"1767323045\n", "2026-01-02T03:04:05Z", "Fri Jan  2 03:04:05 UTC 2026\nDate: x\n", "Fri, 02 Jan 2026 03:04:05 GMT"} {
		if got, ok := ParseTrace([]byte(in)); !ok || !got.Equal(want) {
			t.Errorf("ParseTrace(%q) = %v, %v", in, got, ok)
		}
	}
	for _, bad := range []string{"", "garbage", "-5", "\x00\x01"} {
		if _, ok := ParseTrace([]byte(bad)); ok {
			t.Errorf("ParseTrace(%q) accepted", bad)
		}
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add("1767323045")
	f.Add("Fri Jan  2 03:04:05 UTC 2026")
	f.Fuzz(func(t *testing.T, in string) {
		if tm, ok := ParseTrace([]byte(in)); ok && tm.Location() != time.UTC {
			t.Fatalf("not UTC: %v", tm)
		}
	})
}

// A mirror whose web server shows no index pages is checked file by file.
func TestHTTPWithoutIndexFallsBackToHEAD(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	web := nginx.Start(t, f.origin, nginx.ServerDirectives("location / { autoindex off; }"))
	m := f.mirror("no-index", registry.URLs{HTTP: web.URL()})
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Protocol != "http" || len(res.Attempts) != 1 || !strings.Contains(res.Attempts[0].Error, "HEAD") {
		t.Fatalf("result %+v", res)
	}
	if want := f.publicFiles(); res.Current != want || res.Missing != 0 {
		t.Fatalf("current %d of %d: %+v", res.Current, want, res)
	}
}

func TestReloadIfNewCatalog(t *testing.T) {
	f := newFixture(t)
	svc := f.newService()
	if err := svc.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if reloaded, err := svc.ReloadIfNewCatalog(context.Background()); err != nil || reloaded {
		t.Fatalf("nothing new: reloaded=%v err=%v", reloaded, err)
	}
	os.WriteFile(filepath.Join(f.origin, "new.iso"), []byte("new"), 0o644)
	f.rebuildCatalog() // a build made elsewhere
	if reloaded, err := svc.ReloadIfNewCatalog(context.Background()); err != nil || !reloaded {
		t.Fatalf("new build: reloaded=%v err=%v", reloaded, err)
	}
	if _, ok := svc.Inventory.Snapshot().Lookup("/new.iso"); !ok {
		t.Fatal("the new build's file is not in the inventory")
	}
	if reloaded, _ := svc.ReloadIfNewCatalog(context.Background()); reloaded {
		t.Fatal("reloaded the same build twice")
	}
}

// A mirror one version behind on a file is recorded as holding the previous
// version, in memory and across a restart.
func TestPreviousVersionHoldings(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	copyDir := filepath.Join(t.TempDir(), "copy")
	if err := os.Mkdir(copyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	scantest.Build(t, copyDir)
	d := rsyncd.Start(t, rsyncd.Module{Name: "copy", Path: copyDir})
	m := f.mirror("behind", registry.URLs{Rsync: d.URL("copy")})

	// The origin publishes a new README; the mirror's copy keeps the old one.
	if err := os.WriteFile(filepath.Join(f.origin, "README.txt"), []byte("a new README, longer than the old one"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.rebuildCatalog()
	res, err := f.svc.ScanMirror(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stale != 1 || res.Previous != 1 {
		t.Fatalf("scan of a mirror one version behind: %+v", res.ScanRecord)
	}
	for _, svc := range []*Service{f.svc, f.newService()} {
		if err := svc.Load(ctx); err != nil {
			t.Fatal(err)
		}
		s := svc.Inventory.Snapshot()
		id, _ := s.Lookup("/README.txt")
		slot, ok := s.Slot(m.ID)
		if !ok || s.Holders(id).Has(slot) || !s.Previous(id).Has(slot) {
			t.Fatal("the mirror's old README is not recorded as the previous version")
		}
		if fl, _ := s.File(id); !fl.HasPrevious || fl.ChangedAt.IsZero() {
			t.Fatalf("catalog file %+v lacks its previous version or change time", fl)
		}
	}
	// Once the origin moves on again, the mirror is two versions behind.
	if err := os.WriteFile(filepath.Join(f.origin, "README.txt"), []byte("a third README"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.rebuildCatalog()
	s := f.svc.Inventory.Snapshot()
	id, _ := s.Lookup("/README.txt")
	slot, _ := s.Slot(m.ID)
	if s.Previous(id).Has(slot) {
		t.Fatal("a mirror two versions behind still counts as previous")
	}
}
