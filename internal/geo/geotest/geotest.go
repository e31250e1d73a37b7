// Package geotest builds small geo databases for tests: MaxMind- and
// DB-IP-layout .mmdb files over the documentation and loopback ranges, so
// tests need no downloaded data.
package geotest

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entries maps a CIDR to the record stored for it.
type Entries map[string]mmdbtype.Map

// WriteMMDB builds a tiny database and writes it to dir/name. ipVersion 4
// builds an IPv4-only tree, 6 a dual tree.
func WriteMMDB(t testing.TB, dir, name string, ipVersion int, data Entries) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "mirrorkit-test",
		IncludeReservedNetworks: true,
		IPVersion:               ipVersion,
		RecordSize:              28,
	})
	if err != nil {
		t.Fatalf("mmdbwriter.New: %v", err)
	}
	for cidr, rec := range data {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatalf("bad test CIDR %q: %v", cidr, err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	path := filepath.Join(dir, name)
	// Write next to the target and rename, the way a careful operator (and
	// geoipupdate) replaces a live file.
	tmp, err := os.CreateTemp(dir, name+".tmp*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(tmp); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	return path
}

// WriteFileAtomic replaces path with data via a temporary file and rename.
func WriteFileAtomic(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// MaxMindCity is a record in the GeoLite2-City layout. The continent field is
// deliberately wrong: the package must ignore it.
func MaxMindCity(iso string, lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{
		"continent": mmdbtype.Map{"code": mmdbtype.String("AN")},
		"country": mmdbtype.Map{
			"iso_code": mmdbtype.String(iso),
			"names":    mmdbtype.Map{"en": mmdbtype.String("Somewhere")},
		},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US")},
		"location": mmdbtype.Map{
			"latitude":        mmdbtype.Float64(lat),
			"longitude":       mmdbtype.Float64(lon),
			"accuracy_radius": mmdbtype.Uint16(100),
		},
	}
}

// DBIPCity is a record in the flat ip-location-db DB-IP Lite layout.
// Longitude is stored as a 32-bit float to exercise both float kinds.
func DBIPCity(iso string, lat, lon float64) mmdbtype.Map {
	return mmdbtype.Map{
		"city":         mmdbtype.String("Somewhere"),
		"country_code": mmdbtype.String(iso),
		"continent":    mmdbtype.String("AN"),
		"latitude":     mmdbtype.Float64(lat),
		"longitude":    mmdbtype.Float32(float32(lon)),
		"timezone":     mmdbtype.String("Europe/Berlin"),
	}
}

func ASNRecord(asn uint32) mmdbtype.Map {
	return mmdbtype.Map{
		"autonomous_system_number":       mmdbtype.Uint32(asn),
		"autonomous_system_organization": mmdbtype.String("Example Org"),
	}
}
