package registry

import (
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mirrorkit/mirrorkit/internal/country"
)

// Limits that keep a registry sane; each is far beyond what a real network needs.
const (
	MaxNameLen      = 63
	MaxTextLen      = 256
	MaxNotesLen     = 64 << 10
	MaxListLen      = 4096
	MaxTier         = 3
	MaxScore        = 1_000_000
	MaxBandwidth    = 100_000_000 // 100 Tbit/s
	minIPv4Netblock = 8
	minIPv6Netblock = 16
)

// Normalize puts a site into canonical form: trimmed text, contacts without
// duplicates, UTC timestamps at the microsecond precision every store keeps. It
// never drops a value that Validate would reject, so errors still show.
func (s *Site) Normalize() {
	s.Name = strings.TrimSpace(s.Name)
	s.Sponsor = strings.TrimSpace(s.Sponsor)
	s.SponsorURL = strings.TrimSpace(s.SponsorURL)
	s.Contacts = normalizeSet(s.Contacts, strings.TrimSpace)
	s.CreatedAt = StoreTime(s.CreatedAt)
	s.UpdatedAt = StoreTime(s.UpdatedAt)
}

// Validate checks every field of a normalized site.
func (s *Site) Validate() error {
	var es Errors
	checkName(&es, "name", s.Name)
	checkText(&es, "sponsor", s.Sponsor, MaxTextLen, false)
	if s.SponsorURL != "" {
		if u, err := url.Parse(s.SponsorURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			es.add("sponsor_url", fmt.Sprintf("%q is not an http(s) URL", s.SponsorURL))
		} else {
			checkText(&es, "sponsor_url", s.SponsorURL, MaxTextLen*4, false)
		}
	}
	checkListLen(&es, "contacts", len(s.Contacts))
	for _, c := range s.Contacts {
		if a, err := mail.ParseAddress(c); err != nil || !strings.Contains(a.Address, "@") {
			es.add("contacts", fmt.Sprintf("%q is not an e-mail address", c))
		} else {
			checkText(&es, "contacts", c, MaxTextLen, false)
		}
	}
	checkText(&es, "private_notes", s.PrivateNotes, MaxNotesLen, true)
	return es.err()
}

// Normalize puts a mirror into canonical form: upper-case country codes, derived
// continent, base URLs and content prefixes ending in "/", sorted lists without
// duplicates, canonical CIDRs, UTC timestamps at storage precision.
func (m *Mirror) Normalize() {
	m.Name = strings.TrimSpace(m.Name)
	m.Site = strings.TrimSpace(m.Site)
	m.Upstream = strings.TrimSpace(m.Upstream)
	for _, p := range Protocols() {
		m.URLs.Set(p, normalizeBaseURL(m.URLs.Get(p)))
	}
	m.Location.Country = upperCode(m.Location.Country)
	m.Location.Continent = upperCode(m.Location.Continent)
	if m.Location.Continent == "" {
		if c, ok := country.ContinentOf(m.Location.Country); ok {
			m.Location.Continent = string(c)
		}
	}
	m.Location.City = strings.TrimSpace(m.Location.City)
	m.Content = normalizeSet(m.Content, normalizePrefix)
	m.Netblocks = normalizeSet(m.Netblocks, normalizeCIDR)
	m.ASNs = normalizeSet(m.ASNs, func(a uint32) uint32 { return a })
	m.Rules.ExcludeCountries = normalizeSet(m.Rules.ExcludeCountries, upperCode)
	m.Rules.ExtraCountries = normalizeSet(m.Rules.ExtraCountries, upperCode)
	m.CreatedAt = StoreTime(m.CreatedAt)
	m.UpdatedAt = StoreTime(m.UpdatedAt)
}

// Validate checks every field of a normalized mirror on its own. Checks that need
// the rest of the registry (site exists, upstream exists and is of a lower tier,
// name unique) are the store's.
func (m *Mirror) Validate() error {
	var es Errors
	checkName(&es, "name", m.Name)
	checkName(&es, "site", m.Site)
	for _, p := range Protocols() {
		if u := m.URLs.Get(p); u != "" {
			checkBaseURL(&es, "urls."+string(p), p, u)
		}
	}
	if len(m.URLs.Offered()) == 0 {
		es.add("urls", "a mirror needs at least one URL (http, https, ftp or rsync)")
	}
	if m.Tier < 0 || m.Tier > MaxTier {
		es.add("tier", fmt.Sprintf("%d is out of range 0..%d", m.Tier, MaxTier))
	}
	if m.Upstream != "" {
		checkName(&es, "upstream", m.Upstream)
		if m.Upstream == m.Name {
			es.add("upstream", "a mirror cannot sync from itself")
		}
	}
	m.Location.validate(&es)
	if m.BandwidthMbps < 0 || m.BandwidthMbps > MaxBandwidth {
		es.add("bandwidth_mbps", fmt.Sprintf("%d is out of range 0..%d", m.BandwidthMbps, MaxBandwidth))
	}
	if m.Score < 0 || m.Score > MaxScore {
		es.add("score", fmt.Sprintf("%d is out of range 0..%d", m.Score, MaxScore))
	}
	if !m.IPv4 && !m.IPv6 {
		es.add("ipv4", "a mirror must be reachable over IPv4 or IPv6 (or both)")
	}
	checkText(&es, "disabled_reason", m.DisabledReason, MaxTextLen, false)
	if m.MaxFileSize < 0 {
		es.add("max_file_size", fmt.Sprintf("%d is negative; use 0 for no limit", m.MaxFileSize))
	}
	checkListLen(&es, "content", len(m.Content))
	for _, p := range m.Content {
		checkPrefix(&es, "content", p)
	}
	checkListLen(&es, "netblocks", len(m.Netblocks))
	for _, n := range m.Netblocks {
		checkCIDR(&es, "netblocks", n)
	}
	checkListLen(&es, "asns", len(m.ASNs))
	for _, a := range m.ASNs {
		checkASN(&es, "asns", a)
	}
	checkCountries(&es, "rules.exclude_countries", m.Rules.ExcludeCountries)
	checkCountries(&es, "rules.extra_countries", m.Rules.ExtraCountries)
	if m.Rules.ASNOnly && len(m.ASNs) == 0 {
		es.add("rules.asn_only", "asn_only needs at least one ASN")
	}
	checkText(&es, "private_notes", m.PrivateNotes, MaxNotesLen, true)
	if m.TokenHash != "" && !isSHA256Hex(m.TokenHash) {
		es.add("report_token_hash", "not a hex SHA-256")
	}
	return es.err()
}

func (l *Location) validate(es *Errors) {
	switch {
	case l.Country == "":
		es.add("location.country", "required (an ISO 3166-1 alpha-2 code such as DE)")
	case !country.Valid(l.Country):
		es.add("location.country", fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code", l.Country))
	}
	if l.Continent != "" && !country.Continent(l.Continent).Valid() {
		es.add("location.continent", fmt.Sprintf("%q is not a continent code (AF AN AS EU NA OC SA)", l.Continent))
	}
	checkText(es, "location.city", l.City, MaxTextLen, false)
	if (l.Latitude == nil) != (l.Longitude == nil) {
		es.add("location", "latitude and longitude go together: give both or neither")
	}
	checkCoord(es, "location.latitude", l.Latitude, 90)
	checkCoord(es, "location.longitude", l.Longitude, 180)
}

func checkCoord(es *Errors, field string, v *float64, limit float64) {
	if v == nil {
		return
	}
	if math.IsNaN(*v) || math.IsInf(*v, 0) || *v < -limit || *v > limit {
		es.add(field, fmt.Sprintf("%v is out of range -%v..%v", *v, limit, limit))
	}
}

// checkName allows what is safe in a URL path segment, a file name and a shell
// word alike, because names appear in all three.
func checkName(es *Errors, field, s string) {
	if s == "" {
		es.add(field, "required")
		return
	}
	if len(s) > MaxNameLen {
		es.add(field, fmt.Sprintf("longer than %d characters", MaxNameLen))
		return
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || i > 0 && (r == '-' || r == '.' || r == '_')
		if !ok {
			es.add(field, fmt.Sprintf("%q: use lower-case letters, digits, and - . _ after the first character", s))
			return
		}
	}
}

// checkText rejects invalid UTF-8 and control characters, which would corrupt
// terminals, logs and HTML; multiline allows newlines and tabs (notes).
func checkText(es *Errors, field, s string, limit int, multiline bool) {
	if len(s) > limit {
		es.add(field, fmt.Sprintf("longer than %d bytes", limit))
		return
	}
	if !utf8.ValidString(s) {
		es.add(field, "not valid UTF-8")
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t' || r == '\r')) {
			es.add(field, fmt.Sprintf("contains the control character %U", r))
			return
		}
	}
}

func checkListLen(es *Errors, field string, n int) {
	if n > MaxListLen {
		es.add(field, fmt.Sprintf("%d entries; at most %d", n, MaxListLen))
	}
}

// checkBaseURL accepts what a redirector can safely append a path to: the
// protocol's own scheme, a host, any port, a clean path, no query or fragment, and
// no password (it would leak into every redirect).
func checkBaseURL(es *Errors, field string, p Protocol, raw string) {
	if !utf8.ValidString(raw) || strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		es.add(field, fmt.Sprintf("%q contains spaces or control characters", raw))
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		es.add(field, fmt.Sprintf("%q is not a URL: %v", raw, unwrapURLError(err)))
		return
	}
	switch {
	case u.Scheme != string(p):
		es.add(field, fmt.Sprintf("%q must start with %s://", raw, p))
	case u.Opaque != "" || u.Host == "":
		es.add(field, fmt.Sprintf("%q has no host", raw))
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		es.add(field, fmt.Sprintf("%q must not have a query or fragment", raw))
	case u.User != nil && (p == HTTP || p == HTTPS):
		es.add(field, fmt.Sprintf("%q must not carry credentials", raw))
	case u.User != nil:
		if _, has := u.User.Password(); has {
			es.add(field, fmt.Sprintf("%q must not carry a password; use a password file", raw))
			return
		}
		checkURLPath(es, field, p, raw, u)
	default:
		checkURLPath(es, field, p, raw, u)
	}
}

func checkURLPath(es *Errors, field string, p Protocol, raw string, u *url.URL) {
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			es.add(field, fmt.Sprintf("%q: port %q is out of range 1..65535", raw, port))
			return
		}
	}
	host := u.Hostname()
	if host == "" || strings.ContainsAny(host, "/\\%") {
		es.add(field, fmt.Sprintf("%q: bad host %q", raw, host))
		return
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		es.add(field, fmt.Sprintf("%q: bad IPv6 address %q", raw, host))
		return
	}
	if !strings.HasSuffix(u.Path, "/") || path.Clean(u.Path)+"/" != u.Path && u.Path != "/" {
		es.add(field, fmt.Sprintf("%q: the path must be clean (no //, . or ..)", raw))
		return
	}
	if p == RSYNC && u.Path == "/" {
		es.add(field, fmt.Sprintf("%q: an rsync URL needs a module (rsync://host/module/)", raw))
	}
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func checkPrefix(es *Errors, field, p string) {
	switch {
	case !strings.HasPrefix(p, "/"):
		es.add(field, fmt.Sprintf("%q must start with /", p))
	case !utf8.ValidString(p) || strings.ContainsFunc(p, unicode.IsControl):
		es.add(field, fmt.Sprintf("%q contains invalid UTF-8 or control characters", p))
	case p != "/" && path.Clean(p)+"/" != p:
		es.add(field, fmt.Sprintf("%q must be a clean path (no //, . or ..)", p))
	case p == "/":
		es.add(field, `"/" is the whole tree; leave content empty instead`)
	}
}

func checkCIDR(es *Errors, field, s string) {
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		es.add(field, fmt.Sprintf("%q is not a CIDR such as 192.0.2.0/24 or 2001:db8::/32", s))
		return
	}
	if pfx.Addr().Zone() != "" {
		es.add(field, fmt.Sprintf("%q must not have a zone", s))
		return
	}
	if m := pfx.Masked(); m != pfx {
		es.add(field, fmt.Sprintf("%q has host bits set; did you mean %s?", s, m))
		return
	}
	if pfx.Addr().Is4() && pfx.Bits() < minIPv4Netblock || pfx.Addr().Is6() && pfx.Bits() < minIPv6Netblock {
		es.add(field, fmt.Sprintf("%q is too wide (at least /%d for IPv4, /%d for IPv6)", s, minIPv4Netblock, minIPv6Netblock))
	}
}

// checkASN rejects the numbers that never identify a real network: 0, AS_TRANS
// (23456) and the two last numbers of each range (RFC 7300).
func checkASN(es *Errors, field string, a uint32) {
	switch a {
	case 0, 23456, 65535, math.MaxUint32:
		es.add(field, fmt.Sprintf("%d is a reserved AS number", a))
	}
}

func checkCountries(es *Errors, field string, codes []string) {
	checkListLen(es, field, len(codes))
	for _, c := range codes {
		if !country.Valid(c) {
			es.add(field, fmt.Sprintf("%q is not an ISO 3166-1 alpha-2 country code", c))
		}
	}
}

// CheckCountries validates a configured list of country codes, such as the
// embargo list, with the same rule as a mirror's country fields.
func CheckCountries(field string, codes []string) error {
	var es Errors
	checkCountries(&es, field, codes)
	return es.err()
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func normalizeBaseURL(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && !strings.HasSuffix(s, "/") && !strings.ContainsAny(s, "?#") {
		s += "/"
	}
	return s
}

func normalizePrefix(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && s != "/" && !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s
}

func normalizeCIDR(s string) string {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil && p.Masked() == p {
		return p.String()
	}
	return s
}

func upperCode(s string) string {
	return strings.ToUpper(strings.TrimSpace(s))
}

// normalizeSet maps, sorts and deduplicates, and turns nil into an empty slice so
// JSON shows [] rather than null.
func normalizeSet[T interface{ ~string | ~uint32 }](in []T, f func(T) T) []T {
	out := make([]T, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// StoreTime is t as every store keeps it: UTC, microsecond precision (what
// PostgreSQL's timestamptz holds), so a value reads back equal to what was written.
func StoreTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}
