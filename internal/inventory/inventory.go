package inventory

import (
	"fmt"
	"iter"
	"maps"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// FileID is a catalog file's stable id (the catalog's own id), used directly as
// the row number.
type FileID uint32

// File is what the inventory needs of a catalog file: its current version,
// and the one before it.
type File struct {
	ID      FileID
	Path    string
	Size    int64
	ModTime time.Time
	// Staged files (not world-readable at the origin) are tracked, so mirrors
	// that pre-sync them are ready at the bit flip, but never claimed.
	Staged bool
	// ChangedAt is when the catalog took in the current version; zero when
	// unknown.
	ChangedAt time.Time
	// Previous is the version before the current one, when HasPrevious.
	// Mirrors holding it are tracked apart from the current holders.
	Previous    Version
	HasPrevious bool
}

// Version is what a listing can tell of a file's version.
type Version struct {
	Size    int64
	ModTime time.Time
}

// Set is a row: bit s is set when the mirror in slot s holds the file. It is a
// view into an immutable snapshot; callers must not modify it.
type Set []uint64

// Has reports whether slot s is in the set.
func (s Set) Has(slot int) bool {
	w := slot >> 6
	return w < len(s) && s[w]&(1<<(uint(slot)&63)) != 0
}

// Count returns the number of slots in the set.
func (s Set) Count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// fileTable is the catalog side of a snapshot, replaced only when the catalog
// changes; scans share it between snapshots.
type fileTable struct {
	index map[string]FileID
	path  []string // by FileID; "" where no file has that id
	size  []int64
	mtime []int64  // unix nanoseconds
	gen   []uint64 // generation that last changed the file's version
	stage []bool
	// changed is ChangedAt in unix nanoseconds (0: unknown).
	changed []int64
	// Few files have a previous version at any time, so those are kept
	// apart: prow maps a file to its index in prev (and its row in a
	// snapshot's prows), -1 for none.
	prow []int32
	prev []version
	live int
}

// version is a file version as the table keeps it.
type version struct{ size, mtime int64 }

// previous returns a file's previous version.
func (t *fileTable) previous(id FileID) (version, bool) {
	if !t.has(id) || t.prow[id] < 0 {
		return version{}, false
	}
	return t.prev[t.prow[id]], true
}

func (t *fileTable) prevIs(id FileID, size, mtime int64) bool {
	v, ok := t.previous(id)
	return ok && v.size == size && v.mtime == mtime
}

func (t *fileTable) has(id FileID) bool { return int(id) < len(t.path) && t.path[id] != "" }

// Snapshot is an immutable state of the inventory. Every method is safe for
// concurrent use and allocates nothing.
type Snapshot struct {
	gen    uint64
	files  *fileTable
	words  int      // words per row
	rows   []uint64 // len(files.path) * words
	prows  []uint64 // len(files.prev) * words: the previous versions' holders
	mirror []int64  // slot → mirror id; 0 marks a free slot
	slotOf map[int64]int
}

// Gen is the snapshot's generation, raised by every change.
func (s *Snapshot) Gen() uint64 { return s.gen }

// Lookup returns the id of the file at the clean, slash-led path.
func (s *Snapshot) Lookup(path string) (FileID, bool) {
	id, ok := s.files.index[path]
	return id, ok
}

// File returns the current version of a file.
func (s *Snapshot) File(id FileID) (File, bool) {
	t := s.files
	if !t.has(id) {
		return File{}, false
	}
	f := File{ID: id, Path: t.path[id], Size: t.size[id], ModTime: time.Unix(0, t.mtime[id]).UTC(), Staged: t.stage[id]}
	if t.changed[id] != 0 {
		f.ChangedAt = time.Unix(0, t.changed[id]).UTC()
	}
	if v, ok := t.previous(id); ok {
		f.Previous, f.HasPrevious = Version{Size: v.size, ModTime: time.Unix(0, v.mtime).UTC()}, true
	}
	return f, true
}

// ChangedAt returns when the catalog took in the file's current version, in
// unix nanoseconds (0: unknown), without building a File.
func (s *Snapshot) ChangedAt(id FileID) int64 {
	if !s.files.has(id) {
		return 0
	}
	return s.files.changed[id]
}

// Holders returns the slots of the mirrors holding the file's current version.
func (s *Snapshot) Holders(id FileID) Set {
	if int(id) >= len(s.files.path) || s.words == 0 {
		return nil
	}
	off := int(id) * s.words
	return s.rows[off : off+s.words : off+s.words]
}

// Previous returns the slots of the mirrors holding the file's previous
// version (and not its current one).
func (s *Snapshot) Previous(id FileID) Set {
	if !s.files.has(id) || s.words == 0 || s.files.prow[id] < 0 {
		return nil
	}
	off := int(s.files.prow[id]) * s.words
	return s.prows[off : off+s.words : off+s.words]
}

// Slot returns the slot of a mirror, if it has one.
func (s *Snapshot) Slot(mirrorID int64) (int, bool) {
	slot, ok := s.slotOf[mirrorID]
	return slot, ok
}

// Mirror returns the id of the mirror in a slot (0 for a free slot).
func (s *Snapshot) Mirror(slot int) int64 {
	if slot < 0 || slot >= len(s.mirror) {
		return 0
	}
	return s.mirror[slot]
}

// Slots is the number of slots, free ones included.
func (s *Snapshot) Slots() int { return len(s.mirror) }

// FileIDs yields the id of every catalog file, in id order.
func (s *Snapshot) FileIDs() iter.Seq[FileID] {
	return func(yield func(FileID) bool) {
		for id, p := range s.files.path {
			if p != "" && !yield(FileID(id)) {
				return
			}
		}
	}
}

// Files is the number of catalog files.
func (s *Snapshot) Files() int { return s.files.live }

// Held counts the files a mirror holds.
func (s *Snapshot) Held(mirrorID int64) int {
	slot, ok := s.slotOf[mirrorID]
	if !ok {
		return 0
	}
	w, bit := slot>>6, uint64(1)<<(uint(slot)&63)
	n := 0
	for off := w; off < len(s.rows); off += s.words {
		if s.rows[off]&bit != 0 {
			n++
		}
	}
	return n
}

// Inventory holds the current snapshot. Reads never block; writes are
// serialised among themselves.
type Inventory struct {
	mu  sync.Mutex
	cur atomic.Pointer[Snapshot]
}

// New returns an empty inventory.
func New() *Inventory {
	inv := &Inventory{}
	inv.cur.Store(&Snapshot{files: &fileTable{index: map[string]FileID{}}, slotOf: map[int64]int{}})
	return inv
}

// Snapshot returns the current state; hold it for as long as one decision
// needs a consistent view.
func (inv *Inventory) Snapshot() *Snapshot { return inv.cur.Load() }

// CatalogChange says what SetCatalog did.
type CatalogChange struct {
	Added, Changed, Removed, Unchanged int
}

// SetCatalog replaces the catalog. Files whose size or mtime changed, and new
// files, start with no holders; removed files disappear. When a changed
// file's previous version is the one it replaces, that version's holders
// become the previous-version holders. Ids and paths must each be unique; an
// id keeps its path (a path that moves to another id is a remove and an add).
func (inv *Inventory) SetCatalog(files []File) (CatalogChange, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	old := inv.cur.Load()
	gen := old.gen + 1
	maxID := FileID(0)
	for _, f := range files {
		maxID = max(maxID, f.ID)
	}
	n := 0
	if len(files) > 0 {
		n = int(maxID) + 1
	}
	t := &fileTable{
		index: make(map[string]FileID, len(files)),
		path:  make([]string, n), size: make([]int64, n), mtime: make([]int64, n),
		gen: make([]uint64, n), stage: make([]bool, n),
		changed: make([]int64, n), prow: make([]int32, n),
	}
	for i := range t.prow {
		t.prow[i] = -1 // ids without a file too
	}
	var ch CatalogChange
	// Where each file's rows come from in the old snapshot: its current
	// holders (keep) and previous holders (prevFrom: 1 the old current
	// holders, 2 the old previous holders).
	keep := make([]bool, n)
	prevFrom := make([]uint8, n)
	for _, f := range files {
		if f.Path == "" {
			return ch, fmt.Errorf("inventory: file id %d has an empty path", f.ID)
		}
		if t.path[f.ID] != "" {
			return ch, fmt.Errorf("inventory: file id %d given twice (%q, %q)", f.ID, t.path[f.ID], f.Path)
		}
		if _, dup := t.index[f.Path]; dup {
			return ch, fmt.Errorf("inventory: path %q given twice", f.Path)
		}
		mt := f.ModTime.UnixNano()
		t.index[f.Path] = f.ID
		t.path[f.ID], t.size[f.ID], t.mtime[f.ID], t.stage[f.ID] = f.Path, f.Size, mt, f.Staged
		if f.HasPrevious {
			t.prow[f.ID] = int32(len(t.prev))
			t.prev = append(t.prev, version{f.Previous.Size, f.Previous.ModTime.UnixNano()})
		}
		if !f.ChangedAt.IsZero() {
			t.changed[f.ID] = f.ChangedAt.UnixNano()
		}
		ot := old.files
		switch {
		case !ot.has(f.ID) || ot.path[f.ID] != f.Path:
			t.gen[f.ID] = gen
			ch.Added++
			continue
		case ot.size[f.ID] != f.Size || ot.mtime[f.ID] != mt:
			t.gen[f.ID] = gen
			ch.Changed++
		default:
			t.gen[f.ID] = ot.gen[f.ID]
			keep[f.ID] = true
			ch.Unchanged++
		}
		switch {
		case !keep[f.ID] && t.prevIs(f.ID, ot.size[f.ID], ot.mtime[f.ID]):
			prevFrom[f.ID] = 1
		default:
			if v, ok := ot.previous(f.ID); ok && t.prevIs(f.ID, v.size, v.mtime) {
				prevFrom[f.ID] = 2
			}
		}
	}
	t.live = len(files)
	ch.Removed = old.files.live - ch.Changed - ch.Unchanged
	next := &Snapshot{gen: gen, files: t, words: old.words, mirror: old.mirror, slotOf: old.slotOf}
	next.rows, next.prows = make([]uint64, n*next.words), make([]uint64, len(t.prev)*next.words)
	w := next.words
	for id := range n {
		if keep[id] {
			copy(next.rows[id*w:(id+1)*w], old.rows[id*w:(id+1)*w])
		}
		var from []uint64
		switch prevFrom[id] {
		case 1:
			from = old.rows[id*w : (id+1)*w]
		case 2:
			op := int(old.files.prow[id])
			from = old.prows[op*w : (op+1)*w]
		default:
			continue
		}
		np := int(t.prow[id])
		copy(next.prows[np*w:(np+1)*w], from)
	}
	inv.cur.Store(next)
	return ch, nil
}

// RemoveMirror forgets a mirror: its slot is freed and its bits cleared.
func (inv *Inventory) RemoveMirror(mirrorID int64) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	old := inv.cur.Load()
	slot, ok := old.slotOf[mirrorID]
	if !ok {
		return
	}
	next := *old
	next.gen++
	next.rows = clearSlot(cloneRows(old.rows), old.words, slot)
	next.prows = clearSlot(cloneRows(old.prows), old.words, slot)
	next.mirror = append([]int64(nil), old.mirror...)
	next.mirror[slot] = 0
	next.slotOf = maps.Clone(old.slotOf)
	delete(next.slotOf, mirrorID)
	inv.cur.Store(&next)
}

func cloneRows(rows []uint64) []uint64 { return append([]uint64(nil), rows...) }

func clearSlot(rows []uint64, words, slot int) []uint64 {
	w, mask := slot>>6, ^(uint64(1) << (uint(slot) & 63))
	for off := w; off < len(rows); off += words {
		rows[off] &= mask
	}
	return rows
}
