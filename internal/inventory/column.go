package inventory

import (
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// Stats describe one mirror's copy as one listing showed it.
type Stats struct {
	// Current files match the catalog's size and mtime (to the listing's precision).
	Current int `json:"current"`
	// Stale files are present but differ from the catalog's version.
	Stale int `json:"stale"`
	// Unverified files are present, but the listing says too little (no size,
	// no usable time) to tell which version they are.
	Unverified int `json:"unverified"`
	// Missing files are claimed (under the mirror's content) but absent.
	Missing int `json:"missing"`
	// Extra files are in the listing but not in the catalog.
	Extra int `json:"extra"`
	// Claimed is the number of public catalog files under the mirror's content.
	Claimed int `json:"claimed"`
}

// Completion is the share of claimed files the mirror holds, 0..100.
func (s Stats) Completion() float64 {
	if s.Claimed == 0 {
		return 100
	}
	return 100 * float64(min(s.CurrentClaimed(), s.Claimed)) / float64(s.Claimed)
}

// CurrentClaimed is Claimed less the files that are missing, stale or unverified.
func (s Stats) CurrentClaimed() int { return s.Claimed - s.Missing - s.Stale - s.Unverified }

// Column is one mirror's new column being built from a listing. It is checked
// against the snapshot it started from; Commit drops bits for files the
// catalog changed in the meantime.
type Column struct {
	mirror int64
	base   *Snapshot
	bits   []uint64 // by FileID
	seen   []uint64 // by FileID: listed at all, current or not
	stale  int
	unver  int
	extra  int
	done   bool
	stats  Stats
}

// NewColumn starts a column for a mirror against the current catalog.
func (inv *Inventory) NewColumn(mirrorID int64) *Column {
	base := inv.cur.Load()
	n := (len(base.files.path) + 63) / 64
	return &Column{mirror: mirrorID, base: base, bits: make([]uint64, n), seen: make([]uint64, n)}
}

// Add records one regular file from the listing. precision is the listing's
// mtime granularity; size -1 means the listing did not give it exactly.
func (c *Column) Add(path string, size int64, mtime time.Time, precision time.Duration) {
	t := c.base.files
	id, ok := t.index[path]
	if !ok {
		c.extra++
		return
	}
	w, bit := int(id)>>6, uint64(1)<<(uint(id)&63)
	if c.seen[w]&bit != 0 {
		return // listed twice: the first entry decides
	}
	c.seen[w] |= bit
	switch versionMatch(t.size[id], t.mtime[id], size, mtime, precision) {
	case matchYes:
		c.bits[w] |= bit
	case matchNo:
		c.stale++
	default:
		c.unver++
	}
}

// Credit records that the mirror holds the file's current version without a
// listing: holdings loaded from the store, already checked against the
// catalog build they were made for.
func (c *Column) Credit(id FileID) {
	if int(id) >= len(c.base.files.path) || c.base.files.path[id] == "" {
		return
	}
	w, bit := int(id)>>6, uint64(1)<<(uint(id)&63)
	c.seen[w] |= bit
	c.bits[w] |= bit
}

// Held calls f for every file the column credits, in id order.
func (c *Column) Held(f func(FileID)) {
	for w, word := range c.bits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			f(FileID(w*64 + b))
			word &= word - 1
		}
	}
}

type match uint8

const (
	matchUnknown match = iota
	matchYes
	matchNo
)

// versionMatch decides whether a listed file is the catalog's version. A size
// that differs or a time that differs at the listing's precision is another
// version. Without a size, only a time precise to the minute is evidence
// enough; with neither, the listing proves nothing.
func versionMatch(catSize, catMtime, size int64, mtime time.Time, precision time.Duration) match {
	if size >= 0 && size != catSize {
		return matchNo
	}
	hasTime := precision > 0 && !mtime.IsZero()
	if hasTime {
		cat := time.Unix(0, catMtime).Truncate(precision)
		if !cat.Equal(mtime.Truncate(precision)) {
			return matchNo
		}
	}
	switch {
	case size >= 0:
		return matchYes
	case hasTime && precision <= time.Minute:
		return matchYes
	}
	return matchUnknown
}

// Finish completes the column's statistics for a mirror that carries the
// given content prefixes (empty: the whole tree). Call it once, before Commit.
func (c *Column) Finish(content []string) Stats {
	if c.done {
		return c.stats
	}
	t := c.base.files
	s := Stats{Stale: c.stale, Unverified: c.unver, Extra: c.extra}
	for id, p := range t.path {
		w, bit := id>>6, uint64(1)<<(uint(id)&63)
		if c.bits[w]&bit != 0 {
			s.Current++
		}
		if p == "" || t.stage[id] || !carried(p, content) {
			continue
		}
		s.Claimed++
		if c.seen[w]&bit == 0 {
			s.Missing++
		}
	}
	c.stats, c.done = s, true
	return s
}

func carried(p string, content []string) bool {
	if len(content) == 0 {
		return true
	}
	for _, pre := range content {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// Commit publishes the columns in one new snapshot: readers see all of them or
// none. Each replaces its mirror's whole column; a mirror without a slot gets
// one. A file the catalog changed after a column's listing began is not
// credited to that mirror.
func (inv *Inventory) Commit(cols ...*Column) (*Snapshot, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	old := inv.cur.Load()
	for _, c := range cols {
		if !c.done {
			return old, fmt.Errorf("inventory: column for mirror %d committed before Finish", c.mirror)
		}
	}
	next := &Snapshot{gen: old.gen + 1, files: old.files, words: old.words,
		mirror: append([]int64(nil), old.mirror...), slotOf: make(map[int64]int, len(old.slotOf)+len(cols))}
	for id, slot := range old.slotOf {
		next.slotOf[id] = slot
	}
	for _, c := range cols {
		if _, ok := next.slotOf[c.mirror]; !ok {
			next.slotOf[c.mirror] = next.allocSlot(c.mirror)
		}
	}
	n := len(old.files.path)
	next.words = max(old.words, (len(next.mirror)+63)/64)
	next.rows = make([]uint64, n*next.words)
	if next.words == old.words {
		copy(next.rows, old.rows)
	} else {
		for id := range n {
			copy(next.rows[id*next.words:], old.rows[id*old.words:(id+1)*old.words])
		}
	}
	t := old.files
	for _, c := range cols {
		next.apply(t, c)
	}
	inv.cur.Store(next)
	return next, nil
}

// apply writes one column into the mirror's slot, 64 files per step of the
// column's bitset. A file whose version the catalog changed after the column's
// listing began (gen above the column's base) is not credited.
func (s *Snapshot) apply(t *fileTable, c *Column) {
	slot := s.slotOf[c.mirror]
	w, bit := slot>>6, uint64(1)<<(uint(slot)&63)
	words, rows, n := s.words, s.rows, len(t.path)
	baseGen := c.base.gen
	for cw := 0; cw*64 < n; cw++ {
		var have uint64
		if cw < len(c.bits) {
			have = c.bits[cw]
		}
		end := min(n, cw*64+64)
		for id := cw * 64; id < end; id++ {
			row := id*words + w
			if have&(1<<(uint(id)&63)) != 0 && t.gen[id] <= baseGen {
				rows[row] |= bit
			} else {
				rows[row] &^= bit
			}
		}
	}
}

// allocSlot reuses a free slot or appends one.
func (s *Snapshot) allocSlot(mirrorID int64) int {
	for i, m := range s.mirror {
		if m == 0 {
			s.mirror[i] = mirrorID
			return i
		}
	}
	s.mirror = append(s.mirror, mirrorID)
	return len(s.mirror) - 1
}
