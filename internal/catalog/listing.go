package catalog

import (
	"path"
	"sort"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// FromListing builds a catalog from a remote origin's listing (an rsync URL
// when the publisher's tree is on another machine). A listing carries no
// content, so there are no hashes and no hardlink groups; staged state comes
// from the listed modes, as Build derives it from the disk.
func FromListing(listing []scan.Entry, ex Excludes) []Entry {
	sorted := append([]scan.Entry(nil), listing...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	staged := map[string]bool{} // directory path → staged
	excluded := map[string]bool{}
	out := make([]Entry, 0, len(sorted))
	for _, l := range sorted {
		if l.Path == "/" {
			continue
		}
		parent := path.Dir(l.Path)
		if excluded[parent] {
			excluded[l.Path] = true
			continue
		}
		if ex.Match(l.Path, l.Type == scan.Dir) {
			excluded[l.Path] = true
			continue
		}
		e := Entry{Path: l.Path, Type: l.Type, Size: max(0, l.Size), ModTime: l.ModTime, Mode: l.Mode.Perm(), Target: l.Target}
		switch l.Type {
		case scan.Dir:
			e.Staged = staged[parent] || l.Mode.Perm()&0o005 != 0o005
			staged[l.Path] = e.Staged
		case scan.File:
			e.Staged = staged[parent] || l.Mode.Perm()&0o004 == 0
		default:
			e.Staged = staged[parent]
		}
		out = append(out, e)
	}
	return out
}
