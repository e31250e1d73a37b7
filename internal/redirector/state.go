package redirector

import (
	"path"
	"sort"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
	"github.com/mirrorkit/mirrorkit/internal/inventory"
	"github.com/mirrorkit/mirrorkit/internal/scan"
	"github.com/mirrorkit/mirrorkit/internal/selection"
)

// State is everything a request reads, immutable once built.
type State struct {
	Table *selection.Table
	Inv   *inventory.Snapshot
	// sha256 holds each file's digest by inventory id; a zero array is unknown.
	sha256 [][32]byte
	// children lists each public directory's public entries, for index pages.
	children map[string][]Child
	embargo  map[string]bool
	// entries is the catalog, shared with the loader, and byID indexes it,
	// for what only metalinks need (every hash, piece hashes).
	entries []catalog.Entry
	byID    []int32
}

// Child is one entry of a directory index.
type Child struct {
	Name string
	Dir  bool
	Size int64
}

// NewState builds a state. entries is the catalog (for digests and
// directory indexes); embargoed lists country codes that get no redirect.
func NewState(t *selection.Table, inv *inventory.Snapshot, entries []catalog.Entry, embargoed []string) *State {
	st := &State{Table: t, Inv: inv, children: map[string][]Child{"/": nil}, embargo: map[string]bool{}}
	for _, cc := range embargoed {
		st.embargo[cc] = true
	}
	maxID := uint32(0)
	for _, e := range entries {
		maxID = max(maxID, e.ID)
	}
	st.sha256 = make([][32]byte, maxID+1)
	st.entries, st.byID = entries, make([]int32, maxID+1)
	for i, e := range entries {
		st.byID[e.ID] = int32(i)
	}
	for _, e := range entries {
		if e.Staged || (e.Type != scan.File && e.Type != scan.Dir) {
			continue
		}
		if len(e.SHA256) == 64 {
			decodeHex(st.sha256[e.ID][:], e.SHA256)
		}
		parent := path.Dir(e.Path)
		st.children[parent] = append(st.children[parent], Child{Name: path.Base(e.Path), Dir: e.Type == scan.Dir, Size: e.Size})
		if e.Type == scan.Dir {
			if _, ok := st.children[e.Path]; !ok {
				st.children[e.Path] = nil
			}
		}
	}
	for _, c := range st.children {
		sort.Slice(c, func(i, j int) bool { return c[i].Name < c[j].Name })
	}
	return st
}

// Entry returns a file's catalog entry.
func (st *State) Entry(id inventory.FileID) (*catalog.Entry, bool) {
	if int(id) >= len(st.byID) {
		return nil, false
	}
	e := &st.entries[st.byID[id]]
	return e, e.ID == uint32(id)
}

// SHA256 returns a file's digest, if the catalog has one.
func (st *State) SHA256(id inventory.FileID) ([32]byte, bool) {
	if int(id) >= len(st.sha256) || st.sha256[id] == ([32]byte{}) {
		return [32]byte{}, false
	}
	return st.sha256[id], true
}

func decodeHex(dst []byte, s string) {
	val := func(c byte) byte {
		switch {
		case c >= '0' && c <= '9':
			return c - '0'
		case c >= 'a' && c <= 'f':
			return c - 'a' + 10
		}
		return 0
	}
	for i := range dst {
		dst[i] = val(s[2*i])<<4 | val(s[2*i+1])
	}
}
