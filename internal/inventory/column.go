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
	// Previous counts the stale files that are the catalog's previous version.
	Previous int `json:"previous"`
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
	pbits  []uint64 // by FileID: the previous version
	seen   []uint64 // by FileID: listed at all, current or not
	stale  int
	prev   int
	unver  int
	extra  int
	done   bool
	stats  Stats
}

// NewColumn starts a column for a mirror against the current catalog.
func (inv *Inventory) NewColumn(mirrorID int64) *Column {
	base := inv.cur.Load()
	n := (len(base.files.path) + 63) / 64
	return &Column{mirror: mirrorID, base: base, bits: make([]uint64, n), pbits: make([]uint64, n), seen: make([]uint64, n)}
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
		if v, ok := t.previous(id); ok && versionMatch(v.size, v.mtime, size, mtime, precision) == matchYes {
			c.pbits[w] |= bit
			c.prev++
		}
	default:
		c.unver++
	}
}

// Credit records that the mirror holds the file's current version without a
// listing: holdings loaded from the store, already checked against the
// catalog build they were made for.
func (c *Column) Credit(id FileID) { c.credit(id, c.bits) }

// CreditPrevious is Credit for the file's previous version.
func (c *Column) CreditPrevious(id FileID) {
	if _, ok := c.base.files.previous(id); ok {
		c.credit(id, c.pbits)
	}
}

func (c *Column) credit(id FileID, set []uint64) {
	if !c.base.files.has(id) {
		return
	}
	w, bit := int(id)>>6, uint64(1)<<(uint(id)&63)
	c.seen[w] |= bit
	set[w] |= bit
}

// Held calls f for every file the column credits, in id order.
func (c *Column) Held(f func(FileID)) { eachBit(c.bits, f) }

// HeldPrevious calls f for every file whose previous version the column
// credits, in id order.
func (c *Column) HeldPrevious(f func(FileID)) { eachBit(c.pbits, f) }

func eachBit(set []uint64, f func(FileID)) {
	for w, word := range set {
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
	s := Stats{Stale: c.stale, Previous: c.prev, Unverified: c.unver, Extra: c.extra}
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
	next.rows = widen(old.rows, n, old.words, next.words)
	next.prows = widen(old.prows, len(old.files.prev), old.words, next.words)
	t := old.files
	for _, c := range cols {
		next.apply(t, c)
	}
	inv.cur.Store(next)
	return next, nil
}

// apply writes one column into the mirror's slot, 64 files per step of the
// column's bitset. A file whose version the catalog changed after the column's
// listing began (gen above the column's base) is not credited; but if the
// change made the version the mirror listed the previous one, the mirror is
// credited with that.
func (s *Snapshot) apply(t *fileTable, c *Column) {
	slot := s.slotOf[c.mirror]
	w, bit := slot>>6, uint64(1)<<(uint(slot)&63)
	words, n := s.words, len(t.path)
	base := c.base.files
	baseGen := c.base.gen
	for cw := 0; cw*64 < n; cw++ {
		var have, havePrev uint64
		if cw < len(c.bits) {
			have, havePrev = c.bits[cw], c.pbits[cw]
		}
		end := min(n, cw*64+64)
		for id := cw * 64; id < end; id++ {
			row := id*words + w
			mask := uint64(1) << (uint(id) & 63)
			cur, prev := have&mask != 0, havePrev&mask != 0
			if t.gen[id] > baseGen {
				cur, prev = false, cur && base.has(FileID(id)) && t.prevIs(FileID(id), base.size[id], base.mtime[id])
			}
			setBit(s.rows, row, bit, cur)
			if p := t.prow[id]; p >= 0 {
				setBit(s.prows, int(p)*words+w, bit, prev)
			}
		}
	}
}

func setBit(rows []uint64, i int, bit uint64, on bool) {
	if on {
		rows[i] |= bit
	} else {
		rows[i] &^= bit
	}
}

// widen copies n rows of old words each into rows of words (≥ old) each.
func widen(rows []uint64, n, old, words int) []uint64 {
	if words == old {
		return cloneRows(rows)
	}
	out := make([]uint64, n*words)
	for id := range n {
		copy(out[id*words:], rows[id*old:(id+1)*old])
	}
	return out
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
