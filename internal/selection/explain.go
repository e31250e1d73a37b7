package selection

import (
	"fmt"
	"slices"
)

// Explain says why a mirror is not a candidate for this request, one reason
// per rule it fails; nil when it is a candidate. It is the slow path behind
// mirror lists and pages, and follows the same rules as candidates.
func (t *Table) Explain(req *Request, slot int) []string {
	m, ok := t.Mirror(slot)
	if !ok {
		return []string{"not a registered mirror"}
	}
	var why []string
	add := func(format string, args ...any) { why = append(why, fmt.Sprintf(format, args...)) }
	if !hasBit(req.Holders, slot) && !hasBit(req.Outdated, slot) {
		add("does not hold the current version of the file")
	}
	switch {
	case !m.Enabled:
		add("disabled")
	case !m.State.Fresh && m.State.StaleReason != "":
		add("stale: %s", m.State.StaleReason)
	case !m.State.Fresh:
		add("stale: no good scan recently")
	case m.State.Probed && !m.State.Up:
		add("down according to probes")
	case t.weight[slot] <= 0:
		add("score 0")
	}
	if req.HTTPS && m.URLs.HTTPS == "" {
		add("no https URL (https requests are never sent to http)")
	}
	if !req.HTTPS && m.URLs.HTTPS == "" && m.URLs.HTTP == "" {
		add("no http or https URL")
	}
	c := &req.Client
	if c.Addr.IsValid() && c.Addr.Unmap().Is6() {
		if !m.IPv6 {
			add("not reachable over IPv6")
		}
	} else if !m.IPv4 {
		add("not reachable over IPv4")
	}
	if req.Size >= largeFile && !m.LargeFiles {
		add("cannot serve files over 2 GiB")
	}
	if m.MaxFileSize > 0 && req.Size > m.MaxFileSize {
		add("file larger than its limit of %d bytes", m.MaxFileSize)
	}
	inASN := c.ASN != 0 && slices.Contains(m.ASNs, c.ASN)
	inNet := t.Netblocks(c.Addr).Has(slot)
	if slices.Contains(m.Rules.ExcludeCountries, c.Country) {
		add("excludes clients from %s", c.Country)
	}
	if m.Rules.CountryOnly && c.Country != m.Location.Country && !slices.Contains(m.Rules.ExtraCountries, c.Country) {
		add("serves only clients in %s", m.Location.Country)
	}
	if m.Rules.ContinentOnly && string(c.Continent) != m.Location.Continent {
		add("serves only clients on continent %s", m.Location.Continent)
	}
	if m.Rules.ASNOnly && !inASN {
		add("serves only clients in its ASNs")
	}
	if !m.Public && !inNet && !inASN {
		add("private: serves only its own networks")
	}
	return why
}
