package inventory

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func catalog(n int) []File {
	files := make([]File, n)
	for i := range files {
		files[i] = File{ID: FileID(i + 1), Path: fmt.Sprintf("/pub/dir%03d/file%07d.rpm", i%500, i), Size: int64(1000 + i), ModTime: t0.Add(time.Duration(i) * time.Second)}
	}
	return files
}

func mustSet(t testing.TB, inv *Inventory, files []File) CatalogChange {
	t.Helper()
	ch, err := inv.SetCatalog(files)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// column lists every catalog file for a mirror, exactly as the catalog has it.
func fullColumn(inv *Inventory, mirror int64, files []File) *Column {
	c := inv.NewColumn(mirror)
	for _, f := range files {
		c.Add(f.Path, f.Size, f.ModTime, time.Second)
	}
	c.Finish(nil)
	return c
}

func mustCommit(t testing.TB, inv *Inventory, cols ...*Column) *Snapshot {
	t.Helper()
	s, err := inv.Commit(cols...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func holds(s *Snapshot, path string, mirror int64) bool {
	id, ok := s.Lookup(path)
	slot, ok2 := s.Slot(mirror)
	return ok && ok2 && s.Holders(id).Has(slot)
}

func TestColumnStatsAndVersions(t *testing.T) {
	inv := New()
	files := catalog(10)
	files[9].Staged = true
	mustSet(t, inv, files)
	c := inv.NewColumn(7)
	c.Add(files[0].Path, files[0].Size, files[0].ModTime, time.Second)                     // current
	c.Add(files[1].Path, files[1].Size+1, files[1].ModTime, time.Second)                   // stale: size
	c.Add(files[2].Path, files[2].Size, files[2].ModTime.Add(2*time.Second), time.Second)  // stale: time
	c.Add(files[3].Path, files[3].Size, files[3].ModTime.Add(20*time.Second), time.Minute) // current at minute precision? depends
	c.Add(files[4].Path, -1, files[4].ModTime, time.Minute)                                // current: no size, minute time
	c.Add(files[5].Path, -1, time.Time{}, 0)                                               // unverified: no size, no time
	c.Add(files[6].Path, files[6].Size, files[6].ModTime.Add(3*time.Hour), 24*time.Hour)   // day precision: same day?
	c.Add(files[0].Path, 1, files[0].ModTime, time.Second)                                 // duplicate: ignored
	c.Add("/not/in/catalog", 5, t0, time.Second)                                           // extra
	st := c.Finish(nil)
	snap := mustCommit(t, inv, c)

	same := func(a, b time.Time, p time.Duration) bool { return a.Truncate(p).Equal(b.Truncate(p)) }
	want3 := same(files[3].ModTime, files[3].ModTime.Add(20*time.Second), time.Minute)
	want6 := same(files[6].ModTime, files[6].ModTime.Add(3*time.Hour), 24*time.Hour)
	for i, want := range []bool{true, false, false, want3, true, false, want6, false, false, false} {
		if got := holds(snap, files[i].Path, 7); got != want {
			t.Errorf("file %d held = %v, want %v", i, got, want)
		}
	}
	current := 2
	stale := 2
	for _, w := range []bool{want3, want6} {
		if w {
			current++
		} else {
			stale++
		}
	}
	want := Stats{Current: current, Stale: stale, Unverified: 1, Missing: 2, Extra: 1, Claimed: 9}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if got := snap.Held(7); got != current {
		t.Fatalf("Held = %d, want %d", got, current)
	}
	if c := st.Completion(); c < 0 || c > 100 {
		t.Fatalf("completion %v", c)
	}
}

func TestPartialMirrorClaims(t *testing.T) {
	inv := New()
	mustSet(t, inv, []File{
		{ID: 1, Path: "/fedora/a.iso", Size: 1, ModTime: t0},
		{ID: 2, Path: "/fedora/b.iso", Size: 2, ModTime: t0},
		{ID: 3, Path: "/epel/c.rpm", Size: 3, ModTime: t0},
	})
	c := inv.NewColumn(1)
	c.Add("/fedora/a.iso", 1, t0, time.Second)
	st := c.Finish([]string{"/fedora/"})
	if st.Claimed != 2 || st.Missing != 1 || st.Current != 1 || st.Completion() != 50 {
		t.Fatalf("%+v completion %v", st, st.Completion())
	}
}

func TestCatalogChangeInvalidates(t *testing.T) {
	inv := New()
	files := catalog(5)
	mustSet(t, inv, files)
	mustCommit(t, inv, fullColumn(inv, 1, files))

	// A scan starts, then the origin publishes a new version of file 2 and
	// removes file 4; then the scan commits what it saw.
	inflight := fullColumn(inv, 2, files)
	changed := append([]File(nil), files[:4]...)
	changed[2].Size++
	changed = append(changed, File{ID: 99, Path: "/pub/new.iso", Size: 1, ModTime: t0})
	ch := mustSet(t, inv, changed)
	if ch != (CatalogChange{Added: 1, Changed: 1, Removed: 1, Unchanged: 3}) {
		t.Fatalf("change %+v", ch)
	}
	snap := mustCommit(t, inv, inflight)
	for _, m := range []int64{1, 2} {
		if holds(snap, files[2].Path, m) {
			t.Errorf("mirror %d still credited with the old version of a changed file", m)
		}
		if !holds(snap, files[0].Path, m) {
			t.Errorf("mirror %d lost an unchanged file", m)
		}
		if holds(snap, "/pub/new.iso", m) {
			t.Errorf("mirror %d holds a file it never listed", m)
		}
	}
	if _, ok := snap.Lookup(files[4].Path); ok {
		t.Error("removed file still in the inventory")
	}
	// The next scan of mirror 1 sees the new version and gets it back.
	c := inv.NewColumn(1)
	for _, f := range changed {
		c.Add(f.Path, f.Size, f.ModTime, time.Second)
	}
	c.Finish(nil)
	if snap := mustCommit(t, inv, c); !holds(snap, files[2].Path, 1) || !holds(snap, "/pub/new.iso", 1) {
		t.Error("rescan did not credit the new versions")
	}
}

func TestSetCatalogRejects(t *testing.T) {
	inv := New()
	mustSet(t, inv, catalog(3))
	before := inv.Snapshot()
	for name, files := range map[string][]File{
		"duplicate id":   {{ID: 1, Path: "/a"}, {ID: 1, Path: "/b"}},
		"duplicate path": {{ID: 1, Path: "/a"}, {ID: 2, Path: "/a"}},
		"empty path":     {{ID: 1, Path: ""}},
	} {
		if _, err := inv.SetCatalog(files); err == nil {
			t.Errorf("%s accepted", name)
		}
		if inv.Snapshot() != before {
			t.Errorf("%s: a rejected catalog changed the inventory", name)
		}
	}
}

func TestManyMirrorsAndSlotReuse(t *testing.T) {
	inv := New()
	files := catalog(50)
	mustSet(t, inv, files)
	var cols []*Column
	for m := int64(1); m <= 130; m++ { // three words per row
		cols = append(cols, fullColumn(inv, m, files[:m%50+1]))
	}
	snap := mustCommit(t, inv, cols...)
	if snap.Slots() != 130 || snap.words != 3 {
		t.Fatalf("slots %d words %d", snap.Slots(), snap.words)
	}
	for m := int64(1); m <= 130; m++ {
		if got, want := snap.Held(m), int(m%50+1); got != want {
			t.Fatalf("mirror %d holds %d, want %d", m, got, want)
		}
	}
	inv.RemoveMirror(64)
	snap = inv.Snapshot()
	if _, ok := snap.Slot(64); ok || snap.Held(64) != 0 {
		t.Fatal("removed mirror still has a slot")
	}
	snap = mustCommit(t, inv, fullColumn(inv, 500, files[:1]))
	if slot, _ := snap.Slot(500); slot != 63 || snap.Held(500) != 1 {
		t.Fatalf("new mirror got slot %d holding %d; want the freed slot 63 holding 1", slot, snap.Held(500))
	}
	id, _ := snap.Lookup(files[0].Path)
	if n := snap.Holders(id).Count(); n != 130 {
		t.Fatalf("file 0 has %d holders, want 130", n)
	}
}

func TestCommitRequiresFinish(t *testing.T) {
	inv := New()
	mustSet(t, inv, catalog(2))
	if _, err := inv.Commit(inv.NewColumn(1)); err == nil {
		t.Fatal("committed an unfinished column")
	}
}

// Readers must see a mirror's column entirely before or entirely after a scan,
// never half of it: a writer flips mirror 1 between "holds everything" and
// "holds nothing" while readers check every snapshot is one or the other.
func TestReadersNeverSeeHalfAScan(t *testing.T) {
	inv := New()
	files := catalog(2000)
	mustSet(t, inv, files)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				s := inv.Snapshot()
				n := s.Held(1)
				if n != 0 && n != len(files) {
					errs <- fmt.Sprintf("a reader saw %d of %d files", n, len(files))
					return
				}
				// Individual lookups against one snapshot agree with it.
				id, _ := s.Lookup(files[1234].Path)
				slot, ok := s.Slot(1)
				if ok && s.Holders(id).Has(slot) != (n == len(files)) {
					errs <- "lookup disagrees with its snapshot"
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		c := inv.NewColumn(1)
		if i%2 == 0 {
			for _, f := range files {
				c.Add(f.Path, f.Size, f.ModTime, time.Second)
			}
		}
		c.Finish(nil)
		mustCommit(t, inv, c)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestLookupAllocatesNothing(t *testing.T) {
	inv := New()
	files := catalog(1000)
	mustSet(t, inv, files)
	mustCommit(t, inv, fullColumn(inv, 1, files))
	s := inv.Snapshot()
	p := files[500].Path
	allocs := testing.AllocsPerRun(1000, func() {
		id, _ := s.Lookup(p)
		_ = s.Holders(id).Has(0)
	})
	if allocs != 0 {
		t.Fatalf("lookup allocates %v times", allocs)
	}
}

// bigInventory is the sizing case: 1,000,000 files, 300 mirrors, every
// mirror holding every file.
func bigInventory(tb testing.TB) (*Inventory, []File) {
	inv := New()
	files := catalog(1_000_000)
	mustSet(tb, inv, files)
	// Columns are filled directly: Add's cost is measured by BenchmarkFold,
	// and 300 million Adds would make the setup take a minute.
	cols := make([]*Column, 300)
	for m := range cols {
		c := inv.NewColumn(int64(m + 1))
		for _, f := range files {
			c.bits[f.ID>>6] |= 1 << (f.ID & 63)
		}
		c.Finish(nil)
		cols[m] = c
	}
	mustCommit(tb, inv, cols...)
	return inv, files
}

func BenchmarkLookup1Mx300(b *testing.B) {
	inv, files := bigInventory(b)
	s := inv.Snapshot()
	paths := make([]string, 4096)
	for i := range paths {
		paths[i] = files[(i*7919)%len(files)].Path
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		id, _ := s.Lookup(paths[i&4095])
		if !s.Holders(id).Has(i % 300) {
			b.Fatal("wrong holders")
		}
		i++
	}
}

// BenchmarkFold is the fold half of a scan: one mirror's 300,000-file listing
// matched against the catalog (files/s = 300000 / (ns/op) * 1e9).
func BenchmarkFold300k(b *testing.B) {
	inv := New()
	files := catalog(300_000)
	mustSet(b, inv, files)
	b.ReportAllocs()
	for b.Loop() {
		c := inv.NewColumn(1)
		for _, f := range files {
			c.Add(f.Path, f.Size, f.ModTime, time.Second)
		}
		c.Finish(nil)
		mustCommit(b, inv, c)
	}
	b.ReportMetric(float64(len(files))*float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkMemory1Mx300 reports the resident heap of the sizing case.
func BenchmarkMemory1Mx300(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		inv, files := bigInventory(b)
		files = nil
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB-heap")
		runtime.KeepAlive(inv)
		runtime.KeepAlive(files)
	}
}

// BenchmarkCommitColumn1M publishes one mirror's new column into the 1M × 300
// inventory: the copy-on-write cost every scan pays once.
func BenchmarkCommitColumn1M(b *testing.B) {
	inv, files := bigInventory(b)
	c := fullColumn(inv, 7, files)
	b.ReportAllocs()
	for b.Loop() {
		mustCommit(b, inv, c)
	}
}

func holdsPrevious(s *Snapshot, path string, mirror int64) bool {
	id, ok := s.Lookup(path)
	slot, ok2 := s.Slot(mirror)
	return ok && ok2 && s.Previous(id).Has(slot)
}

// bump returns the catalog with file i at a new version whose previous
// version is the one it had.
func bump(files []File, i int, at time.Time) []File {
	out := append([]File(nil), files...)
	f := &out[i]
	f.Previous, f.HasPrevious, f.ChangedAt = Version{Size: f.Size, ModTime: f.ModTime}, true, at
	f.Size, f.ModTime = f.Size+7, f.ModTime.Add(time.Hour)
	return out
}

func TestPreviousVersionHolders(t *testing.T) {
	inv := New()
	v1 := catalog(4)
	mustSet(t, inv, v1)
	mustCommit(t, inv, fullColumn(inv, 1, v1), fullColumn(inv, 2, v1))

	// The catalog moves file 0 on: both mirrors now hold its previous version.
	changedAt := t0.Add(48 * time.Hour)
	v2 := bump(v1, 0, changedAt)
	mustSet(t, inv, v2)
	snap := inv.Snapshot()
	for _, m := range []int64{1, 2} {
		if holds(snap, v2[0].Path, m) || !holdsPrevious(snap, v2[0].Path, m) {
			t.Fatalf("mirror %d after the change: current %v previous %v", m, holds(snap, v2[0].Path, m), holdsPrevious(snap, v2[0].Path, m))
		}
		if holdsPrevious(snap, v2[1].Path, m) || !holds(snap, v2[1].Path, m) {
			t.Fatalf("mirror %d: an unchanged file moved to previous", m)
		}
	}
	if f, _ := snap.File(v2[0].ID); !f.HasPrevious || f.Previous.Size != v1[0].Size || !f.ChangedAt.Equal(changedAt) ||
		snap.ChangedAt(v2[0].ID) != changedAt.UnixNano() {
		t.Fatalf("file record %+v", f)
	}

	// Mirror 1 catches up; mirror 2's listing still shows the old version.
	c1 := fullColumn(inv, 1, v2)
	c2 := fullColumn(inv, 2, v1)
	if st := c2.Finish(nil); st.Stale != 1 || st.Previous != 1 {
		t.Fatalf("stats of a mirror one version behind: %+v", st)
	}
	snap = mustCommit(t, inv, c1, c2)
	if !holds(snap, v2[0].Path, 1) || holdsPrevious(snap, v2[0].Path, 1) {
		t.Fatal("mirror 1 caught up but is not a current holder only")
	}
	if holds(snap, v2[0].Path, 2) || !holdsPrevious(snap, v2[0].Path, 2) {
		t.Fatal("mirror 2 is not recorded on the previous version")
	}

	// Two versions behind is no version at all.
	v3 := bump(v2, 0, changedAt.Add(time.Hour))
	mustSet(t, inv, v3)
	snap = inv.Snapshot()
	if !holdsPrevious(snap, v3[0].Path, 1) || holdsPrevious(snap, v3[0].Path, 2) || holds(snap, v3[0].Path, 2) {
		t.Fatal("after a second change only mirror 1 (which had v2) holds the previous version")
	}
	c2 = fullColumn(inv, 2, v1)
	if st := c2.Finish(nil); st.Stale != 1 || st.Previous != 0 {
		t.Fatalf("stats of a mirror two versions behind: %+v", st)
	}
	snap = mustCommit(t, inv, c2)
	if holdsPrevious(snap, v3[0].Path, 2) {
		t.Fatal("a listing two versions behind counted as previous")
	}

	// Removing a mirror clears its previous-version bits too.
	inv.RemoveMirror(1)
	if snap = inv.Snapshot(); holdsPrevious(snap, v3[0].Path, 1) {
		t.Fatal("a removed mirror still holds a previous version")
	}
}

// A scan that listed the old version while the catalog changed is credited
// with the previous version, not the current one.
func TestScanRacingCatalogChangeCreditsPrevious(t *testing.T) {
	inv := New()
	v1 := catalog(3)
	mustSet(t, inv, v1)
	c := fullColumn(inv, 5, v1) // listed against v1
	v2 := bump(v1, 1, t0)
	mustSet(t, inv, v2)
	snap := mustCommit(t, inv, c)
	if holds(snap, v2[1].Path, 5) || !holdsPrevious(snap, v2[1].Path, 5) {
		t.Fatal("the racing scan's copy of the changed file is not the previous version")
	}
	if !holds(snap, v2[0].Path, 5) {
		t.Fatal("unchanged files lost")
	}
	// Credits from stored holdings do the same.
	c = inv.NewColumn(6)
	c.CreditPrevious(v2[1].ID)
	c.CreditPrevious(v2[0].ID) // has no previous version: ignored
	c.Finish(nil)
	snap = mustCommit(t, inv, c)
	if !holdsPrevious(snap, v2[1].Path, 6) || holdsPrevious(snap, v2[0].Path, 6) {
		t.Fatal("CreditPrevious")
	}
	var got []FileID
	c.HeldPrevious(func(id FileID) { got = append(got, id) })
	if len(got) != 1 || got[0] != v2[1].ID {
		t.Fatalf("HeldPrevious = %v", got)
	}
}
