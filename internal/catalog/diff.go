package catalog

import "github.com/mirrorkit/mirrorkit/internal/scan"

// Change is one difference between two builds.
type Change struct {
	Kind string `json:"change"` // "added", "changed" or "removed"
	// Old is nil for an added path; New is nil for a removed one.
	Old *Entry `json:"old,omitempty"`
	New *Entry `json:"new,omitempty"`
}

// Path is the changed path.
func (c Change) Path() string {
	if c.New != nil {
		return c.New.Path
	}
	return c.Old.Path
}

// Diff lists what changed from old to new, both sorted by path. An entry
// changed when anything a mirror or client could notice differs: type, size,
// mtime, mode, target, staged state, or (when both sides know it) content.
func Diff(old, new []Entry) []Change {
	var out []Change
	i, j := 0, 0
	for i < len(old) || j < len(new) {
		switch {
		case j == len(new) || i < len(old) && old[i].Path < new[j].Path:
			out = append(out, Change{Kind: "removed", Old: &old[i]})
			i++
		case i == len(old) || new[j].Path < old[i].Path:
			out = append(out, Change{Kind: "added", New: &new[j]})
			j++
		default:
			if differs(&old[i], &new[j]) {
				out = append(out, Change{Kind: "changed", Old: &old[i], New: &new[j]})
			}
			i++
			j++
		}
	}
	return out
}

func differs(a, b *Entry) bool {
	return VersionChanged(a, b) || a.Mode != b.Mode || a.Staged != b.Staged
}

// VersionChanged reports whether b is another version of a: what a mirror's
// copy is checked against (type, size, mtime, symlink target, and content
// when both sides know it). Mode and staged state are not part of it: a bit
// flip releases the same version.
func VersionChanged(a, b *Entry) bool {
	return a.Type != b.Type || a.Size != b.Size || !a.ModTime.Equal(b.ModTime) || a.Target != b.Target ||
		a.Type == scan.File && a.SHA256 != "" && b.SHA256 != "" && a.SHA256 != b.SHA256
}
