package selection

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

func f(v float64) *float64 { return &v }

// mk returns a usable, public, dual-scheme IPv4 mirror at a place.
func mk(slot int, name, cc string, lat, lon float64) Mirror {
	m := registry.NewMirror(name, "site")
	m.ID = int64(slot + 1)
	m.URLs = registry.URLs{HTTP: "http://" + name + ".example.org/", HTTPS: "https://" + name + ".example.org/"}
	cont, _ := country.ContinentOf(cc)
	m.Location = registry.Location{Country: cc, Continent: string(cont), Latitude: f(lat), Longitude: f(lon)}
	return Mirror{Mirror: m, Slot: slot, State: State{Fresh: true}}
}

func table(t testing.TB, ms ...Mirror) *Table {
	t.Helper()
	tb, err := NewTable(ms)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func all(n int) []uint64 {
	h := make([]uint64, (n+63)/64)
	for s := 0; s < n; s++ {
		h[s>>6] |= 1 << (uint(s) & 63)
	}
	return h
}

func without(h []uint64, slots ...int) []uint64 {
	h = slices.Clone(h)
	for _, s := range slots {
		h[s>>6] &^= 1 << (uint(s) & 63)
	}
	return h
}

func client(addr, cc string, asn uint32, lat, lon float64) Client {
	cont, _ := country.ContinentOf(cc)
	return Client{Addr: netip.MustParseAddr(addr), Country: cc, Continent: cont, ASN: asn, Lat: lat, Lon: lon, HasCoords: true}
}

var rnd = rand.New(rand.NewPCG(1, 2))

func TestPreferenceOrder(t *testing.T) {
	net := mk(0, "net", "DE", 50.1, 8.7)
	net.Netblocks = []string{"192.0.2.0/24"}
	asn := mk(1, "asn", "DE", 52.5, 13.4)
	asn.ASNs = []uint32{64500}
	same := mk(2, "same-country", "DE", 48.1, 11.6)
	cont := mk(3, "same-continent", "FR", 48.9, 2.4)
	far := mk(4, "far", "US", 39.0, -77.5)
	tb := table(t, net, asn, same, cont, far)
	req := Request{Holders: all(5), Client: client("192.0.2.7", "DE", 64500, 50, 8)}
	for _, want := range []struct {
		slot  int
		class Class
	}{{0, ClassNetblock}, {1, ClassASN}, {2, ClassCountry}, {3, ClassContinent}, {4, ClassDistance}} {
		c, ok := tb.Pick(&req, rnd)
		if !ok || c.Slot != want.slot || c.Class != want.class {
			t.Fatalf("got %+v, want slot %d class %s", c, want.slot, want.class)
		}
		if c.DistanceKm < 0 {
			t.Fatalf("no distance for %+v", c)
		}
		req.Holders = without(req.Holders, want.slot)
	}
	if _, ok := tb.Pick(&req, rnd); ok {
		t.Fatal("picked a mirror that holds nothing")
	}
	rank := tb.Rank(&Request{Holders: all(5), Client: req.Client}, rnd, nil)
	var got []int
	for _, c := range rank {
		got = append(got, c.Slot)
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("rank %v", got)
	}
}

func TestExtraCountriesAndNestedNetblocks(t *testing.T) {
	a := mk(0, "a", "DE", 50, 8)
	a.Rules.ExtraCountries = []string{"AT"}
	b := mk(1, "b", "AT", 48.2, 16.4)
	b.Netblocks = []string{"198.51.100.0/24"}
	c := mk(2, "c", "AT", 47, 15)
	c.Netblocks = []string{"198.51.100.128/25"}
	tb := table(t, a, b, c)
	if s := tb.Netblocks(netip.MustParseAddr("198.51.100.200")); !s.Has(1) || !s.Has(2) || s.Count() != 2 {
		t.Fatalf("nested netblocks: %v", s.Count())
	}
	if s := tb.Netblocks(netip.MustParseAddr("::ffff:198.51.100.5")); !s.Has(1) || s.Has(2) {
		t.Fatal("IPv4-mapped client not matched to the /24 only")
	}
	// An Austrian client outside the netblocks: a (DE, extra AT) counts as
	// its country, like b and c.
	req := Request{Holders: all(3), Client: client("203.0.113.9", "AT", 0, 48, 16)}
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		c, _ := tb.Pick(&req, rnd)
		if c.Class != ClassCountry {
			t.Fatalf("class %s", c.Class)
		}
		seen[c.Slot] = true
	}
	if len(seen) != 3 {
		t.Fatalf("country class drew %v, want all three", seen)
	}
}

// Every filter: the mirror is never picked, and Explain names the reason.
func TestFiltersAndReasons(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Mirror, *Request)
		reason string
	}{
		{"disabled", func(m *Mirror, _ *Request) { m.Enabled = false }, "disabled"},
		{"stale", func(m *Mirror, _ *Request) { m.State.Fresh = false }, "stale"},
		{"stale by lag", func(m *Mirror, _ *Request) {
			m.State = State{Fresh: false, StaleReason: "trace 30h old, over tier 1's maximum lag of 26h"}
		}, "stale: trace 30h old, over tier 1's maximum lag of 26h"},
		{"down", func(m *Mirror, _ *Request) { m.State = State{Fresh: true, Probed: true, Up: false} }, "down"},
		{"https request to http-only", func(m *Mirror, r *Request) { m.URLs.HTTPS = ""; r.HTTPS = true }, "never sent to http"},
		{"ipv6 client", func(m *Mirror, r *Request) { r.Client.Addr = netip.MustParseAddr("2001:db8::7") }, "IPv6"},
		{"ipv4 client, v6-only mirror", func(m *Mirror, _ *Request) { m.IPv4, m.IPv6 = false, true }, "IPv4"},
		{"large file", func(m *Mirror, r *Request) { m.LargeFiles = false; r.Size = 3 << 30 }, "2 GiB"},
		{"max file size", func(m *Mirror, r *Request) { m.MaxFileSize = 1000; r.Size = 1001 }, "limit"},
		{"country only", func(m *Mirror, _ *Request) { m.Rules.CountryOnly = true }, "only clients in FR"},
		{"continent only", func(m *Mirror, r *Request) {
			m.Rules.ContinentOnly = true
			r.Client.Country, r.Client.Continent = "US", "NA"
		}, "continent EU"},
		{"excluded country", func(m *Mirror, _ *Request) { m.Rules.ExcludeCountries = []string{"DE"} }, "excludes clients from DE"},
		{"asn only", func(m *Mirror, _ *Request) { m.ASNs = []uint32{64999}; m.Rules.ASNOnly = true }, "its ASNs"},
		{"private", func(m *Mirror, _ *Request) { m.Public = false }, "private"},
		{"not held", func(m *Mirror, r *Request) { r.Holders = without(r.Holders, 0) }, "current version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := mk(0, "target", "FR", 48.9, 2.4)
			other := mk(1, "other", "JP", 35.7, 139.7)
			req := Request{Holders: all(2), Client: client("203.0.113.9", "DE", 64500, 50, 8)}
			c.mutate(&target, &req)
			tb := table(t, target, other)
			for i := 0; i < 50; i++ {
				if ch, ok := tb.Pick(&req, rnd); ok && ch.Slot == 0 {
					t.Fatalf("picked the excluded mirror (%+v)", ch)
				}
			}
			why := strings.Join(tb.Explain(&req, 0), "; ")
			if !strings.Contains(why, c.reason) {
				t.Fatalf("Explain = %q, want %q", why, c.reason)
			}
		})
	}
}

func TestRulesAdmit(t *testing.T) {
	priv := mk(0, "private", "DE", 50, 8)
	priv.Public = false
	priv.Netblocks, priv.ASNs = []string{"192.0.2.0/24"}, []uint32{64501}
	asnOnly := mk(1, "asn-only", "DE", 50, 8)
	asnOnly.ASNs, asnOnly.Rules.ASNOnly = []uint32{64500}, true
	tb := table(t, priv, asnOnly)
	for _, tc := range []struct {
		c    Client
		want []int
	}{
		{client("192.0.2.9", "DE", 0, 50, 8), []int{0}},         // inside the private mirror's netblock
		{client("203.0.113.1", "DE", 64501, 50, 8), []int{0}},   // the private mirror's ASN
		{client("203.0.113.1", "DE", 64500, 50, 8), []int{1}},   // the ASN-only mirror's ASN
		{client("203.0.113.1", "DE", 64999, 50, 8), nil},        // neither
		{Client{Addr: netip.MustParseAddr("203.0.113.1")}, nil}, // no geo data at all
	} {
		req := Request{Holders: all(2), Client: tc.c}
		var got []int
		for _, c := range tb.Rank(&req, rnd, nil) {
			got = append(got, c.Slot)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("client %+v: %v, want %v", tc.c, got, tc.want)
		}
	}
}

// A random registry and random requests: whatever Pick returns is a mirror
// Explain finds nothing against, and Rank holds exactly those mirrors.
func TestPickOnlyQualified(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	ccs := []string{"DE", "FR", "US", "JP", "BR", "NZ"}
	for round := 0; round < 200; round++ {
		var ms []Mirror
		for s := 0; s < 20; s++ {
			m := mk(s, fmt.Sprintf("m%d", s), ccs[r.IntN(len(ccs))], r.Float64()*140-70, r.Float64()*340-170)
			m.Enabled = r.IntN(10) > 0
			m.State.Fresh = r.IntN(10) > 0
			m.IPv6 = r.IntN(2) == 0
			m.Public = r.IntN(6) > 0
			m.Rules.CountryOnly = r.IntN(8) == 0
			if r.IntN(3) == 0 {
				m.URLs.HTTPS = ""
			}
			ms = append(ms, m)
		}
		tb := table(t, ms...)
		addr := "203.0.113.5"
		if r.IntN(2) == 0 {
			addr = "2001:db8::5"
		}
		req := Request{Holders: []uint64{r.Uint64() & (1<<20 - 1)}, Outdated: []uint64{r.Uint64() & r.Uint64() & (1<<20 - 1)}, HTTPS: r.IntN(2) == 0,
			Client: client(addr, ccs[r.IntN(len(ccs))], 0, r.Float64()*140-70, r.Float64()*340-170)}
		rank := tb.Rank(&req, rnd, nil)
		inRank := map[int]bool{}
		for _, c := range rank {
			inRank[c.Slot] = true
		}
		for s := 0; s < 20; s++ {
			if q := tb.Explain(&req, s) == nil; q != inRank[s] {
				t.Fatalf("round %d slot %d: qualified=%v but in rank=%v (%v)", round, s, q, inRank[s], tb.Explain(&req, s))
			}
		}
		if c, ok := tb.Pick(&req, rnd); ok != (len(rank) > 0) || ok && !inRank[c.Slot] {
			t.Fatalf("round %d: Pick %+v %v with rank %v", round, c, ok, rank)
		}
	}
}

func TestDistanceGroup(t *testing.T) {
	tb := table(t,
		mk(0, "us-east", "US", 39.0, -77.5),
		mk(1, "de", "DE", 50.1, 8.7),
		mk(2, "jp", "JP", 35.7, 139.7),
	)
	// A client in Brazil: no mirror in its country or continent; the nearest
	// is the US one, and the others are far beyond the margin.
	req := Request{Holders: all(3), Client: client("203.0.113.1", "BR", 0, -23.5, -46.6)}
	for i := 0; i < 100; i++ {
		c, _ := tb.Pick(&req, rnd)
		if c.Slot != 0 || c.Class != ClassDistance || math.Abs(c.DistanceKm-7650) > 300 {
			t.Fatalf("picked %+v", c)
		}
	}
	rank := tb.Rank(&req, rnd, nil)
	if len(rank) != 3 || rank[0].Slot != 0 || rank[1].Slot != 1 || rank[2].Slot != 2 {
		t.Fatalf("rank by distance %+v", rank)
	}
	// Without geo data the whole candidate set is one weighted group.
	req.Client = Client{Addr: netip.MustParseAddr("203.0.113.1")}
	seen := map[int]bool{}
	for i := 0; i < 300; i++ {
		c, ok := tb.Pick(&req, rnd)
		if !ok {
			t.Fatal("no pick without geo data")
		}
		seen[c.Slot] = true
	}
	if len(seen) != 3 {
		t.Fatalf("without geo data only %v were drawn", seen)
	}
}

// chiSquare tests observed counts against expected shares; 13.8 is the 99.9%
// quantile for 2 degrees of freedom (three mirrors).
func chiSquare(t *testing.T, counts []int, weights []float64) {
	t.Helper()
	total, wsum := 0, 0.0
	for i := range counts {
		total += counts[i]
		wsum += weights[i]
	}
	x2 := 0.0
	for i := range counts {
		exp := float64(total) * weights[i] / wsum
		x2 += (float64(counts[i]) - exp) * (float64(counts[i]) - exp) / exp
	}
	if x2 > 13.8 {
		t.Fatalf("counts %v against weights %v: chi-square %.1f > 13.8", counts, weights, x2)
	}
}

func TestWeightedFairness(t *testing.T) {
	// Three mirrors at the same spot: the anchor sends everything to the
	// lowest id; here they share by weight (bandwidth 1, 2, 3 Gbit/s).
	var ms []Mirror
	for s, mbps := range []int64{1000, 2000, 3000} {
		m := mk(s, fmt.Sprintf("m%d", s), "US", 39.0, -77.5)
		m.BandwidthMbps = mbps
		ms = append(ms, m)
	}
	tb := table(t, ms...)
	r := rand.New(rand.NewPCG(42, 42))
	for _, c := range []Client{
		client("203.0.113.1", "US", 0, 40, -75),  // country class
		client("203.0.113.1", "BR", 0, -23, -46), // distance class, equidistant
	} {
		counts := make([]int, 3)
		req := Request{Holders: all(3), Client: c}
		for i := 0; i < 30000; i++ {
			ch, _ := tb.Pick(&req, r)
			counts[ch.Slot]++
		}
		chiSquare(t, counts, []float64{1, 2, 3})
	}
	// Score weighs the same way.
	ms[0].BandwidthMbps, ms[1].BandwidthMbps, ms[2].BandwidthMbps = 0, 0, 0
	ms[0].Score, ms[1].Score, ms[2].Score = 100, 100, 300
	tb = table(t, ms...)
	counts := make([]int, 3)
	req := Request{Holders: all(3), Client: client("203.0.113.1", "US", 0, 40, -75)}
	for i := 0; i < 30000; i++ {
		ch, _ := tb.Pick(&req, r)
		counts[ch.Slot]++
	}
	chiSquare(t, counts, []float64{1, 1, 3})
}

func TestDeterministicWithSeed(t *testing.T) {
	tb := table(t, mk(0, "a", "US", 39, -77), mk(1, "b", "US", 40, -75), mk(2, "c", "US", 41, -74))
	req := Request{Holders: all(3), Client: client("203.0.113.1", "US", 0, 40, -75)}
	draw := func() []int {
		r := rand.New(rand.NewPCG(9, 9))
		var out []int
		for i := 0; i < 50; i++ {
			c, _ := tb.Pick(&req, r)
			out = append(out, c.Slot)
		}
		return out
	}
	if a, b := draw(), draw(); !slices.Equal(a, b) {
		t.Fatal("the same seed gave different picks")
	}
}

func TestNewTableRejects(t *testing.T) {
	if _, err := NewTable([]Mirror{mk(0, "a", "DE", 0, 0), mk(0, "b", "DE", 0, 0)}); err == nil {
		t.Fatal("two mirrors in one slot accepted")
	}
	if _, err := NewTable([]Mirror{mk(MaxSlots, "a", "DE", 0, 0)}); err == nil {
		t.Fatal("slot beyond MaxSlots accepted")
	}
}

// bigTable is the benchmark case: 300 mirrors holding the file,
// spread over 30 countries, with netblocks and ASNs.
func bigTable(b testing.TB) (*Table, []uint64) {
	ccs := []string{"DE", "FR", "US", "JP", "BR", "NZ", "AU", "GB", "NL", "SE", "CA", "MX", "IN", "CN", "ZA",
		"EG", "AR", "CL", "ES", "IT", "PL", "CZ", "RU", "KR", "TW", "SG", "ID", "KE", "NG", "FI"}
	r := rand.New(rand.NewPCG(3, 3))
	var ms []Mirror
	for s := 0; s < 300; s++ {
		m := mk(s, fmt.Sprintf("m%03d", s), ccs[s%len(ccs)], r.Float64()*140-70, r.Float64()*340-170)
		m.ASNs = []uint32{uint32(64512 + s)}
		m.Netblocks = []string{fmt.Sprintf("10.%d.%d.0/24", s/256, s%256)}
		m.BandwidthMbps = int64(1000 * (1 + s%10))
		ms = append(ms, m)
	}
	return table(b, ms...), all(300)
}

func TestPickAllocatesNothing(t *testing.T) {
	tb, holders := bigTable(t)
	req := Request{Holders: holders, Client: client("203.0.113.1", "UY", 0, -34.9, -56.2)}
	if n := testing.AllocsPerRun(1000, func() { tb.Pick(&req, rnd) }); n != 0 {
		t.Fatalf("Pick allocates %v times", n)
	}
}

// BenchmarkPick300 is one decision among 300 candidate mirrors, for a client
// in a country with mirrors (the common case) and for one in a country
// without (the distance class, the most work).
func BenchmarkPick300(b *testing.B) {
	tb, holders := bigTable(b)
	for _, bc := range []struct {
		name string
		c    Client
	}{
		{"country", client("203.0.113.1", "DE", 0, 50, 8)},
		{"distance", client("203.0.113.1", "UY", 0, -34.9, -56.2)},
		{"netblock", client("10.0.7.9", "DE", 0, 50, 8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := Request{Holders: holders, Client: bc.c}
			r := rand.New(rand.NewPCG(1, 1))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := tb.Pick(&req, r); !ok {
					b.Fatal("no pick")
				}
			}
		})
	}
}

func TestPickTop(t *testing.T) {
	tb, holders := bigTable(t)
	req := Request{Holders: holders, Client: client("203.0.113.1", "DE", 0, 50, 8)}
	for i := 0; i < 100; i++ {
		c, ok, next := tb.PickTop(&req, rnd, 4, nil)
		if !ok || len(next) != 4 {
			t.Fatalf("PickTop: %v %d", ok, len(next))
		}
		seen := map[int]bool{c.Slot: true}
		for _, n := range next {
			if seen[n.Slot] {
				t.Fatalf("slot %d twice in %+v / %+v", n.Slot, c, next)
			}
			seen[n.Slot] = true
		}
		// The German client's picks come from its country first.
		if c.Class != ClassCountry || next[0].Class != ClassCountry {
			t.Fatalf("classes %s %s", c.Class, next[0].Class)
		}
	}
}

func TestOutdatedHoldersCompete(t *testing.T) {
	tb := table(t, mk(0, "berlin", "DE", 52.5, 13.4), mk(1, "tokyo", "JP", 35.7, 139.7))
	c := client("203.0.113.9", "DE", 0, 50.1, 8.7)
	current := []uint64{1 << 1} // only Tokyo has the new version
	req := Request{Holders: current, Client: c}
	if ch, ok := tb.Pick(&req, rnd); !ok || ch.Slot != 1 {
		t.Fatalf("without outdated holders: %+v %v", ch, ok)
	}
	if why := tb.Explain(&req, 0); len(why) != 1 || !strings.Contains(why[0], "current version") {
		t.Fatalf("Berlin's exclusion: %v", why)
	}
	// Berlin, one version behind, is allowed: it wins on proximity.
	req.Outdated = []uint64{1 << 0}
	ch, ok := tb.Pick(&req, rnd)
	if !ok || ch.Slot != 0 || ch.Class != ClassCountry {
		t.Fatalf("with Berlin allowed outdated: %+v %v", ch, ok)
	}
	if req.Current(0) || !req.Current(1) || req.Current(64) {
		t.Fatal("Current tells current holders from outdated ones")
	}
	if why := tb.Explain(&req, 0); why != nil {
		t.Fatalf("an allowed outdated mirror is explained away: %v", why)
	}
	// Outdated holders still pass every other rule.
	tb.mirrors[0].Enabled = false
	tb = table(t, tb.mirrors[0], mk(1, "tokyo", "JP", 35.7, 139.7))
	if ch, ok := tb.Pick(&req, rnd); !ok || ch.Slot != 1 {
		t.Fatalf("a disabled outdated mirror was picked: %+v", ch)
	}
}
