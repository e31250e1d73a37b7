package registry

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// SnapshotFormat and SnapshotVersion identify a registry export, so an import can
// refuse a file it does not understand instead of guessing.
const (
	SnapshotFormat  = "mirrorkit-registry"
	SnapshotVersion = 1
)

// Snapshot is a whole registry, private data included: what `registry export`
// writes and `registry import` reads to move a network between stores losslessly.
type Snapshot struct {
	Format  string           `json:"format"`
	Version int              `json:"version"`
	Sites   []Site           `json:"sites"`
	Mirrors []SnapshotMirror `json:"mirrors"`
}

// SnapshotMirror is a mirror with its report-token hash, which the plain Mirror
// JSON never shows.
type SnapshotMirror struct {
	Mirror
	TokenHash string `json:"report_token_hash"`
}

// NewSnapshot builds a snapshot in canonical order (by id), so two exports of the
// same registry are byte-identical.
func NewSnapshot(sites []Site, mirrors []Mirror) Snapshot {
	s := Snapshot{Format: SnapshotFormat, Version: SnapshotVersion, Sites: sites, Mirrors: make([]SnapshotMirror, len(mirrors))}
	if s.Sites == nil {
		s.Sites = []Site{}
	}
	for i, m := range mirrors {
		s.Mirrors[i] = SnapshotMirror{Mirror: m, TokenHash: m.TokenHash}
	}
	sort.Slice(s.Sites, func(i, j int) bool { return s.Sites[i].ID < s.Sites[j].ID })
	sort.Slice(s.Mirrors, func(i, j int) bool { return s.Mirrors[i].ID < s.Mirrors[j].ID })
	return s
}

// MirrorList returns the mirrors with their token hashes restored.
func (s *Snapshot) MirrorList() []Mirror {
	out := make([]Mirror, len(s.Mirrors))
	for i, sm := range s.Mirrors {
		out[i] = sm.Mirror
		out[i].TokenHash = sm.TokenHash
	}
	return out
}

// WriteJSON writes the snapshot as indented JSON.
func (s *Snapshot) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(s)
}

// ReadSnapshot decodes and checks a snapshot: the format and version, unknown
// fields (a typo must not silently drop data), ids, and every site and mirror.
func ReadSnapshot(r io.Reader) (Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Snapshot{}, fmt.Errorf("registry snapshot: %w", err)
	}
	if dec.More() {
		return Snapshot{}, fmt.Errorf("registry snapshot: trailing data after the JSON document")
	}
	if s.Format != SnapshotFormat {
		return Snapshot{}, fmt.Errorf("registry snapshot: format %q, want %q", s.Format, SnapshotFormat)
	}
	if s.Version != SnapshotVersion {
		return Snapshot{}, fmt.Errorf("registry snapshot: version %d is not supported (this mirrorkit reads version %d)", s.Version, SnapshotVersion)
	}
	return s, s.Check()
}

// Check validates every entry and the references between them, naming the entry
// at fault; a store can then import the snapshot in one transaction.
func (s *Snapshot) Check() error {
	siteIDs := map[int64]bool{}
	siteNames := map[string]bool{}
	for i := range s.Sites {
		st := &s.Sites[i]
		st.Normalize()
		where := fmt.Sprintf("sites[%d] (%s)", i, st.Name)
		if err := st.Validate(); err != nil {
			return fmt.Errorf("registry snapshot: %s: %w", where, err)
		}
		if st.ID <= 0 || siteIDs[st.ID] {
			return fmt.Errorf("registry snapshot: %s: %w", where, Invalid("id", fmt.Sprintf("%d is missing or repeated", st.ID)))
		}
		if siteNames[st.Name] {
			return fmt.Errorf("registry snapshot: %s: %w", where, Invalid("name", "repeated"))
		}
		siteIDs[st.ID], siteNames[st.Name] = true, true
	}
	mirrorIDs := map[int64]bool{}
	tiers := map[string]int{}
	for i := range s.Mirrors {
		m := &s.Mirrors[i]
		m.Mirror.TokenHash = m.TokenHash
		m.Normalize()
		where := fmt.Sprintf("mirrors[%d] (%s)", i, m.Name)
		if err := m.Validate(); err != nil {
			return fmt.Errorf("registry snapshot: %s: %w", where, err)
		}
		if m.ID <= 0 || mirrorIDs[m.ID] {
			return fmt.Errorf("registry snapshot: %s: %w", where, Invalid("id", fmt.Sprintf("%d is missing or repeated", m.ID)))
		}
		if _, dup := tiers[m.Name]; dup {
			return fmt.Errorf("registry snapshot: %s: %w", where, Invalid("name", "repeated"))
		}
		if !siteNames[m.Site] {
			return fmt.Errorf("registry snapshot: %s: %w", where, Invalid("site", fmt.Sprintf("unknown site %q", m.Site)))
		}
		mirrorIDs[m.ID], tiers[m.Name] = true, m.Tier
	}
	for i := range s.Mirrors {
		m := &s.Mirrors[i].Mirror
		if err := CheckUpstream(m, tiers); err != nil {
			return fmt.Errorf("registry snapshot: mirrors[%d] (%s): %w", i, m.Name, err)
		}
	}
	return nil
}

// CheckUpstream checks a mirror's upstream against the tiers of the registry's
// mirrors (name → tier). An upstream must exist and sit on a lower tier, which
// also rules out sync loops.
func CheckUpstream(m *Mirror, tiers map[string]int) error {
	if m.Upstream == "" {
		return nil
	}
	t, ok := tiers[m.Upstream]
	if !ok {
		return Invalid("upstream", fmt.Sprintf("unknown mirror %q", m.Upstream))
	}
	if t >= m.Tier {
		return Invalid("upstream", fmt.Sprintf("%q is tier %d; an upstream must be on a lower tier than this mirror's %d", m.Upstream, t, m.Tier))
	}
	return nil
}
