package redirector

import (
	"encoding/hex"
	"path"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

// State is everything a request reads, immutable once built. It is rebuilt
// whenever mirrors or scans change; the catalog part only when the catalog does.
type State struct {
	Table   *selection.Table
	Inv     *inventory.Snapshot
	cat     *Catalog
	embargo map[string]bool
	// geo is each slot's country in lower case, for Link headers.
	geo []string
	// redirects is each slot's redirect counter, resolved when the state
	// is published (Server.SetState); nil without metrics.
	redirects []prometheus.Counter
}

// Catalog is what the redirector derives from one catalog build: digests,
// directory listings, and an index of the entries for metalinks.
type Catalog struct {
	// sha256 holds each file's digest by inventory id; a zero array is unknown.
	sha256 [][32]byte
	// children lists each public directory's public entries, for index pages.
	children map[string][]Child
	// entries is the catalog and byID indexes it, for what only metalinks
	// need (every hash, piece hashes).
	entries []catalog.Entry
	byID    []int32
	// files counts the public (not staged) files, the catalog's size as
	// the public sees it.
	files int
}

// Child is one entry of a directory index.
type Child struct {
	Name string
	Dir  bool
	Size int64
}

// NewCatalog indexes a catalog build for the redirector.
func NewCatalog(entries []catalog.Entry) *Catalog {
	c := &Catalog{children: map[string][]Child{"/": nil}, entries: entries}
	maxID := uint32(0)
	for _, e := range entries {
		maxID = max(maxID, e.ID)
	}
	c.sha256, c.byID = make([][32]byte, maxID+1), make([]int32, maxID+1)
	for i, e := range entries {
		c.byID[e.ID] = int32(i)
	}
	for _, e := range entries {
		if e.Staged || (e.Type != scan.File && e.Type != scan.Dir) {
			continue
		}
		if e.Type == scan.File {
			c.files++
		}
		if len(e.SHA256) == 64 {
			// A malformed digest (never written by the catalog) stays unknown.
			if _, err := hex.Decode(c.sha256[e.ID][:], []byte(e.SHA256)); err != nil {
				c.sha256[e.ID] = [32]byte{}
			}
		}
		parent := path.Dir(e.Path)
		c.children[parent] = append(c.children[parent], Child{Name: path.Base(e.Path), Dir: e.Type == scan.Dir, Size: e.Size})
		if e.Type == scan.Dir {
			if _, ok := c.children[e.Path]; !ok {
				c.children[e.Path] = nil
			}
		}
	}
	for _, ch := range c.children {
		sort.Slice(ch, func(i, j int) bool { return ch[i].Name < ch[j].Name })
	}
	return c
}

// NewState builds a state; embargoed lists country codes that get no redirect.
func NewState(t *selection.Table, inv *inventory.Snapshot, cat *Catalog, embargoed []string) *State {
	st := &State{Table: t, Inv: inv, cat: cat, embargo: map[string]bool{}, geo: make([]string, t.Slots())}
	for _, cc := range embargoed {
		st.embargo[cc] = true
	}
	for slot := range st.geo {
		if m, ok := t.Mirror(slot); ok {
			st.geo[slot] = strings.ToLower(m.Location.Country)
		}
	}
	return st
}

// Entry returns a file's catalog entry.
func (st *State) Entry(id inventory.FileID) (*catalog.Entry, bool) {
	c := st.cat
	if int(id) >= len(c.byID) {
		return nil, false
	}
	e := &c.entries[c.byID[id]]
	return e, e.ID == uint32(id)
}

// SHA256 returns a file's digest, if the catalog has one.
func (st *State) SHA256(id inventory.FileID) ([32]byte, bool) {
	c := st.cat
	if int(id) >= len(c.sha256) || c.sha256[id] == ([32]byte{}) {
		return [32]byte{}, false
	}
	return c.sha256[id], true
}
