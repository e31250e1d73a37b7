package selection

import (
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/gaissmai/bart"

	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// MaxSlots bounds the mirrors one table holds, so that every set fits a fixed
// array on the stack and a decision allocates nothing. Fedora, the largest
// network in the seeds, has a few hundred mirrors.
const MaxSlots = 2048

const maxWords = MaxSlots / 64

// Set is a set of mirror slots.
type Set [maxWords]uint64

// Has reports whether slot s is in the set.
func (s *Set) Has(slot int) bool { return s[slot>>6]&(1<<(uint(slot)&63)) != 0 }

func (s *Set) add(slot int) { s[slot>>6] |= 1 << (uint(slot) & 63) }

// Count returns the number of slots in the set.
func (s *Set) Count() int {
	n := 0
	for _, w := range s {
		n += bits.OnesCount64(w)
	}
	return n
}

// State is what the network knows about a mirror right now, beyond its
// registration.
type State struct {
	// Fresh: its last good scan is recent enough and its trace within its
	// tier's maximum lag (not stale).
	Fresh bool
	// StaleReason says why it is not fresh, for Explain; "" gives a
	// generic reason.
	StaleReason string
	// Probed: probes have an opinion; Up is that opinion. A mirror nobody
	// has probed yet is not held against it.
	Probed, Up bool
}

// Mirror is one mirror as the table holds it.
type Mirror struct {
	registry.Mirror
	// Slot is the mirror's inventory slot, its bit in every set.
	Slot  int
	State State
}

// Table is the precomputed form of the registry that decisions read. It is
// immutable once built and safe for concurrent use.
type Table struct {
	words   int
	mirrors []Mirror // by slot; ID 0 for empty slots
	weight  []float64
	vec     [][3]float64 // unit vectors by slot, for distance order
	hasVec  Set

	usable, https, http, v4, v6, large Set
	public, geoRuled, asnOnly          Set
	byCountry                          map[string]*Set // own country and extra countries
	byContinent                        map[country.Continent]*Set
	byASN                              map[uint32]*Set
	// geoAllowed[cc]: mirrors with country/continent/exclude rules that
	// accept clients from cc; computed for every known country.
	geoAllowed map[string]*Set
	// netblocks maps a prefix to the index of the set of every mirror whose
	// netblocks contain it, so one longest-prefix lookup answers "whose
	// netblocks hold this client" even where netblocks nest.
	netblocks *bart.Table[int]
	netSets   []Set
	empty     Set
}

// WeightOf is a mirror's share of its group: score × bandwidth, with an
// unknown bandwidth counted as 1 Gbit/s. Twice the score or twice the
// bandwidth, twice the redirects.
func WeightOf(score int, bandwidthMbps int64) float64 {
	if bandwidthMbps <= 0 {
		bandwidthMbps = 1000
	}
	return float64(score) * float64(bandwidthMbps)
}

// NewTable builds a table. Slots must be unique and below MaxSlots.
func NewTable(mirrors []Mirror) (*Table, error) {
	n := 0
	for _, m := range mirrors {
		if m.Slot < 0 || m.Slot >= MaxSlots {
			return nil, fmt.Errorf("selection: mirror %s has slot %d, outside 0..%d", m.Name, m.Slot, MaxSlots-1)
		}
		n = max(n, m.Slot+1)
	}
	t := &Table{
		words: (n + 63) / 64, mirrors: make([]Mirror, n), weight: make([]float64, n), vec: make([][3]float64, n),
		byCountry: map[string]*Set{}, byContinent: map[country.Continent]*Set{}, byASN: map[uint32]*Set{},
		geoAllowed: map[string]*Set{}, netblocks: &bart.Table[int]{},
	}
	type netblock struct {
		pfx  netip.Prefix
		slot int
	}
	var nets []netblock
	for _, m := range mirrors {
		s := m.Slot
		if t.mirrors[s].ID != 0 {
			return nil, fmt.Errorf("selection: slot %d given to both %s and %s", s, t.mirrors[s].Name, m.Name)
		}
		t.mirrors[s] = m
		t.weight[s] = WeightOf(m.Score, m.BandwidthMbps)
		if m.Enabled && m.State.Fresh && (!m.State.Probed || m.State.Up) && t.weight[s] > 0 {
			t.usable.add(s)
		}
		for _, f := range []struct {
			on  bool
			set *Set
		}{{m.URLs.HTTPS != "", &t.https}, {m.URLs.HTTP != "", &t.http}, {m.IPv4, &t.v4}, {m.IPv6, &t.v6},
			{m.LargeFiles, &t.large}, {m.Public, &t.public}, {m.Rules.ASNOnly, &t.asnOnly},
			{m.Rules.CountryOnly || m.Rules.ContinentOnly || len(m.Rules.ExcludeCountries) > 0, &t.geoRuled}} {
			if f.on {
				f.set.add(s)
			}
		}
		for _, cc := range append([]string{m.Location.Country}, m.Rules.ExtraCountries...) {
			setFor(t.byCountry, cc).add(s)
		}
		setFor(t.byContinent, country.Continent(m.Location.Continent)).add(s)
		for _, a := range m.ASNs {
			setFor(t.byASN, a).add(s)
		}
		if m.Location.Latitude != nil && m.Location.Longitude != nil {
			t.vec[s] = unitVector(*m.Location.Latitude, *m.Location.Longitude)
			t.hasVec.add(s)
		}
		for _, nb := range m.Netblocks {
			if p, err := netip.ParsePrefix(nb); err == nil {
				nets = append(nets, netblock{p.Masked(), s})
			}
		}
	}
	for _, c := range country.All() {
		var allowed Set
		for s := range t.mirrors {
			if t.geoRuled.Has(s) && geoAllows(&t.mirrors[s], c.Code, c.Continent) {
				allowed.add(s)
			}
		}
		t.geoAllowed[c.Code] = &allowed
	}
	// Each distinct prefix gets the set of every mirror with a netblock
	// containing it.
	seen := map[netip.Prefix]bool{}
	for _, a := range nets {
		if seen[a.pfx] {
			continue
		}
		seen[a.pfx] = true
		var set Set
		for _, b := range nets {
			if b.pfx.Bits() <= a.pfx.Bits() && b.pfx.Contains(a.pfx.Addr()) {
				set.add(b.slot)
			}
		}
		t.netSets = append(t.netSets, set)
		t.netblocks.Insert(a.pfx, len(t.netSets)-1)
	}
	return t, nil
}

func setFor[K comparable](m map[K]*Set, k K) *Set {
	s := m[k]
	if s == nil {
		s = &Set{}
		m[k] = s
	}
	return s
}

// geoAllows applies a mirror's country-only, continent-only and excluded
// countries to a client country.
func geoAllows(m *Mirror, cc string, cont country.Continent) bool {
	if slices.Contains(m.Rules.ExcludeCountries, cc) {
		return false
	}
	if m.Rules.CountryOnly && cc != m.Location.Country && !slices.Contains(m.Rules.ExtraCountries, cc) {
		return false
	}
	if m.Rules.ContinentOnly && string(cont) != m.Location.Continent {
		return false
	}
	return true
}

// Mirror returns the mirror in a slot.
func (t *Table) Mirror(slot int) (*Mirror, bool) {
	if slot < 0 || slot >= len(t.mirrors) || t.mirrors[slot].ID == 0 {
		return nil, false
	}
	return &t.mirrors[slot], true
}

// Slots is one past the highest slot in the table.
func (t *Table) Slots() int { return len(t.mirrors) }

// Netblocks returns the set of mirrors whose netblocks contain addr.
func (t *Table) Netblocks(addr netip.Addr) *Set {
	if i, ok := t.netblocks.Lookup(addr.Unmap()); ok {
		return &t.netSets[i]
	}
	return &t.empty
}

func unitVector(lat, lon float64) [3]float64 {
	la, lo := lat*math.Pi/180, lon*math.Pi/180
	return [3]float64{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
}

// earthRadiusKm turns the angle between two unit vectors into kilometres.
const earthRadiusKm = 6371.0

func distanceKm(a, b [3]float64) float64 {
	dot := a[0]*b[0] + a[1]*b[1] + a[2]*b[2]
	return earthRadiusKm * math.Acos(max(-1, min(1, dot)))
}
