package selection

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/mirrorkit/mirrorkit/internal/country"
)

// Class says why a mirror was preferred; lower is better.
type Class uint8

// The preference classes, best first.
const (
	ClassNetblock  Class = iota // the client is inside one of its netblocks
	ClassASN                    // same autonomous system
	ClassCountry                // same country, or one of its extra countries
	ClassContinent              // same continent
	ClassDistance               // everyone else, nearest first
)

var classNames = [...]string{"netblock", "asn", "country", "continent", "distance"}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Client is who asks, as geo data and the connection describe them.
type Client struct {
	Addr      netip.Addr
	Country   string
	Continent country.Continent
	Lat, Lon  float64
	HasCoords bool
	ASN       uint32
}

// Request is one decision's input.
type Request struct {
	// Holders is the file's row from the inventory: bit s set when the mirror
	// in slot s holds the current version.
	Holders []uint64
	// Outdated are mirrors holding the previous version that may serve it
	// too (the caller decided the policy allows it for this file now); they
	// compete with current holders on equal terms.
	Outdated []uint64
	Size     int64
	// HTTPS: the client asked over https, so only https mirrors qualify.
	HTTPS  bool
	Client Client
}

// Choice is one ranked mirror.
type Choice struct {
	Slot  int
	Class Class
	// DistanceKm from the client; -1 when either side has no coordinates.
	DistanceKm float64
}

// Current reports whether the mirror in slot holds the current version (as
// opposed to being an allowed outdated holder).
func (r *Request) Current(slot int) bool { return hasBit(r.Holders, slot) }

func hasBit(set []uint64, slot int) bool {
	w := slot >> 6
	return w < len(set) && set[w]&(1<<(uint(slot)&63)) != 0
}

// largeFile is the size from which a mirror must be large-file capable.
const largeFile = 2 << 30

// candidates computes the mirrors that may serve this request, into out.
func (t *Table) candidates(req *Request, nb *Set, out *Set) {
	c := &req.Client
	v6 := c.Addr.IsValid() && c.Addr.Unmap().Is6()
	asn := t.byASN[c.ASN]
	if c.ASN == 0 {
		asn = nil
	}
	geo := t.geoAllowed[c.Country]
	for w := 0; w < t.words; w++ {
		var held uint64
		if w < len(req.Holders) {
			held = req.Holders[w]
		}
		if w < len(req.Outdated) {
			held |= req.Outdated[w]
		}
		x := held & t.usable[w]
		if req.HTTPS {
			x &= t.https[w]
		} else {
			x &= t.http[w] | t.https[w]
		}
		if v6 {
			x &= t.v6[w]
		} else {
			x &= t.v4[w]
		}
		if req.Size >= largeFile {
			x &= t.large[w]
		}
		var inASN, geoOK uint64
		if asn != nil {
			inASN = asn[w]
		}
		if geo != nil {
			geoOK = geo[w]
		}
		x &= ^t.geoRuled[w] | geoOK
		x &= ^t.asnOnly[w] | inASN
		x &= t.public[w] | nb[w] | inASN
		out[w] = x
	}
	// Per-mirror size limits are rare: check only the mirrors that have one.
	if req.Size > 0 {
		for w := 0; w < t.words; w++ {
			for x := out[w]; x != 0; x &= x - 1 {
				s := w*64 + bits.TrailingZeros64(x)
				if max := t.mirrors[s].MaxFileSize; max > 0 && req.Size > max {
					out[w] &^= 1 << (uint(s) & 63)
				}
			}
		}
	}
}

// classSets fills the candidate subset of each class before distance.
func (t *Table) classSet(cl Class, req *Request, nb, cand *Set, out *Set) bool {
	var ref *Set
	switch cl {
	case ClassNetblock:
		ref = nb
	case ClassASN:
		if req.Client.ASN != 0 {
			ref = t.byASN[req.Client.ASN]
		}
	case ClassCountry:
		ref = t.byCountry[req.Client.Country]
	case ClassContinent:
		ref = t.byContinent[req.Client.Continent]
	}
	any := uint64(0)
	for w := 0; w < t.words; w++ {
		var r uint64
		if ref != nil {
			r = ref[w]
		}
		out[w] = cand[w] & r
		any |= out[w]
	}
	return any != 0
}

// Pick chooses the mirror for one request: the best class that has any
// candidate, and within it a weighted random draw. ok is false when no
// mirror qualifies (the caller falls back to the origin).
func (t *Table) Pick(req *Request, rnd *rand.Rand) (Choice, bool) {
	var cand Set
	nb := t.Netblocks(req.Client.Addr)
	t.candidates(req, nb, &cand)
	return t.pickFrom(req, rnd, nb, &cand)
}

// PickTop is Pick followed by Top(k) of the rest, sharing one candidate
// computation: what a redirect with Link headers needs.
func (t *Table) PickTop(req *Request, rnd *rand.Rand, k int, out []Choice) (Choice, bool, []Choice) {
	var cand Set
	nb := t.Netblocks(req.Client.Addr)
	t.candidates(req, nb, &cand)
	c, ok := t.pickFrom(req, rnd, nb, &cand)
	if !ok {
		return c, false, out
	}
	cand[c.Slot>>6] &^= 1 << (uint(c.Slot) & 63)
	return c, true, t.topFrom(req, rnd, k, nb, &cand, out)
}

func (t *Table) pickFrom(req *Request, rnd *rand.Rand, nb, cand *Set) (Choice, bool) {
	var group Set
	for cl := ClassNetblock; cl < ClassDistance; cl++ {
		if t.classSet(cl, req, nb, cand, &group) {
			s := t.draw(&group, rnd)
			return Choice{Slot: s, Class: cl, DistanceKm: t.distance(req, s)}, true
		}
	}
	if !t.nearGroup(req, cand, &group) {
		return Choice{}, false
	}
	s := t.draw(&group, rnd)
	return Choice{Slot: s, Class: ClassDistance, DistanceKm: t.distance(req, s)}, true
}

// nearGroup is the distance class: the mirrors within a margin of the
// nearest one (200 km or a quarter of its distance, whichever is more), so
// mirrors in one region share the load. Without coordinates on either side,
// every candidate is in the group.
func (t *Table) nearGroup(req *Request, cand, out *Set) bool {
	var withVec Set
	any, anyVec := uint64(0), uint64(0)
	for w := 0; w < t.words; w++ {
		any |= cand[w]
		withVec[w] = cand[w] & t.hasVec[w]
		anyVec |= withVec[w]
	}
	if any == 0 {
		return false
	}
	if !req.Client.HasCoords || anyVec == 0 {
		*out = *cand
		return true
	}
	cv := unitVector(req.Client.Lat, req.Client.Lon)
	best := -2.0
	for w := 0; w < t.words; w++ {
		for x := withVec[w]; x != 0; x &= x - 1 {
			v := &t.vec[w*64+bits.TrailingZeros64(x)]
			best = max(best, cv[0]*v[0]+cv[1]*v[1]+cv[2]*v[2])
		}
	}
	// Compare in dot-product space: one acos and one cos per decision instead
	// of one per mirror.
	bestKm := earthRadiusKm * math.Acos(max(-1, min(1, best)))
	limit := math.Cos(min(math.Pi, (bestKm+max(200, bestKm/4))/earthRadiusKm))
	*out = Set{}
	for w := 0; w < t.words; w++ {
		for x := withVec[w]; x != 0; x &= x - 1 {
			s := w*64 + bits.TrailingZeros64(x)
			v := &t.vec[s]
			if cv[0]*v[0]+cv[1]*v[1]+cv[2]*v[2] >= limit {
				out[w] |= 1 << (uint(s) & 63)
			}
		}
	}
	return true
}

// draw picks one slot of a non-empty set, with probability proportional to
// its weight.
func (t *Table) draw(set *Set, rnd *rand.Rand) int {
	total := 0.0
	last := -1
	for w := 0; w < t.words; w++ {
		for x := set[w]; x != 0; x &= x - 1 {
			last = w*64 + bits.TrailingZeros64(x)
			total += t.weight[last]
		}
	}
	r := rnd.Float64() * total
	for w := 0; w < t.words; w++ {
		for x := set[w]; x != 0; x &= x - 1 {
			s := w*64 + bits.TrailingZeros64(x)
			if r -= t.weight[s]; r < 0 {
				return s
			}
		}
	}
	return last // rounding left r at 0: the last one
}

func (t *Table) distance(req *Request, slot int) float64 {
	if slot < 0 || !req.Client.HasCoords || !t.hasVec.Has(slot) {
		return -1
	}
	return distanceKm(unitVector(req.Client.Lat, req.Client.Lon), t.vec[slot])
}

// Rank orders every qualifying mirror as this client would be served them:
// classes best first; within the netblock, ASN, country and continent
// classes a weighted random order; then the rest by distance, mirrors without
// coordinates last. It appends to out and returns it.
func (t *Table) Rank(req *Request, rnd *rand.Rand, out []Choice) []Choice {
	return t.Top(req, rnd, MaxSlots, -1, out)
}

// Top is Rank cut to the first k mirrors, leaving out the slot skip (the one
// Pick already chose; -1 for none). It does the work of k mirrors, not of
// all of them: a redirect's Link headers need the next four of hundreds.
func (t *Table) Top(req *Request, rnd *rand.Rand, k, skip int, out []Choice) []Choice {
	var cand Set
	nb := t.Netblocks(req.Client.Addr)
	t.candidates(req, nb, &cand)
	if skip >= 0 && skip < MaxSlots {
		cand[skip>>6] &^= 1 << (uint(skip) & 63)
	}
	return t.topFrom(req, rnd, k, nb, &cand, out)
}

// topFrom ranks the first k of cand, which it consumes.
func (t *Table) topFrom(req *Request, rnd *rand.Rand, k int, nb, cand *Set, out []Choice) []Choice {
	var cv [3]float64
	if req.Client.HasCoords {
		cv = unitVector(req.Client.Lat, req.Client.Lon)
	}
	dist := func(s int) float64 {
		if !req.Client.HasCoords || !t.hasVec.Has(s) {
			return -1
		}
		return distanceKm(cv, t.vec[s])
	}
	n := 0
	for cl := ClassNetblock; cl < ClassDistance && n < k; cl++ {
		var group Set
		if !t.classSet(cl, req, nb, cand, &group) {
			continue
		}
		// Weighted random order (Efraimidis–Spirakis): the largest keys
		// u^(1/w), compared as ln(u)/w (same order, cheaper), kept in a small
		// sorted buffer of the k needed.
		best := newTopK(k - n)
		for w := 0; w < t.words; w++ {
			for x := group[w]; x != 0; x &= x - 1 {
				s := w*64 + bits.TrailingZeros64(x)
				best.offer(s, math.Log(rnd.Float64())/t.weight[s])
				cand[w] &^= 1 << (uint(s) & 63)
			}
		}
		for _, it := range best.items() {
			out = append(out, Choice{it.slot, cl, dist(it.slot)})
			n++
		}
	}
	if n < k {
		// Nearest first by dot product (larger is nearer); mirrors without
		// coordinates rank after all others, by slot.
		best := newTopK(k - n)
		for w := 0; w < t.words; w++ {
			for x := cand[w]; x != 0; x &= x - 1 {
				s := w*64 + bits.TrailingZeros64(x)
				key := -3.0 - float64(s)/MaxSlots
				if req.Client.HasCoords && t.hasVec.Has(s) {
					v := &t.vec[s]
					key = cv[0]*v[0] + cv[1]*v[1] + cv[2]*v[2]
				}
				best.offer(s, key)
			}
		}
		for _, it := range best.items() {
			out = append(out, Choice{it.slot, ClassDistance, dist(it.slot)})
		}
	}
	return out
}

// topK keeps the k items with the largest keys, in descending order. k is
// small on the hot path (Link headers), where the items stay in the struct's
// own array and nothing is allocated; Rank's k of every slot allocates.
type topK struct {
	k, n int
	buf  [16]item
	big  []item
}

type item struct {
	slot int
	key  float64
}

func newTopK(k int) topK {
	t := topK{k: k}
	if k > len(t.buf) {
		t.big = make([]item, k)
	}
	return t
}

func (t *topK) store() []item {
	if t.big != nil {
		return t.big
	}
	return t.buf[:]
}

func (t *topK) offer(slot int, key float64) {
	if t.k <= 0 {
		return
	}
	all := t.store()
	if t.n == t.k && key <= all[t.n-1].key {
		return
	}
	i := 0
	for i < t.n && all[i].key >= key {
		i++
	}
	if t.n < t.k {
		t.n++
	}
	copy(all[i+1:t.n], all[i:t.n-1])
	all[i] = item{slot, key}
}

func (t *topK) items() []item { return t.store()[:t.n] }
