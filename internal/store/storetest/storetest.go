package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/registry/registrytest"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Opener returns a fresh, empty, migrated store that the suite may close.
type Opener func(t *testing.T, opts store.Options) store.Store

// clock hands out strictly increasing times, so created/updated stamps are
// predictable and every update is distinguishable from the previous one.
type clock struct{ n atomic.Int64 }

var epoch = time.Date(2026, 11, 22, 10, 0, 0, 123456000, time.UTC)

func (c *clock) now() time.Time { return epoch.Add(time.Duration(c.n.Add(1)) * time.Second) }

type suite struct {
	open Opener
}

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	s := suite{open: open}
	tests := []struct {
		name string
		f    func(*testing.T)
	}{
		{"Schema", s.schema},
		{"SiteRoundTrip", s.siteRoundTrip},
		{"SiteRejects", s.siteRejects},
		{"SiteUpdate", s.siteUpdate},
		{"SiteDelete", s.siteDelete},
		{"MirrorRoundTrip", s.mirrorRoundTrip},
		{"MirrorRejectsHostileValues", s.mirrorHostile},
		{"MirrorReferences", s.mirrorReferences},
		{"MirrorUpdate", s.mirrorUpdate},
		{"MirrorDelete", s.mirrorDelete},
		{"IDsNeverReused", s.idsNeverReused},
		{"ExportImport", s.exportImport},
		{"ImportRejects", s.importRejects},
		{"ConcurrentWriters", s.concurrentWriters},
		{"CatalogSaveLoad", s.catalogSaveLoad},
		{"CatalogLarge", s.catalogLarge},
		{"ScanHistory", s.scanHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.f)
	}
}

func (s suite) store(t *testing.T) (store.Store, *clock) {
	t.Helper()
	c := &clock{}
	st := s.open(t, store.Options{Now: c.now})
	t.Cleanup(func() { st.Close() })
	return st, c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// must fails the test on err; it returns a function so a two-value call can be
// passed straight in: must(st.Site(ctx, name))(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// snapshot is the whole registry as JSON, to prove a rejected write changed nothing.
func snapshot(t *testing.T, st store.Store) string {
	t.Helper()
	snap := must(st.Export(ctx(t)))(t)
	var b bytes.Buffer
	if err := snap.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var es registry.Errors
	if !errors.As(err, &es) {
		t.Fatalf("err = %v, want a validation error on %s", err, field)
	}
	if !slices.Contains(es.Fields(), field) {
		t.Fatalf("rejected on %v, want %s (%v)", es.Fields(), field, err)
	}
}

func equal(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func (s suite) schema(t *testing.T) {
	st, _ := s.store(t)
	cur, latest := mustVersions(t, st)
	if cur == 0 || cur != latest {
		t.Fatalf("schema version %d, latest %d: a fresh store must be fully migrated", cur, latest)
	}
	if n := must(st.Migrate(ctx(t)))(t); n != 0 {
		t.Fatalf("a second Migrate applied %d migrations", n)
	}
	if st.Backend() == "" {
		t.Fatal("empty backend name")
	}
}

func mustVersions(t *testing.T, st store.Store) (int64, int64) {
	cur, latest, err := st.SchemaVersion(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return cur, latest
}

func (s suite) siteRoundTrip(t *testing.T) {
	st, _ := s.store(t)
	in := registrytest.Site("example-org")
	got := must(st.CreateSite(ctx(t), in))(t)
	if got.ID <= 0 || got.CreatedAt.IsZero() || !got.CreatedAt.Equal(got.UpdatedAt) {
		t.Fatalf("created site has id %d, created %v, updated %v", got.ID, got.CreatedAt, got.UpdatedAt)
	}
	in.ID, in.CreatedAt, in.UpdatedAt = got.ID, got.CreatedAt, got.UpdatedAt
	equal(t, "create returns", got, in)
	equal(t, "read back", must(st.Site(ctx(t), "example-org"))(t), in)
	must(st.CreateSite(ctx(t), registry.Site{Name: "another"}))(t)
	sites := must(st.Sites(ctx(t)))(t)
	if len(sites) != 2 || sites[0].Name != "another" || sites[1].Name != "example-org" {
		t.Fatalf("Sites() = %+v, want two sorted by name", sites)
	}
	equal(t, "empty lists read back empty, not nil", sites[0].Contacts, []string{})
	if _, err := st.Site(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Site(nobody) err = %v, want ErrNotFound", err)
	}
}

func (s suite) siteRejects(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("example-org")))(t)
	before := snapshot(t, st)
	for _, c := range registrytest.HostileSites() {
		bad := registrytest.Site("fresh-site")
		c.Mutate(&bad)
		_, err := st.CreateSite(ctx(t), bad)
		wantField(t, err, c.Field)
	}
	_, err := st.CreateSite(ctx(t), registrytest.Site("example-org"))
	wantField(t, err, "name")
	if after := snapshot(t, st); after != before {
		t.Fatalf("rejected writes changed the registry:\n%s", after)
	}
}

func (s suite) siteUpdate(t *testing.T) {
	st, _ := s.store(t)
	a := must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-b")))(t)
	m := registrytest.Mirror("m1", "site-a")
	must(st.CreateMirror(ctx(t), m))(t)

	// A rename carries the site's mirrors along: they refer to it by id.
	a.Name, a.Sponsor = "site-renamed", "New Sponsor"
	upd := must(st.UpdateSite(ctx(t), a))(t)
	if !upd.UpdatedAt.After(a.UpdatedAt) || !upd.CreatedAt.Equal(a.CreatedAt) {
		t.Fatalf("timestamps after update: created %v updated %v (was %v)", upd.CreatedAt, upd.UpdatedAt, a.UpdatedAt)
	}
	equal(t, "read back", must(st.Site(ctx(t), "site-renamed"))(t), upd)
	if got := must(st.Mirror(ctx(t), "m1"))(t).Site; got != "site-renamed" {
		t.Fatalf("mirror's site = %q after rename", got)
	}

	before := snapshot(t, st)
	// a still holds the UpdatedAt it was read with: someone else wrote since.
	a.Sponsor = "stale writer"
	if _, err := st.UpdateSite(ctx(t), a); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update err = %v, want ErrConflict", err)
	}
	dup := upd
	dup.Name = "site-b"
	_, err := st.UpdateSite(ctx(t), dup)
	wantField(t, err, "name")
	bad := upd
	bad.SponsorURL = "gopher://x/"
	_, err = st.UpdateSite(ctx(t), bad)
	wantField(t, err, "sponsor_url")
	ghost := upd
	ghost.ID = 999999
	if _, err := st.UpdateSite(ctx(t), ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing site err = %v, want ErrNotFound", err)
	}
	if after := snapshot(t, st); after != before {
		t.Fatalf("rejected updates changed the registry")
	}
}

func (s suite) siteDelete(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	must(st.CreateSite(ctx(t), registrytest.Site("empty")))(t)
	must(st.CreateMirror(ctx(t), registrytest.Mirror("m1", "site-a")))(t)
	before := snapshot(t, st)
	if err := st.DeleteSite(ctx(t), "site-a"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("deleting a site with mirrors: err = %v, want ErrConflict", err)
	}
	if err := st.DeleteSite(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing site: err = %v, want ErrNotFound", err)
	}
	if snapshot(t, st) != before {
		t.Fatal("refused deletes changed the registry")
	}
	if err := st.DeleteSite(ctx(t), "empty"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Site(ctx(t), "empty"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted site still there: %v", err)
	}
}

func (s suite) mirrorRoundTrip(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("example-org")))(t)
	in := registrytest.Mirror("ftp-de", "example-org")
	got := must(st.CreateMirror(ctx(t), in))(t)
	if got.ID <= 0 || got.CreatedAt.IsZero() {
		t.Fatalf("created mirror id %d created %v", got.ID, got.CreatedAt)
	}
	in.ID, in.CreatedAt, in.UpdatedAt = got.ID, got.CreatedAt, got.UpdatedAt
	equal(t, "create returns", got, in)
	equal(t, "read back", must(st.Mirror(ctx(t), "ftp-de"))(t), in)

	// The smallest mirror: defaults, no coordinates, empty lists.
	small := registry.NewMirror("tiny", "example-org")
	small.URLs.HTTP = "http://tiny.example.org/"
	small.Location.Country = "NZ"
	small.Upstream = ""
	sm := must(st.CreateMirror(ctx(t), small))(t)
	rb := must(st.Mirror(ctx(t), "tiny"))(t)
	equal(t, "minimal read back", rb, sm)
	if rb.Location.Latitude != nil || rb.Location.Continent != "OC" || rb.Netblocks == nil || len(rb.Netblocks) != 0 {
		t.Fatalf("minimal mirror read back as %+v", rb)
	}
	all := must(st.Mirrors(ctx(t)))(t)
	if len(all) != 2 || all[0].Name != "ftp-de" || all[1].Name != "tiny" {
		t.Fatalf("Mirrors() = %v", all)
	}
	if _, err := st.Mirror(ctx(t), "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Mirror(nobody) err = %v, want ErrNotFound", err)
	}
}

func (s suite) mirrorHostile(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("example-org")))(t)
	must(st.CreateMirror(ctx(t), registrytest.Mirror("existing", "example-org")))(t)
	before := snapshot(t, st)
	for _, c := range registrytest.HostileMirrors() {
		t.Run(c.Name, func(t *testing.T) {
			m := registrytest.Mirror("fresh", "example-org")
			c.Mutate(&m)
			_, err := st.CreateMirror(ctx(t), m)
			wantField(t, err, c.Field)
			// The same value as an edit of an existing mirror.
			ex := must(st.Mirror(ctx(t), "existing"))(t)
			c.Mutate(&ex)
			_, err = st.UpdateMirror(ctx(t), ex)
			if !registry.IsInvalid(err) {
				t.Fatalf("update accepted it: %v", err)
			}
		})
	}
	if after := snapshot(t, st); after != before {
		t.Fatalf("rejected writes changed the registry")
	}
}

func (s suite) mirrorReferences(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("example-org")))(t)
	t1 := must(st.CreateMirror(ctx(t), registrytest.Mirror("tier1", "example-org")))(t)
	t2m := registrytest.Mirror("tier2", "example-org")
	t2m.Tier, t2m.Upstream = 2, "tier1"
	t2 := must(st.CreateMirror(ctx(t), t2m))(t)
	if t2.Upstream != "tier1" {
		t.Fatalf("upstream = %q", t2.Upstream)
	}
	before := snapshot(t, st)

	cases := []struct {
		name, field string
		mutate      func(*registry.Mirror)
	}{
		{"unknown site", "site", func(m *registry.Mirror) { m.Site = "no-such-site" }},
		{"unknown upstream", "upstream", func(m *registry.Mirror) { m.Upstream = "ghost" }},
		{"upstream on same tier", "upstream", func(m *registry.Mirror) { m.Upstream, m.Tier = "tier2", 2 }},
		{"upstream on higher tier", "upstream", func(m *registry.Mirror) { m.Upstream, m.Tier = "tier2", 1 }},
		{"duplicate name", "name", func(m *registry.Mirror) { m.Name = "tier1" }},
	}
	for _, c := range cases {
		m := registrytest.Mirror("new", "example-org")
		m.Tier = 3
		c.mutate(&m)
		_, err := st.CreateMirror(ctx(t), m)
		wantField(t, err, c.field)
	}
	// Raising tier1 to tier 2 would put it level with its downstream.
	up := t1
	up.Tier = 2
	_, err := st.UpdateMirror(ctx(t), up)
	wantField(t, err, "tier")
	// Renaming onto another mirror's name.
	ren := t1
	ren.Name = "tier2"
	_, err = st.UpdateMirror(ctx(t), ren)
	wantField(t, err, "name")
	if after := snapshot(t, st); after != before {
		t.Fatalf("rejected writes changed the registry")
	}
}

func (s suite) mirrorUpdate(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-b")))(t)
	up := must(st.CreateMirror(ctx(t), registrytest.Mirror("up", "site-a")))(t)
	m := must(st.CreateMirror(ctx(t), registrytest.Mirror("m", "site-a")))(t)

	m.Name, m.Site, m.Tier, m.Upstream = "m-renamed", "site-b", 2, "up"
	m.BandwidthMbps, m.Content = 40000, []string{"/fedora/"}
	m.Location.Latitude, m.Location.Longitude = nil, nil
	m.Enabled, m.Public = false, false
	m.TokenHash = registry.HashToken("mkrt_rotated")
	got := must(st.UpdateMirror(ctx(t), m))(t)
	if !got.UpdatedAt.After(m.UpdatedAt) || !got.CreatedAt.Equal(m.CreatedAt) {
		t.Fatalf("timestamps: created %v updated %v", got.CreatedAt, got.UpdatedAt)
	}
	m.UpdatedAt = got.UpdatedAt
	equal(t, "update returns", got, m)
	equal(t, "read back", must(st.Mirror(ctx(t), "m-renamed"))(t), m)
	if _, err := st.Mirror(ctx(t), "m"); !errors.Is(err, store.ErrNotFound) {
		t.Fatal("old name still resolves after a rename")
	}
	// A rename of the upstream shows in its downstream.
	up.Name = "up-renamed"
	must(st.UpdateMirror(ctx(t), up))(t)
	if got := must(st.Mirror(ctx(t), "m-renamed"))(t).Upstream; got != "up-renamed" {
		t.Fatalf("downstream's upstream = %q", got)
	}

	// m still has the UpdatedAt of the first update's input: stale.
	stale := m
	stale.UpdatedAt = stale.UpdatedAt.Add(-time.Second)
	if _, err := st.UpdateMirror(ctx(t), stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale update err = %v, want ErrConflict", err)
	}
	ghost := m
	ghost.ID = 999999
	if _, err := st.UpdateMirror(ctx(t), ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing mirror err = %v, want ErrNotFound", err)
	}
}

func (s suite) mirrorDelete(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	must(st.CreateMirror(ctx(t), registrytest.Mirror("up", "site-a")))(t)
	down := registrytest.Mirror("down", "site-a")
	down.Tier, down.Upstream = 2, "up"
	must(st.CreateMirror(ctx(t), down))(t)
	before := snapshot(t, st)
	if err := st.DeleteMirror(ctx(t), "up"); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("deleting an upstream: err = %v, want ErrConflict", err)
	}
	if err := st.DeleteMirror(ctx(t), "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting a missing mirror: err = %v, want ErrNotFound", err)
	}
	if snapshot(t, st) != before {
		t.Fatal("refused deletes changed the registry")
	}
	for _, name := range []string{"down", "up"} {
		if err := st.DeleteMirror(ctx(t), name); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(must(st.Mirrors(ctx(t)))(t)); n != 0 {
		t.Fatalf("%d mirrors left", n)
	}
	if err := st.DeleteSite(ctx(t), "site-a"); err != nil {
		t.Fatalf("site without mirrors: %v", err)
	}
}

func (s suite) idsNeverReused(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	a := must(st.CreateMirror(ctx(t), registrytest.Mirror("a", "site-a")))(t)
	b := must(st.CreateMirror(ctx(t), registrytest.Mirror("b", "site-a")))(t)
	if err := st.DeleteMirror(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	c := must(st.CreateMirror(ctx(t), registrytest.Mirror("c", "site-a")))(t)
	if !(a.ID < b.ID && b.ID < c.ID) {
		t.Fatalf("ids a=%d b=%d c=%d: a deleted id came back", a.ID, b.ID, c.ID)
	}
}

// buildRegistry fills st with a small network that uses every field.
func buildRegistry(t *testing.T, st store.Store) {
	for _, name := range []string{"example-org", "uni-b", "isp-c"} {
		must(st.CreateSite(ctx(t), registrytest.Site(name)))(t)
	}
	must(st.CreateMirror(ctx(t), registrytest.Mirror("tier1-de", "example-org")))(t)
	for i, cc := range []string{"US", "JP", "BR"} {
		m := registrytest.Mirror(fmt.Sprintf("tier2-%d", i), []string{"uni-b", "isp-c", "uni-b"}[i])
		m.Tier, m.Upstream, m.Location.Country, m.Location.Continent = 2, "tier1-de", cc, ""
		m.Public = i != 1
		must(st.CreateMirror(ctx(t), m))(t)
	}
	// A deleted mirror leaves a gap in the ids, which an import must keep.
	must(st.CreateMirror(ctx(t), registrytest.Mirror("gone", "isp-c")))(t)
	if err := st.DeleteMirror(ctx(t), "gone"); err != nil {
		t.Fatal(err)
	}
	sel := registry.NewMirror("selective", "isp-c")
	sel.Tier, sel.Upstream, sel.URLs.Rsync = 3, "tier2-0", "rsync://sel.example.net/pub/"
	sel.Location.Country, sel.Content = "AU", []string{"/epel/"}
	must(st.CreateMirror(ctx(t), sel))(t)
}

func (s suite) exportImport(t *testing.T) {
	src, _ := s.store(t)
	buildRegistry(t, src)
	snap := must(src.Export(ctx(t)))(t)
	text := snapshot(t, src)

	dst, _ := s.store(t)
	if err := dst.Import(ctx(t), snap, false); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, dst); got != text {
		t.Fatalf("export after import differs:\n%s\nwant\n%s", got, text)
	}
	// Reads through the normal API agree too.
	equal(t, "mirrors", must(dst.Mirrors(ctx(t)))(t), must(src.Mirrors(ctx(t)))(t))
	equal(t, "sites", must(dst.Sites(ctx(t)))(t), must(src.Sites(ctx(t)))(t))

	// New rows after an import take fresh ids.
	maxID := int64(0)
	for _, m := range snap.Mirrors {
		maxID = max(maxID, m.ID)
	}
	n := must(dst.CreateMirror(ctx(t), registrytest.Mirror("after-import", "uni-b")))(t)
	if n.ID <= maxID {
		t.Fatalf("new mirror got id %d, imported ids go up to %d", n.ID, maxID)
	}
	ns := must(dst.CreateSite(ctx(t), registrytest.Site("site-after")))(t)
	for _, s := range snap.Sites {
		if ns.ID <= s.ID {
			t.Fatalf("new site got id %d, imported site %d", ns.ID, s.ID)
		}
	}

	// A non-empty registry is not merged into; with replace it is overwritten.
	before := snapshot(t, dst)
	if err := dst.Import(ctx(t), snap, false); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("import into a non-empty registry: err = %v, want ErrConflict", err)
	}
	if snapshot(t, dst) != before {
		t.Fatal("refused import changed the registry")
	}
	if err := dst.Import(ctx(t), snap, true); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, dst); got != text {
		t.Fatalf("export after replace differs")
	}
}

func (s suite) importRejects(t *testing.T) {
	src, _ := s.store(t)
	buildRegistry(t, src)

	dst, _ := s.store(t)
	must(dst.CreateSite(ctx(t), registrytest.Site("keep-me")))(t)
	before := snapshot(t, dst)
	bad := map[string]func(*registry.Snapshot){
		"unknown upstream": func(s *registry.Snapshot) { s.Mirrors[len(s.Mirrors)-1].Upstream = "ghost" },
		"bad country":      func(s *registry.Snapshot) { s.Mirrors[0].Location.Country = "ZZ" },
		"duplicate name":   func(s *registry.Snapshot) { s.Mirrors[1].Name = s.Mirrors[0].Name },
		"duplicate id":     func(s *registry.Snapshot) { s.Sites[1].ID = s.Sites[0].ID },
		"site missing":     func(s *registry.Snapshot) { s.Sites = s.Sites[:1] },
	}
	for name, mutate := range bad {
		snap := must(src.Export(ctx(t)))(t)
		mutate(&snap)
		// replace=true: even the version that would first clear the registry
		// must leave it untouched when the snapshot is bad.
		if err := dst.Import(ctx(t), snap, true); err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if snapshot(t, dst) != before {
			t.Fatalf("%s: a rejected import changed the registry", name)
		}
	}
}

func (s suite) concurrentWriters(t *testing.T) {
	st, _ := s.store(t)
	must(st.CreateSite(ctx(t), registrytest.Site("site-a")))(t)
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each+workers)
	ids := make(chan int64, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				m, err := st.CreateMirror(ctx(t), registrytest.Mirror(fmt.Sprintf("w%d-m%d", w, i), "site-a"))
				if err != nil {
					errs <- err
					continue
				}
				ids <- m.ID
			}
			// Everyone races for the same name: exactly one may win.
			if _, err := st.CreateMirror(ctx(t), registrytest.Mirror("contested", "site-a")); err != nil {
				if !registry.IsInvalid(err) && !errors.Is(err, store.ErrConflict) {
					errs <- fmt.Errorf("contested name: unexpected error %w", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[int64]bool{}
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
	all := must(st.Mirrors(ctx(t)))(t)
	if len(seen) != workers*each || len(all) != workers*each+1 {
		t.Fatalf("%d ids, %d mirrors; want %d and %d", len(seen), len(all), workers*each, workers*each+1)
	}
}
