package registry

import (
	"time"
)

// Site is an organisation that runs one or more mirrors: a university, an ISP, a
// company. Its contacts and notes are for the network's admins only.
type Site struct {
	ID           int64     `json:"id"`
	Name         string    `json:"name"`
	Sponsor      string    `json:"sponsor"`
	SponsorURL   string    `json:"sponsor_url"`
	Contacts     []string  `json:"contacts"`
	PrivateNotes string    `json:"private_notes"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// Protocol is a way a mirror serves its copy.
type Protocol string

// The protocols a mirror can offer, in the order scanners prefer them.
const (
	RSYNC Protocol = "rsync"
	FTP   Protocol = "ftp"
	HTTPS Protocol = "https"
	HTTP  Protocol = "http"
)

// Protocols lists every protocol, in scan preference order.
func Protocols() []Protocol { return []Protocol{RSYNC, FTP, HTTPS, HTTP} }

// URLs holds one base URL per protocol; an empty string means the mirror does not
// offer that protocol. A base URL ends in "/" and a catalog path is appended to it.
type URLs struct {
	HTTP  string `json:"http"`
	HTTPS string `json:"https"`
	FTP   string `json:"ftp"`
	Rsync string `json:"rsync"`
}

// Get returns the base URL for p.
func (u URLs) Get(p Protocol) string {
	switch p {
	case HTTP:
		return u.HTTP
	case HTTPS:
		return u.HTTPS
	case FTP:
		return u.FTP
	case RSYNC:
		return u.Rsync
	}
	return ""
}

// Set sets the base URL for p.
func (u *URLs) Set(p Protocol, v string) {
	switch p {
	case HTTP:
		u.HTTP = v
	case HTTPS:
		u.HTTPS = v
	case FTP:
		u.FTP = v
	case RSYNC:
		u.Rsync = v
	}
}

// Offered lists the protocols that have a URL, in scan preference order.
func (u URLs) Offered() []Protocol {
	var out []Protocol
	for _, p := range Protocols() {
		if u.Get(p) != "" {
			out = append(out, p)
		}
	}
	return out
}

// Location is where a mirror stands. Latitude and Longitude are nil when unknown;
// 0,0 is a real place in the Gulf of Guinea, not "unset".
type Location struct {
	Country   string   `json:"country"`
	Continent string   `json:"continent"`
	City      string   `json:"city"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
}

// Rules restrict which clients a mirror serves (MirrorBrain's country_only,
// region_only and as_only; MirrorManager's country lists).
type Rules struct {
	// CountryOnly serves only clients in the mirror's country or ExtraCountries.
	CountryOnly bool `json:"country_only"`
	// ContinentOnly serves only clients on the mirror's continent.
	ContinentOnly bool `json:"continent_only"`
	// ASNOnly serves only clients in one of the mirror's ASNs.
	ASNOnly bool `json:"asn_only"`
	// ExcludeCountries never get this mirror.
	ExcludeCountries []string `json:"exclude_countries"`
	// ExtraCountries count as the mirror's own country when ranking.
	ExtraCountries []string `json:"extra_countries"`
}

// Mirror is one host that serves a copy, or part of a copy, of the origin.
type Mirror struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Site is the name of the site that runs the mirror.
	Site string `json:"site"`
	URLs URLs   `json:"urls"`
	// Tier is 0 for the origin, 1 for mirrors that sync from it, 2 for mirrors that
	// sync from a tier 1, 3 for selective mirrors.
	Tier int `json:"tier"`
	// Upstream is the name of the mirror this one syncs from; "" is the origin.
	Upstream string   `json:"upstream"`
	Location Location `json:"location"`
	// BandwidthMbps is the mirror's uplink in Mbit/s, 0 when unknown.
	BandwidthMbps int64 `json:"bandwidth_mbps"`
	// Score weighs the mirror against equally good ones: twice the score, twice the
	// share of redirects.
	Score          int    `json:"score"`
	Enabled        bool   `json:"enabled"`
	DisabledReason string `json:"disabled_reason"`
	// Public mirrors are listed; private ones are never listed and serve only
	// clients inside their own netblocks or ASNs.
	Public bool `json:"public"`
	// LargeFiles is false for mirrors that cannot serve files over 2 GiB.
	LargeFiles bool `json:"large_files"`
	IPv4       bool `json:"ipv4"`
	IPv6       bool `json:"ipv6"`
	// MaxFileSize in bytes; 0 is no limit.
	MaxFileSize int64 `json:"max_file_size"`
	// Content lists the path prefixes the mirror carries ("/fedora/"); empty is the
	// whole tree.
	Content []string `json:"content"`
	// Netblocks are canonical CIDRs ("192.0.2.0/24") whose clients this mirror
	// serves first.
	Netblocks    []string `json:"netblocks"`
	ASNs         []uint32 `json:"asns"`
	Rules        Rules    `json:"rules"`
	PrivateNotes string   `json:"private_notes"`
	// TokenHash is the SHA-256 of the mirror's report token; the token itself is
	// shown once and never stored.
	TokenHash string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Defaults for a new mirror: enabled, listed, reachable over IPv4, able to serve
// large files, syncing from the origin as a tier 1.
const (
	DefaultScore = 100
	DefaultTier  = 1
)

// NewMirror returns a mirror with the defaults a new registration gets.
func NewMirror(name, site string) Mirror {
	return Mirror{
		Name:       name,
		Site:       site,
		Tier:       DefaultTier,
		Score:      DefaultScore,
		Enabled:    true,
		Public:     true,
		LargeFiles: true,
		IPv4:       true,
	}
}

// Carries reports whether the mirror's content covers the catalog path p
// (a clean, slash-led path).
func (m *Mirror) Carries(p string) bool {
	if len(m.Content) == 0 {
		return true
	}
	for _, prefix := range m.Content {
		if len(p) >= len(prefix) && p[:len(prefix)] == prefix {
			return true
		}
		// "/fedora" is the directory "/fedora/" itself.
		if len(p)+1 == len(prefix) && prefix[:len(p)] == p {
			return true
		}
	}
	return false
}

// Redacted returns the copy of a site that may be shown to anyone.
func (s Site) Redacted() Site {
	s.Contacts = []string{}
	s.PrivateNotes = ""
	return s
}

// Redacted returns the copy of a mirror that may be shown to anyone: no notes, no
// netblocks or ASNs (they reveal a private network's layout), no token hash.
func (m Mirror) Redacted() Mirror {
	m.PrivateNotes = ""
	m.DisabledReason = ""
	m.Netblocks = []string{}
	m.ASNs = []uint32{}
	m.TokenHash = ""
	return m
}
