package storetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

func catalogFixture() []catalog.Entry {
	mt := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return []catalog.Entry{
		{Path: "/odd/caf\xe9 name.txt", Type: scan.File, Size: 9, ModTime: mt, Mode: 0o644, Dev: 1<<63 + 5, Inode: 1<<64 - 1,
			Hashes: catalog.Hashes{SHA256: "aa", MD5: "bb"}},
		{Path: "/releases", Type: scan.Dir, ModTime: mt, Mode: 0o755},
		{Path: "/releases/40.iso", Type: scan.File, Size: 4<<30 + 1, ModTime: mt.Add(time.Nanosecond), Mode: 0o644,
			LinkGroup: "/releases/40.iso", Hashes: catalog.Hashes{SHA256: "cc", SHA1: "dd", SHA512: "ee", PieceSize: 1 << 20, Pieces: bytes.Repeat([]byte{7}, 64)}},
		{Path: "/releases/42", Type: scan.Dir, ModTime: mt, Mode: 0o750, Staged: true},
		{Path: "/releases/latest", Type: scan.Symlink, Size: 2, Target: "40", ModTime: mt, Mode: 0o777},
	}
}

func asJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func (s suite) catalogSaveLoad(t *testing.T) {
	st, _ := s.store(t)
	if es := must(st.CatalogEntries(ctx(t)))(t); len(es) != 0 {
		t.Fatalf("fresh store has %d catalog entries", len(es))
	}
	in := catalogFixture()
	first := store.CatalogBuild{Origin: "/srv/origin", StartedAt: epoch, FinishedAt: epoch.Add(time.Second), Files: 3}
	saved := must(st.SaveCatalog(ctx(t), in, &first))(t)
	if first.ID == 0 || first.Added != 5 {
		t.Fatalf("build record not filled in: %+v", first)
	}
	for _, e := range saved {
		if e.ID == 0 {
			t.Fatalf("no id for %q", e.Path)
		}
	}
	got := must(st.CatalogEntries(ctx(t)))(t)
	if asJSON(t, got) != asJSON(t, saved) {
		t.Fatalf("read back differs:\n%s\n%s", asJSON(t, got), asJSON(t, saved))
	}
	for i := range got { // the fields JSON hides must survive too
		if got[i].Dev != in[i].Dev || got[i].Inode != in[i].Inode || got[i].Path != in[i].Path {
			t.Fatalf("entry %d: dev %d inode %d path %q", i, got[i].Dev, got[i].Inode, got[i].Path)
		}
	}
	ids := map[string]uint32{}
	for _, e := range saved {
		ids[e.Path] = e.ID
	}

	// Next build: one file changed, one removed, one added.
	next := catalogFixture()
	next[2].Size++
	next = append(next, catalog.Entry{Path: "/releases/new.iso", Type: scan.File, Size: 1, ModTime: epoch})
	next = next[1:] // drop the odd name
	second := store.CatalogBuild{Origin: "/srv/origin", StartedAt: epoch, FinishedAt: epoch}
	saved2 := must(st.SaveCatalog(ctx(t), next, &second))(t)
	if second.ID <= first.ID || second.Added != 1 || second.Changed != 1 || second.Removed != 1 {
		t.Fatalf("second build record %+v", second)
	}
	for _, e := range saved2 {
		if old, ok := ids[e.Path]; ok && old != e.ID {
			t.Fatalf("%q changed id %d -> %d", e.Path, old, e.ID)
		}
		if e.Path == "/releases/new.iso" {
			for _, old := range ids {
				if e.ID <= old {
					t.Fatalf("new entry got id %d, not above every earlier id (%d)", e.ID, old)
				}
			}
		}
	}
	if asJSON(t, must(st.CatalogEntries(ctx(t)))(t)) != asJSON(t, saved2) {
		t.Fatal("second build read back differs")
	}
	builds := must(st.CatalogBuilds(ctx(t), 10))(t)
	if len(builds) != 2 || builds[0].Added != 1 || builds[0].Changed != 1 || builds[0].Removed != 1 ||
		builds[1].Added != 5 || builds[1].Files != 3 || !builds[1].FinishedAt.Equal(epoch.Add(time.Second)) {
		t.Fatalf("builds %+v", builds)
	}
	for _, e := range saved2 {
		want := builds[1].ID // unchanged since the first build
		if e.Path == "/releases/40.iso" || e.Path == "/releases/new.iso" {
			want = builds[0].ID
		}
		if e.ChangedBuild != want {
			t.Fatalf("%q: changed_build %d, want %d", e.Path, e.ChangedBuild, want)
		}
	}
	// A changed file remembers the version it replaced and when; others
	// keep when they last changed.
	orig := catalogFixture()[2]
	for _, e := range saved2 {
		wantAt, wantPrev := first.FinishedAt, (*catalog.Version)(nil)
		switch e.Path {
		case "/releases/40.iso":
			wantAt, wantPrev = second.FinishedAt, &catalog.Version{Size: orig.Size, ModTime: orig.ModTime}
		case "/releases/new.iso":
			wantAt = second.FinishedAt
		}
		if !e.ChangedAt.Equal(wantAt) || asJSON(t, e.Previous) != asJSON(t, wantPrev) {
			t.Fatalf("%q: changed at %v previous %+v, want %v %+v", e.Path, e.ChangedAt, e.Previous, wantAt, wantPrev)
		}
	}
	// An unchanged build writes nothing but its record.
	must(st.SaveCatalog(ctx(t), saved2, &store.CatalogBuild{Origin: "/srv/origin"}))(t)
	if asJSON(t, must(st.CatalogEntries(ctx(t)))(t)) != asJSON(t, saved2) {
		t.Fatal("an unchanged build changed what is stored")
	}
	if b := must(st.CatalogBuilds(ctx(t), 1))(t)[0]; b.Added+b.Changed+b.Removed != 0 {
		t.Fatalf("unchanged build changed rows: %+v", b)
	}
	// Unsorted input is refused and changes nothing.
	bad := []catalog.Entry{{Path: "/b", Type: scan.File}, {Path: "/a", Type: scan.File}}
	refused := store.CatalogBuild{}
	if _, err := st.SaveCatalog(ctx(t), bad, &refused); err == nil {
		t.Fatal("unsorted catalog accepted")
	}
	if refused.ID != 0 {
		t.Fatal("a refused save filled in the build record")
	}
	if asJSON(t, must(st.CatalogEntries(ctx(t)))(t)) != asJSON(t, saved2) {
		t.Fatal("refused save changed the catalog")
	}
	// A second change moves the previous version along.
	third := slices.Clone(saved2)
	third[1].Size, third[1].ModTime = 77, epoch.Add(time.Hour)
	b3 := store.CatalogBuild{Origin: "/srv/origin", StartedAt: epoch.Add(time.Hour), FinishedAt: epoch.Add(2 * time.Hour)}
	saved3 := must(st.SaveCatalog(ctx(t), third, &b3))(t)
	if p := saved3[1].Previous; saved3[1].Path != "/releases/40.iso" || p == nil || p.Size != saved2[1].Size ||
		!p.ModTime.Equal(saved2[1].ModTime) || !saved3[1].ChangedAt.Equal(b3.FinishedAt) {
		t.Fatalf("after a second change: %+v", saved3[1])
	}
	if asJSON(t, must(st.CatalogEntries(ctx(t)))(t)) != asJSON(t, saved3) {
		t.Fatal("third build read back differs")
	}
	// A file that becomes a symlink has no previous file version.
	fourth := slices.Clone(saved3)
	fourth[1].Type, fourth[1].Target, fourth[1].Size = scan.Symlink, "42", 2
	saved4 := must(st.SaveCatalog(ctx(t), fourth, &store.CatalogBuild{Origin: "/srv/origin"}))(t)
	if saved4[1].Previous != nil {
		t.Fatalf("a symlink kept a previous file version: %+v", saved4[1])
	}
}

func (s suite) catalogLarge(t *testing.T) {
	st, _ := s.store(t)
	var es []catalog.Entry
	for i := 0; i < 2345; i++ {
		es = append(es, catalog.Entry{Path: fmt.Sprintf("/d/%05d", i), Type: scan.File, Size: int64(i), ModTime: epoch})
	}
	saved := must(st.SaveCatalog(ctx(t), es, &store.CatalogBuild{}))(t)
	seen := map[uint32]bool{}
	for _, e := range saved {
		if e.ID == 0 || seen[e.ID] {
			t.Fatalf("id %d for %q", e.ID, e.Path)
		}
		seen[e.ID] = true
	}
	// Remove most of them in one build: batches of deletes.
	must(st.SaveCatalog(ctx(t), saved[:10], &store.CatalogBuild{}))(t)
	if n := len(must(st.CatalogEntries(ctx(t)))(t)); n != 10 {
		t.Fatalf("%d entries left, want 10", n)
	}
}
