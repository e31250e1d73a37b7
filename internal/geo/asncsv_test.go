package geo

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/geo/geotest"
)

// testASNCSV mimics @ip-location-db/asn: no header, quoted organisations
// with commas, IPv4 and IPv6 ranges, and ranges that are not single CIDRs.
const testASNCSV = `192.0.2.0,192.0.2.255,64500,"Example, Inc."
198.51.100.3,198.51.100.130,64501,Odd Range Ltd
203.0.113.0,203.0.113.0,64502,Single Host
2001:db8::,2001:db8:0:ffff:ffff:ffff:ffff:ffff,64503,"V6 ""Quoted"" Org"
2001:db8:1::5,2001:db8:1::1:4,64504,Odd V6
`

func TestParseASNCSV(t *testing.T) {
	ranges, err := ParseASNCSV(strings.NewReader(testASNCSV))
	if err != nil {
		t.Fatalf("ParseASNCSV: %v", err)
	}
	if len(ranges) != 5 {
		t.Fatalf("got %d ranges, want 5: %v", len(ranges), ranges)
	}
	want := ASNRange{Start: netip.MustParseAddr("198.51.100.3"), End: netip.MustParseAddr("198.51.100.130"), ASN: 64501}
	if ranges[1] != want {
		t.Errorf("ranges[1] = %+v, want %+v", ranges[1], want)
	}
}

func TestParseASNCSVRejects(t *testing.T) {
	for name, in := range map[string]string{
		"three fields":  "192.0.2.0,192.0.2.255,64500\n",
		"five fields":   "192.0.2.0,192.0.2.255,64500,Org,extra\n",
		"bad start":     "192.0.2,192.0.2.255,64500,Org\n",
		"bad end":       "192.0.2.0,banana,64500,Org\n",
		"mixed family":  "192.0.2.0,2001:db8::,64500,Org\n",
		"reversed":      "192.0.2.255,192.0.2.0,64500,Org\n",
		"asn too big":   "192.0.2.0,192.0.2.255,4294967296,Org\n",
		"negative asn":  "192.0.2.0,192.0.2.255,-1,Org\n",
		"zone":          "fe80::1%eth0,fe80::2,64500,Org\n",
		"header":        "start_ip,end_ip,asn,organisation\n",
		"bad quote":     "192.0.2.0,192.0.2.255,64500,\"Org\n",
		"bad 2nd line":  "192.0.2.0,192.0.2.255,64500,Org\n192.0.2.0,x,1,Org\n",
		"numeric ips":   "3221225984,3221226239,64500,Org\n",
		"empty asn":     "192.0.2.0,192.0.2.255,,Org\n",
		"mapped/native": "::ffff:192.0.2.0,2001:db8::,64500,Org\n",
	} {
		if _, err := ParseASNCSV(strings.NewReader(in)); err == nil {
			t.Errorf("%s: ParseASNCSV(%q) succeeded, want error", name, in)
		}
	}
}

func TestASNTableEdges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "asn.csv")
	if err := os.WriteFile(path, []byte(testASNCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	tbl, err := LoadASNCSV(path)
	if err != nil {
		t.Fatalf("LoadASNCSV: %v", err)
	}
	for _, tc := range []struct {
		addr string
		asn  uint32 // 0: not found
	}{
		{"192.0.1.255", 0},
		{"192.0.2.0", 64500},
		{"192.0.2.255", 64500},
		{"192.0.3.0", 0},
		// 198.51.100.3-130 splits into /32,/31,/30,/27,/26,/31,/32.
		{"198.51.100.2", 0},
		{"198.51.100.3", 64501},
		{"198.51.100.4", 64501},
		{"198.51.100.64", 64501},
		{"198.51.100.127", 64501},
		{"198.51.100.128", 64501},
		{"198.51.100.130", 64501},
		{"198.51.100.131", 0},
		{"::ffff:198.51.100.130", 64501},
		{"203.0.112.255", 0},
		{"203.0.113.0", 64502},
		{"203.0.113.1", 0},
		{"2001:db8::", 64503},
		{"2001:db8:0:ffff:ffff:ffff:ffff:ffff", 64503},
		{"2001:db8:1::", 0},
		{"2001:db8:1::4", 0},
		{"2001:db8:1::5", 64504},
		{"2001:db8:1::ffff", 64504},
		{"2001:db8:1::1:4", 64504},
		{"2001:db8:1::1:5", 0},
	} {
		addr := netip.MustParseAddr(tc.addr)
		asn, ok := tbl.Lookup(addr)
		if ok != (tc.asn != 0) || asn != tc.asn {
			t.Errorf("Lookup(%s) = %d, %v; want %d", addr, asn, ok, tc.asn)
		}
	}

	// The same numbers through a Resolver, mixed with an .mmdb ASN source
	// listed after the CSV: the CSV wins where it has data, the mmdb fills
	// the gaps.
	mmdbPath := geotest.WriteMMDB(t, dir, "asn.mmdb", 6, geotest.Entries{
		"192.0.2.0/24":    geotest.ASNRecord(65000),
		"198.51.100.0/24": geotest.ASNRecord(65001),
		"2001:db8::/32":   geotest.ASNRecord(65002),
	})
	r := mustOpen(t, Config{ASNFiles: []string{path, mmdbPath}})
	for addr, want := range map[string]Info{
		"192.0.2.1":       {ASN: 64500},
		"198.51.100.1":    {ASN: 65001},
		"198.51.100.3":    {ASN: 64501},
		"2001:db8:1::4":   {ASN: 65002},
		"203.0.113.1":     {},
		"2001:db8:1::1:4": {ASN: 64504},
	} {
		if got := r.Lookup(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Resolver.Lookup(%s) = %+v, want %+v", addr, got, want)
		}
	}
}

func BenchmarkLookupASNCSV(b *testing.B) {
	tbl, err := ParseASNCSV(strings.NewReader(testASNCSV))
	if err != nil {
		b.Fatal(err)
	}
	t := NewASNTable(tbl)
	addrs := []netip.Addr{
		netip.MustParseAddr("198.51.100.100"),
		netip.MustParseAddr("2001:db8:1::1:4"),
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, ok := t.Lookup(addrs[i&1]); !ok {
			b.Fatal("lookup failed")
		}
		i++
	}
}

func FuzzParseASNCSV(f *testing.F) {
	f.Add([]byte(testASNCSV))
	f.Add([]byte("::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,1,all\n"))
	f.Add([]byte("0.0.0.0,255.255.255.255,4294967295,\"a,b\"\n"))
	f.Add([]byte("::ffff:1.2.3.4,1.2.3.5,1,x\n"))
	f.Add([]byte("1.2.3.4,1.2.3.4,1,x\r\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ranges, err := ParseASNCSV(bytes.NewReader(data))
		if err != nil {
			return
		}
		tbl := NewASNTable(ranges)
		for _, rg := range ranges {
			if !rg.Start.IsValid() || !rg.End.IsValid() {
				t.Fatalf("invalid address in accepted range %+v", rg)
			}
			if rg.Start.Is4() != rg.End.Is4() || rg.Start.Is4In6() || rg.End.Is4In6() {
				t.Fatalf("accepted range %+v mixes or maps families", rg)
			}
			if rg.Start.Zone() != "" || rg.End.Zone() != "" {
				t.Fatalf("accepted range %+v has a zone", rg)
			}
			if rg.End.Less(rg.Start) {
				t.Fatalf("accepted range %+v is reversed", rg)
			}
			// Both ends must be covered by some prefix (a later,
			// overlapping range may own it, so the number is not
			// checked).
			if _, ok := tbl.t.Lookup(rg.Start); !ok {
				t.Fatalf("start of %+v not in table", rg)
			}
			if _, ok := tbl.t.Lookup(rg.End); !ok {
				t.Fatalf("end of %+v not in table", rg)
			}
		}
	})
}
