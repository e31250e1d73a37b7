package geo

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/mirrorkit/mirrorkit/internal/country"
)

// Info is what the redirector learns about a client address. The zero value
// means "nothing known".
type Info struct {
	Country   string // ISO 3166-1 alpha-2, empty when unknown
	Continent country.Continent
	Lat, Lon  float64
	HasCoords bool   // Lat/Lon are meaningful; (0,0) alone is not proof of absence
	ASN       uint32 // 0 when unknown
	Known     bool   // Country was found and is a real ISO country
}

// Config lists the data files. Order matters: for each address the files are
// tried in order and the first one that has the address answers, which lets
// DB-IP's separate IPv4 and IPv6 files sit side by side and lets a local
// override file be listed first.
type Config struct {
	// CityFiles are .mmdb files carrying countries (and possibly
	// coordinates): GeoLite2-City, GeoLite2-Country, DB-IP Lite City/Country.
	CityFiles []string
	// ASNFiles are .mmdb ASN databases or .csv range files; the format is
	// chosen by the file extension.
	ASNFiles []string
}

// Empty reports whether no file is configured at all.
func (c Config) Empty() bool { return len(c.CityFiles) == 0 && len(c.ASNFiles) == 0 }

func (c Config) files() []string {
	out := make([]string, 0, len(c.CityFiles)+len(c.ASNFiles))
	out = append(out, c.CityFiles...)
	return append(out, c.ASNFiles...)
}

// asnSource is either an .mmdb ASN database or a CSV-derived prefix table.
type asnSource interface {
	lookupASN(addr netip.Addr) (uint32, bool)
}

// Resolver answers lookups from one immutable snapshot of the data files. It
// is safe for concurrent use. A nil *Resolver answers every lookup with the
// zero Info.
type Resolver struct {
	city []*mmdbFile
	asn  []asnSource
}

// Open loads every file in cfg into memory. Any unreadable or malformed file
// fails the whole load, because a silently missing file would quietly degrade
// mirror selection for part of the address space. Loading large files takes
// seconds; ctx is checked between files.
func Open(ctx context.Context, cfg Config) (*Resolver, error) {
	r := &Resolver{}
	for _, path := range cfg.CityFiles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("geo: loading %s: %w", path, err)
		}
		f, err := openMMDB(path)
		if err != nil {
			return nil, fmt.Errorf("geo: city file: %w", err)
		}
		r.city = append(r.city, f)
	}
	for _, path := range cfg.ASNFiles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("geo: loading %s: %w", path, err)
		}
		src, err := openASN(path)
		if err != nil {
			return nil, fmt.Errorf("geo: ASN file: %w", err)
		}
		r.asn = append(r.asn, src)
	}
	return r, nil
}

func openASN(path string) (asnSource, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".mmdb":
		return openMMDB(path)
	case ".csv":
		return LoadASNCSV(path)
	default:
		return nil, fmt.Errorf("%s: %w", path, errUnknownFormat)
	}
}

var errUnknownFormat = errors.New("unknown ASN file format (want .mmdb or .csv)")

// Lookup returns what the data knows about addr. IPv4-mapped IPv6 addresses
// are unmapped first because dual-stack listeners report IPv4 clients that
// way, and the data (and bart) key IPv4 under the native form.
func (r *Resolver) Lookup(addr netip.Addr) Info {
	if r == nil || !addr.IsValid() {
		return Info{}
	}
	addr = addr.Unmap()

	var info Info
	for _, f := range r.city {
		rec, ok := f.lookup(addr)
		if !ok {
			continue
		}
		code := rec.countryCode()
		if c, ok := country.Lookup(code); ok {
			// c.Code is the table's own string: no allocation, and no
			// reference kept into the database's memory.
			info.Country, info.Continent, info.Known = c.Code, c.Continent, true
		}
		info.Lat, info.Lon, info.HasCoords = rec.coords()
		info.ASN = rec.ASN
		break
	}
	if info.ASN == 0 {
		for _, src := range r.asn {
			if asn, ok := src.lookupASN(addr); ok {
				info.ASN = asn
				break
			}
		}
	}
	return info
}
