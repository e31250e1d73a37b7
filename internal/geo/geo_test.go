package geo

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/mirrorkit/mirrorkit/internal/country"

	"github.com/mirrorkit/mirrorkit/internal/geo/geotest"
)

var (
	addrDE   = netip.MustParseAddr("192.0.2.10")
	addrFR   = netip.MustParseAddr("198.51.100.7")
	addrEU   = netip.MustParseAddr("203.0.113.200")
	addrJP   = netip.MustParseAddr("2001:db8::1")
	addrNone = netip.MustParseAddr("100.64.0.1")
	addrNo6  = netip.MustParseAddr("2001:db9::1")
)

func mustOpen(t testing.TB, cfg Config) *Resolver {
	t.Helper()
	r, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	return r
}

func TestLayoutsAgree(t *testing.T) {
	dir := t.TempDir()
	// Coordinates exactly representable as float32, so the DB-IP file's
	// 32-bit longitude must decode to the same value.
	mm := geotest.WriteMMDB(t, dir, "maxmind.mmdb", 6, geotest.Entries{
		"192.0.2.0/24":  geotest.MaxMindCity("DE", 52.5, 13.25),
		"2001:db8::/32": geotest.MaxMindCity("JP", 35.5, 139.75),
	})
	db := geotest.WriteMMDB(t, dir, "dbip.mmdb", 6, geotest.Entries{
		"192.0.2.0/24":  geotest.DBIPCity("DE", 52.5, 13.25),
		"2001:db8::/32": geotest.DBIPCity("JP", 35.5, 139.75),
	})
	want := map[netip.Addr]Info{
		addrDE: {Country: "DE", Continent: country.Europe, Lat: 52.5, Lon: 13.25, HasCoords: true, Known: true},
		addrJP: {Country: "JP", Continent: country.Asia, Lat: 35.5, Lon: 139.75, HasCoords: true, Known: true},
	}
	for _, path := range []string{mm, db} {
		r := mustOpen(t, Config{CityFiles: []string{path}})
		for addr, w := range want {
			if got := r.Lookup(addr); got != w {
				t.Errorf("%s: Lookup(%s) = %+v, want %+v", filepath.Base(path), addr, got, w)
			}
		}
		if got := r.Lookup(addrNone); got != (Info{}) {
			t.Errorf("%s: Lookup(%s) = %+v, want zero Info", filepath.Base(path), addrNone, got)
		}
	}
}

func TestRegisteredCountryFallbackAndMissingCoords(t *testing.T) {
	dir := t.TempDir()
	path := geotest.WriteMMDB(t, dir, "country.mmdb", 6, geotest.Entries{
		// A GeoLite2-Country style record: no location, no country, only
		// the registration country (typical for anycast blocks).
		"198.51.100.0/24": {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("FR")}},
		// Null Island is a real coordinate and must not be lost.
		"192.0.2.0/24": geotest.MaxMindCity("GH", 0, 0),
	})
	r := mustOpen(t, Config{CityFiles: []string{path}})
	if got, want := r.Lookup(addrFR), (Info{Country: "FR", Continent: country.Europe, Known: true}); got != want {
		t.Errorf("Lookup(%s) = %+v, want %+v", addrFR, got, want)
	}
	if got, want := r.Lookup(addrDE), (Info{Country: "GH", Continent: country.Africa, HasCoords: true, Known: true}); got != want {
		t.Errorf("Lookup(%s) = %+v, want %+v", addrDE, got, want)
	}
}

func TestSeparateV4AndV6Files(t *testing.T) {
	dir := t.TempDir()
	v4 := geotest.WriteMMDB(t, dir, "dbip-city-ipv4.mmdb", 4, geotest.Entries{
		"192.0.2.0/24":    geotest.DBIPCity("DE", 52.5, 13.25),
		"198.51.100.0/24": geotest.DBIPCity("FR", 48.75, 2.25),
	})
	v6 := geotest.WriteMMDB(t, dir, "dbip-city-ipv6.mmdb", 6, geotest.Entries{
		"2001:db8::/32": geotest.DBIPCity("JP", 35.5, 139.75),
	})
	// Both orders must work: the IPv4-only file must be skipped for IPv6
	// addresses rather than answering with an error.
	for _, files := range [][]string{{v4, v6}, {v6, v4}} {
		r := mustOpen(t, Config{CityFiles: files})
		for addr, code := range map[netip.Addr]string{addrDE: "DE", addrFR: "FR", addrJP: "JP"} {
			if got := r.Lookup(addr); !got.Known || got.Country != code {
				t.Errorf("files %v: Lookup(%s) = %+v, want country %s", files, addr, got, code)
			}
		}
		for _, addr := range []netip.Addr{addrNone, addrNo6, addrEU} {
			if got := r.Lookup(addr); got.Known {
				t.Errorf("files %v: Lookup(%s) = %+v, want Known=false", files, addr, got)
			}
		}
	}
}

func TestNonISOCodesAreUnknown(t *testing.T) {
	dir := t.TempDir()
	path := geotest.WriteMMDB(t, dir, "odd.mmdb", 6, geotest.Entries{
		"203.0.113.0/24":  geotest.MaxMindCity("EU", 50, 10),
		"198.51.100.0/24": geotest.DBIPCity("A1", 1, 2),
		"192.0.2.0/24":    geotest.DBIPCity("de", 52.5, 13.25), // lower case is not canonical data
		"2001:db8::/32":   geotest.DBIPCity("ZZ", 1, 2),
	})
	r := mustOpen(t, Config{CityFiles: []string{path}})
	for _, addr := range []netip.Addr{addrEU, addrFR, addrDE, addrJP} {
		got := r.Lookup(addr)
		if got.Known || got.Country != "" || got.Continent != "" {
			t.Errorf("Lookup(%s) = %+v, want unknown country", addr, got)
		}
		// The coordinates are still the database's best guess and are
		// worth keeping for distance-based selection.
		if !got.HasCoords {
			t.Errorf("Lookup(%s) lost the coordinates: %+v", addr, got)
		}
	}
}

func TestUnmap(t *testing.T) {
	dir := t.TempDir()
	// An IPv4-only file: without unmapping, a mapped address is IPv6 and
	// would never reach it.
	v4 := geotest.WriteMMDB(t, dir, "v4.mmdb", 4, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 52.5, 13.25)})
	csvPath := filepath.Join(dir, "asn.csv")
	if err := os.WriteFile(csvPath, []byte("192.0.2.0,192.0.2.255,64500,Example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustOpen(t, Config{CityFiles: []string{v4}, ASNFiles: []string{csvPath}})
	mapped := netip.MustParseAddr("::ffff:192.0.2.10")
	got, want := r.Lookup(mapped), r.Lookup(addrDE)
	if !want.Known || want.ASN != 64500 {
		t.Fatalf("Lookup(%s) = %+v, want DE with AS64500", addrDE, want)
	}
	if got != want {
		t.Errorf("Lookup(%s) = %+v, want %+v", mapped, got, want)
	}
}

func TestEmptyResolver(t *testing.T) {
	var nilR *Resolver
	for _, r := range []*Resolver{nilR, mustOpen(t, Config{})} {
		for _, addr := range []netip.Addr{addrDE, addrJP, {}} {
			if got := r.Lookup(addr); got != (Info{}) {
				t.Errorf("Lookup(%s) on empty resolver = %+v", addr, got)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	good := geotest.WriteMMDB(t, dir, "good.mmdb", 6, geotest.Entries{"192.0.2.0/24": geotest.DBIPCity("DE", 1, 2)})
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.mmdb")
	if err := os.WriteFile(truncated, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.mmdb")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, cfg := range map[string]Config{
		"missing":     {CityFiles: []string{filepath.Join(dir, "nope.mmdb")}},
		"truncated":   {CityFiles: []string{good, truncated}},
		"garbage":     {CityFiles: []string{garbage}},
		"garbage asn": {ASNFiles: []string{garbage}},
		"bad ext":     {ASNFiles: []string{filepath.Join(dir, "asn.txt")}},
	} {
		r, err := Open(context.Background(), cfg)
		if err == nil {
			t.Errorf("%s: Open succeeded, want error", name)
			continue
		}
		if r != nil {
			t.Errorf("%s: Open returned a resolver alongside error %v", name, err)
		}
		if name == "missing" && !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: error %v does not wrap fs.ErrNotExist", name, err)
		}
	}
}

func TestBadRecordTypes(t *testing.T) {
	dir := t.TempDir()
	bad := mmdbtype.Map{"country_code": mmdbtype.Uint32(42), "latitude": mmdbtype.String("north")}
	// Covered by a load-time probe (192.0.2.1): the file is rejected.
	probed := geotest.WriteMMDB(t, dir, "probed.mmdb", 6, geotest.Entries{"192.0.2.0/24": bad})
	if _, err := Open(context.Background(), Config{CityFiles: []string{probed}}); err == nil {
		t.Error("Open accepted a file whose probed record has the wrong types")
	}
	// Not covered by a probe: the file loads, the bad record reads as
	// unknown and the next file gets its turn.
	unprobed := geotest.WriteMMDB(t, dir, "unprobed.mmdb", 6, geotest.Entries{"198.51.100.0/24": bad})
	fallback := geotest.WriteMMDB(t, dir, "fallback.mmdb", 6, geotest.Entries{"198.51.100.0/24": geotest.DBIPCity("FR", 48.75, 2.25)})
	r := mustOpen(t, Config{CityFiles: []string{unprobed, fallback}})
	if got := r.Lookup(addrFR); got.Country != "FR" {
		t.Errorf("Lookup(%s) = %+v, want FR from the fallback file", addrFR, got)
	}
}

func TestLookupAllocations(t *testing.T) {
	r := benchResolver(t)
	for _, addr := range []netip.Addr{addrDE, addrJP, addrNone, netip.MustParseAddr("::ffff:192.0.2.10")} {
		if got := r.Lookup(addr); addr != addrNone && !got.Known {
			t.Fatalf("Lookup(%s) = %+v, want known", addr, got)
		}
		allocs := testing.AllocsPerRun(1000, func() { r.Lookup(addr) })
		if allocs != 0 {
			t.Errorf("Lookup(%s): %v allocations per run, want 0", addr, allocs)
		}
	}
}

// benchResolver has a DB-IP style city file and a CSV ASN file, the
// configuration the redirector is expected to run with.
func benchResolver(tb testing.TB) *Resolver {
	tb.Helper()
	dir := tb.TempDir()
	city := geotest.WriteMMDB(tb, dir, "city.mmdb", 6, geotest.Entries{
		"192.0.2.0/24":    geotest.DBIPCity("DE", 52.5, 13.25),
		"198.51.100.0/24": geotest.MaxMindCity("FR", 48.75, 2.25),
		"2001:db8::/32":   geotest.DBIPCity("JP", 35.5, 139.75),
	})
	csvPath := filepath.Join(dir, "asn.csv")
	csv := "192.0.2.0,192.0.2.255,64500,\"Example, Inc.\"\n2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64501,V6 Org\n"
	if err := os.WriteFile(csvPath, []byte(csv), 0o644); err != nil {
		tb.Fatal(err)
	}
	return mustOpen(tb, Config{CityFiles: []string{city}, ASNFiles: []string{csvPath}})
}

// BenchmarkLookupCity measures a full Resolver.Lookup: city decode plus the
// ASN CSV fallback (the city file has no ASN field).
func BenchmarkLookupCity(b *testing.B) {
	r := benchResolver(b)
	for _, bc := range []struct {
		name string
		addr netip.Addr
	}{
		{"dbip-v4", addrDE},
		{"maxmind-v4", addrFR},
		{"dbip-v6", addrJP},
		{"mapped-v4", netip.MustParseAddr("::ffff:192.0.2.10")},
		{"miss", addrNone},
	} {
		b.Run(bc.name, func(b *testing.B) {
			want := bc.addr != addrNone
			b.ReportAllocs()
			for b.Loop() {
				if r.Lookup(bc.addr).Known != want {
					b.Fatal("unexpected lookup result")
				}
			}
		})
	}
}
