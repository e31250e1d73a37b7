package geo

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
	"go4.org/netipx"
)

// ASNRange is one line of an ASN CSV file.
type ASNRange struct {
	Start, End netip.Addr // inclusive, same family, Start <= End
	ASN        uint32
}

// ParseASNCSV reads the @ip-location-db/asn format: one range per line,
// "start_ip,end_ip,asn,organisation", IPv4 or IPv6, no header. The
// organisation is ignored (mirror selection needs only the number) but the
// line must still have exactly four fields, so a file in some other format
// is rejected instead of being half-understood. Any bad line fails the whole
// file: the caller keeps the previous data rather than serving a partial
// table.
func ParseASNCSV(r io.Reader) ([]ASNRange, error) {
	var out []ASNRange
	err := parseASNCSV(r, func(rg ASNRange) error {
		out = append(out, rg)
		return nil
	})
	return out, err
}

func parseASNCSV(r io.Reader, fn func(ASNRange) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("asn csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		rg, err := parseASNRange(fields)
		if err != nil {
			return fmt.Errorf("asn csv: line %d: %w", line, err)
		}
		if err := fn(rg); err != nil {
			return err
		}
	}
}

func parseASNRange(fields []string) (ASNRange, error) {
	start, err := parseAddr(fields[0])
	if err != nil {
		return ASNRange{}, fmt.Errorf("start: %w", err)
	}
	end, err := parseAddr(fields[1])
	if err != nil {
		return ASNRange{}, fmt.Errorf("end: %w", err)
	}
	if start.Is4() != end.Is4() {
		return ASNRange{}, fmt.Errorf("range %s-%s mixes IPv4 and IPv6", start, end)
	}
	if end.Less(start) {
		return ASNRange{}, fmt.Errorf("range %s-%s ends before it starts", start, end)
	}
	asn, err := strconv.ParseUint(strings.TrimSpace(fields[2]), 10, 32)
	if err != nil {
		return ASNRange{}, fmt.Errorf("asn %q: %w", fields[2], err)
	}
	return ASNRange{Start: start, End: end, ASN: uint32(asn)}, nil
}

// parseAddr unmaps IPv4-mapped addresses so that a range written as
// ::ffff:a.b.c.d lands in the IPv4 table where lookups (also unmapped) will
// find it. Zones make no sense in routing data and are rejected.
func parseAddr(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("address %q has a zone", s)
	}
	return a.Unmap(), nil
}

// ASNTable maps addresses to AS numbers by longest-prefix match.
type ASNTable struct {
	t bart.Table[uint32]
}

// NewASNTable builds a table from ranges. Ranges are split into CIDR
// prefixes because bart (like routers) matches prefixes, not ranges; a later
// range with exactly the same prefix overrides an earlier one, and a more
// specific prefix wins inside a wider one.
func NewASNTable(ranges []ASNRange) *ASNTable {
	t := &ASNTable{}
	for _, rg := range ranges {
		t.insert(rg)
	}
	return t
}

func (t *ASNTable) insert(rg ASNRange) {
	for _, p := range netipx.IPRangeFrom(rg.Start, rg.End).Prefixes() {
		t.t.Insert(p, rg.ASN)
	}
}

// LoadASNCSV parses an ASN CSV file into a table without keeping the ranges.
func LoadASNCSV(path string) (*ASNTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	t := &ASNTable{}
	if err := parseASNCSV(f, func(rg ASNRange) error { t.insert(rg); return nil }); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Lookup returns the AS number announcing addr. AS 0 (reserved, "not
// routed") is reported as not found.
func (t *ASNTable) Lookup(addr netip.Addr) (uint32, bool) {
	asn, ok := t.t.Lookup(addr.Unmap())
	return asn, ok && asn != 0
}

func (t *ASNTable) lookupASN(addr netip.Addr) (uint32, bool) { return t.Lookup(addr) }

// Len returns the number of prefixes in the table.
func (t *ASNTable) Len() int { return t.t.Size() }
