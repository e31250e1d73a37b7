package geo

import (
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"
)

// record is decoded from every .mmdb file, whatever its layout: the reflection
// decoder fills only the keys present in the record and skips the rest, so one
// struct serves MaxMind City/Country (nested), DB-IP Lite (flat) and ASN
// databases alike.
type record struct {
	// MaxMind GeoLite2/GeoIP2 layout.
	Country           isoCode `maxminddb:"country"`
	RegisteredCountry isoCode `maxminddb:"registered_country"`
	Location          struct {
		Latitude  coord `maxminddb:"latitude"`
		Longitude coord `maxminddb:"longitude"`
	} `maxminddb:"location"`

	// DB-IP Lite layout as shipped by @ip-location-db.
	CountryCode string `maxminddb:"country_code"`
	Latitude    coord  `maxminddb:"latitude"`
	Longitude   coord  `maxminddb:"longitude"`

	// GeoLite2-ASN and ip-location-db ASN databases.
	ASN uint32 `maxminddb:"autonomous_system_number"`
}

type isoCode struct {
	ISOCode string `maxminddb:"iso_code"`
}

// countryCode prefers the country where the address is used over the one
// where the block is registered, as MaxMind recommends; anycast and satellite
// blocks often carry only the latter.
func (r *record) countryCode() string {
	switch {
	case r.Country.ISOCode != "":
		return r.Country.ISOCode
	case r.CountryCode != "":
		return r.CountryCode
	default:
		return r.RegisteredCountry.ISOCode
	}
}

func (r *record) coords() (lat, lon float64, ok bool) {
	if r.Location.Latitude.ok && r.Location.Longitude.ok {
		return r.Location.Latitude.v, r.Location.Longitude.v, true
	}
	if r.Latitude.ok && r.Longitude.ok {
		return r.Latitude.v, r.Longitude.v, true
	}
	return 0, 0, false
}

// coord records whether the key was present at all: (0,0) is a real point in
// the Gulf of Guinea, and a *float64 would cost an allocation per lookup.
type coord struct {
	v  float64
	ok bool
}

// UnmarshalMaxMindDBCursor implements mmdbdata.CursorUnmarshaler. ReadFloat
// accepts both float and double, which databases use interchangeably for
// coordinates.
func (c *coord) UnmarshalMaxMindDBCursor(cur mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	v, next, err := cur.ReadFloat()
	if err != nil {
		return next, mmdbdata.NormalizeUnmarshalError[float64](err)
	}
	c.v, c.ok = v, true
	return next, nil
}

// probeAddrs spread over both address families and the usual test ranges.
func probeAddrs() [7]netip.Addr {
	return [...]netip.Addr{
		netip.AddrFrom4([4]byte{1, 1, 1, 1}),
		netip.AddrFrom4([4]byte{8, 8, 8, 8}),
		netip.AddrFrom4([4]byte{192, 0, 2, 1}),
		netip.AddrFrom4([4]byte{203, 0, 113, 1}),
		netip.MustParseAddr("2001:db8::1"),
		netip.MustParseAddr("2606:4700::1111"),
		netip.MustParseAddr("2a00:1450::1"),
	}
}

// mmdbFile is one database held in memory.
type mmdbFile struct {
	path   string
	db     *maxminddb.Reader
	v4only bool
	// pool recycles decode targets: Decode takes an interface, so a record on
	// the stack would escape and cost one allocation per lookup.
	pool sync.Pool
}

// openMMDB reads the whole file into memory instead of letting maxminddb mmap
// it. With mmap, an operator who overwrites the file in place (cp instead of
// rename) would crash the process with SIGBUS, and a replaced Resolver could
// not be unmapped while lookups may still be running on it. A heap copy is
// simply garbage collected once the last lookup is done.
func openMMDB(path string) (*mmdbFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	db, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// Reader.Verify is deliberately not used: it is stricter than the
	// format specification (it rejects, for instance, databases without a
	// description, which third-party builders may omit) and walks the whole
	// file. OpenBytes already rejects truncated and garbage files, because
	// the metadata lives at the very end; probing a few addresses catches a
	// tree or data section that is broken in a way the metadata cannot show.
	if v := db.Metadata.IPVersion; v != 4 && v != 6 {
		return nil, fmt.Errorf("open %s: unsupported ip_version %d", path, v)
	}
	for _, a := range probeAddrs() {
		if a.Is6() && db.Metadata.IPVersion == 4 {
			continue
		}
		var rec record
		if err := db.Lookup(a).Decode(&rec); err != nil {
			return nil, fmt.Errorf("probe %s in %s: %w", a, path, err)
		}
	}
	f := &mmdbFile{path: path, db: db, v4only: db.Metadata.IPVersion == 4}
	f.pool.New = func() any { return new(record) }
	return f, nil
}

// lookup returns the decoded record for addr, or false if this file does not
// cover addr. The record is a copy, so the pool entry can be returned at once.
func (f *mmdbFile) lookup(addr netip.Addr) (record, bool) {
	if f.v4only && !addr.Is4() {
		// Asking an IPv4-only tree for an IPv6 address is an error in
		// maxminddb, and building that error allocates.
		return record{}, false
	}
	res := f.db.Lookup(addr)
	if !res.Found() {
		return record{}, false
	}
	rec := f.pool.Get().(*record)
	*rec = record{}
	err := res.Decode(rec)
	out := *rec
	f.pool.Put(rec)
	if err != nil {
		// The file opened and passed the probes, so this is a type
		// mismatch in one record (e.g. a string where a number belongs);
		// treat the address as not covered rather than failing a request.
		return record{}, false
	}
	return out, true
}

func (f *mmdbFile) lookupASN(addr netip.Addr) (uint32, bool) {
	rec, ok := f.lookup(addr)
	if !ok || rec.ASN == 0 {
		return 0, false
	}
	return rec.ASN, true
}
