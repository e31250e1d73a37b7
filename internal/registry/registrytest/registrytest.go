package registrytest

import (
	"math"
	"strings"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// Site returns a site with every field set, in normalized form.
func Site(name string) registry.Site {
	s := registry.Site{
		Name:         name,
		Sponsor:      "Example University, Computing Centre",
		SponsorURL:   "https://www.example.org/cc/",
		Contacts:     []string{"mirror-admin@example.org", "Noc Team <noc@example.org>"},
		PrivateNotes: "Escalate via +49 69 0000.\nKey holder: R. Müller",
	}
	s.Normalize()
	return s
}

func ptr(f float64) *float64 { return &f }

// Mirror returns a mirror with every field set to a non-default value, in
// normalized form. Its upstream is empty; tier 1.
func Mirror(name, site string) registry.Mirror {
	m := registry.NewMirror(name, site)
	m.URLs = registry.URLs{
		HTTP:  "http://127.0.0.1:8081/pub/",
		HTTPS: "https://[::1]:8443/pub/",
		FTP:   "ftp://127.0.0.1:2121/pub/",
		Rsync: "rsync://127.0.0.1:8730/pub/",
	}
	m.Location = registry.Location{Country: "DE", Continent: "EU", City: "Frankfurt am Main", Latitude: ptr(50.1), Longitude: ptr(8.7)}
	m.BandwidthMbps = 10000
	m.Score = 250
	m.DisabledReason = "maintenance until Monday"
	m.LargeFiles = false
	m.IPv6 = true
	m.MaxFileSize = 4 << 30
	m.Content = []string{"/epel/", "/fedora/"}
	m.Netblocks = []string{"192.0.2.0/24", "2001:db8::/32"}
	m.ASNs = []uint32{64500, 64501}
	m.Rules = registry.Rules{
		CountryOnly:      true,
		ContinentOnly:    true,
		ASNOnly:          true,
		ExcludeCountries: []string{"FR"},
		ExtraCountries:   []string{"AT", "CH"},
	}
	m.PrivateNotes = "Rack B4.\nCall before reboots."
	m.TokenHash = registry.HashToken("mkrt_fixture")
	m.Normalize()
	return m
}

// SiteCase is a hostile change to a valid site and the field it must be
// rejected on.
type SiteCase struct {
	Name   string
	Field  string
	Mutate func(*registry.Site)
}

// MirrorCase is a hostile change to a valid mirror and the field it must be
// rejected on.
type MirrorCase struct {
	Name   string
	Field  string
	Mutate func(*registry.Mirror)
}

// HostileSites lists bad site values.
func HostileSites() []SiteCase {
	set := func(f func(*registry.Site)) func(*registry.Site) { return f }
	return []SiteCase{
		{"empty name", "name", set(func(s *registry.Site) { s.Name = "" })},
		{"name with space", "name", set(func(s *registry.Site) { s.Name = "example org" })},
		{"upper-case name", "name", set(func(s *registry.Site) { s.Name = "Example" })},
		{"name with slash", "name", set(func(s *registry.Site) { s.Name = "a/../b" })},
		{"name too long", "name", set(func(s *registry.Site) { s.Name = strings.Repeat("a", 64) })},
		{"sponsor with control", "sponsor", set(func(s *registry.Site) { s.Sponsor = "evil\x1b[2J" })},
		{"sponsor URL not http", "sponsor_url", set(func(s *registry.Site) { s.SponsorURL = "javascript:alert(1)" })},
		{"sponsor URL without host", "sponsor_url", set(func(s *registry.Site) { s.SponsorURL = "https://" })},
		{"contact not an address", "contacts", set(func(s *registry.Site) { s.Contacts = []string{"nobody"} })},
		{"contact with NUL", "contacts", set(func(s *registry.Site) { s.Contacts = []string{"a@b.org\x00"} })},
		{"notes invalid UTF-8", "private_notes", set(func(s *registry.Site) { s.PrivateNotes = "\xff\xfe" })},
		{"notes too long", "private_notes", set(func(s *registry.Site) { s.PrivateNotes = strings.Repeat("x", registry.MaxNotesLen+1) })},
	}
}

// HostileMirrors lists bad mirror values.
func HostileMirrors() []MirrorCase {
	type m = registry.Mirror
	url := func(p registry.Protocol, v string) func(*m) { return func(x *m) { x.URLs.Set(p, v) } }
	return []MirrorCase{
		{"empty name", "name", func(x *m) { x.Name = "" }},
		{"name with space", "name", func(x *m) { x.Name = "ftp de" }},
		{"name upper case", "name", func(x *m) { x.Name = "FTP-DE" }},
		{"name traversal", "name", func(x *m) { x.Name = "../etc" }},
		{"name non-ASCII", "name", func(x *m) { x.Name = "mirrör" }},
		{"name too long", "name", func(x *m) { x.Name = strings.Repeat("m", 64) }},
		{"empty site", "site", func(x *m) { x.Site = "" }},
		{"http URL with ftp scheme", "urls.http", url(registry.HTTP, "ftp://mirror.example.org/pub/")},
		{"http URL without host", "urls.http", url(registry.HTTP, "http:///pub/")},
		{"http URL javascript", "urls.http", url(registry.HTTP, "javascript:alert(1)")},
		{"http URL with query", "urls.http", url(registry.HTTP, "http://mirror.example.org/pub/?x=1")},
		{"http URL with fragment", "urls.http", url(registry.HTTP, "http://mirror.example.org/pub/#top")},
		{"http URL with credentials", "urls.http", url(registry.HTTP, "http://user:pw@mirror.example.org/pub/")},
		{"http URL port out of range", "urls.http", url(registry.HTTP, "http://mirror.example.org:99999/pub/")},
		{"http URL traversal", "urls.http", url(registry.HTTP, "http://mirror.example.org/pub/../etc/")},
		{"http URL encoded traversal", "urls.http", url(registry.HTTP, "http://mirror.example.org/pub/%2e%2e/etc/")},
		{"http URL with space", "urls.http", url(registry.HTTP, "http://mirror.example.org/my pub/")},
		{"http URL with NUL", "urls.http", url(registry.HTTP, "http://mirror.example.org/\x00/")},
		{"https URL with http scheme", "urls.https", url(registry.HTTPS, "http://mirror.example.org/pub/")},
		{"ftp URL with password", "urls.ftp", url(registry.FTP, "ftp://anon:secret@mirror.example.org/pub/")},
		{"rsync URL without module", "urls.rsync", url(registry.RSYNC, "rsync://mirror.example.org/")},
		{"rsync URL bad IPv6", "urls.rsync", url(registry.RSYNC, "rsync://[::1::2]/pub/")},
		{"no URL at all", "urls", func(x *m) { x.URLs = registry.URLs{} }},
		{"tier below 0", "tier", func(x *m) { x.Tier = -1 }},
		{"tier above 3", "tier", func(x *m) { x.Tier = 4 }},
		{"upstream is itself", "upstream", func(x *m) { x.Upstream = x.Name }},
		{"upstream bad name", "upstream", func(x *m) { x.Upstream = "Not A Name" }},
		{"country missing", "location.country", func(x *m) { x.Location.Country = "" }},
		{"country unknown", "location.country", func(x *m) { x.Location.Country = "ZZ" }},
		{"country alpha-3", "location.country", func(x *m) { x.Location.Country = "DEU" }},
		{"country UK (not ISO)", "location.country", func(x *m) { x.Location.Country = "UK" }},
		{"continent unknown", "location.continent", func(x *m) { x.Location.Continent = "XX" }},
		{"latitude over 90", "location.latitude", func(x *m) { x.Location.Latitude = ptr(91) }},
		{"latitude under -90", "location.latitude", func(x *m) { x.Location.Latitude = ptr(-90.5) }},
		{"latitude NaN", "location.latitude", func(x *m) { x.Location.Latitude = ptr(math.NaN()) }},
		{"longitude over 180", "location.longitude", func(x *m) { x.Location.Longitude = ptr(180.01) }},
		{"longitude infinite", "location.longitude", func(x *m) { x.Location.Longitude = ptr(math.Inf(-1)) }},
		{"latitude without longitude", "location", func(x *m) { x.Location.Longitude = nil }},
		{"city with control", "location.city", func(x *m) { x.Location.City = "Frank\x1bfurt" }},
		{"negative bandwidth", "bandwidth_mbps", func(x *m) { x.BandwidthMbps = -1 }},
		{"negative score", "score", func(x *m) { x.Score = -5 }},
		{"huge score", "score", func(x *m) { x.Score = registry.MaxScore + 1 }},
		{"no address family", "ipv4", func(x *m) { x.IPv4, x.IPv6 = false, false }},
		{"negative max file size", "max_file_size", func(x *m) { x.MaxFileSize = -1 }},
		{"content relative", "content", func(x *m) { x.Content = []string{"fedora/"} }},
		{"content traversal", "content", func(x *m) { x.Content = []string{"/fedora/../../etc/"} }},
		{"content root", "content", func(x *m) { x.Content = []string{"/"} }},
		{"content NUL", "content", func(x *m) { x.Content = []string{"/fed\x00ora/"} }},
		{"netblock host bits", "netblocks", func(x *m) { x.Netblocks = []string{"192.0.2.1/24"} }},
		{"netblock garbage", "netblocks", func(x *m) { x.Netblocks = []string{"not-a-cidr"} }},
		{"netblock bad octet", "netblocks", func(x *m) { x.Netblocks = []string{"300.0.0.0/8"} }},
		{"netblock everything v4", "netblocks", func(x *m) { x.Netblocks = []string{"0.0.0.0/0"} }},
		{"netblock too wide v6", "netblocks", func(x *m) { x.Netblocks = []string{"2000::/8"} }},
		{"netblock without length", "netblocks", func(x *m) { x.Netblocks = []string{"192.0.2.7"} }},
		{"ASN zero", "asns", func(x *m) { x.ASNs = []uint32{0} }},
		{"ASN AS_TRANS", "asns", func(x *m) { x.ASNs = []uint32{23456} }},
		{"excluded country unknown", "rules.exclude_countries", func(x *m) { x.Rules.ExcludeCountries = []string{"XY"} }},
		{"extra country EU", "rules.extra_countries", func(x *m) { x.Rules.ExtraCountries = []string{"EU"} }},
		{"asn_only without ASNs", "rules.asn_only", func(x *m) { x.ASNs = nil }},
		{"notes invalid UTF-8", "private_notes", func(x *m) { x.PrivateNotes = "ok\xc3\x28" }},
		{"disabled reason control", "disabled_reason", func(x *m) { x.DisabledReason = "\x07bell" }},
		{"token hash not hex", "report_token_hash", func(x *m) { x.TokenHash = "plaintext-token" }},
	}
}
