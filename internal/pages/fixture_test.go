package pages_test

import (
	"context"
	"slices"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// generated is the fixture's clock: every relative time on the pages is
// measured from it.
var generated = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// hostileSponsor is operator-supplied text trying to become markup.
const hostileSponsor = `Evil <script>alert("sponsor")</script> & Co`

// fixture is a network of eight mirrors on six continents with every state
// represented, one mirror without coordinates, a hostile sponsor and a
// javascript: sponsor URL.
func fixture() *netstatus.Network {
	at := func(d time.Duration) time.Time { return generated.Add(-d) }
	scan := func(ok bool, d time.Duration) *netstatus.Scan {
		s := &netstatus.Scan{At: at(d), OK: ok, Protocol: "rsync", Current: 980, Stale: 15, Missing: 5, Claimed: 1000, DurationMs: 4200}
		if !ok {
			s.Error = "rsync: connection refused"
			s.Current, s.Stale, s.Missing = 0, 0, 0
		}
		return s
	}
	probe := func(p registry.Protocol, fam string, up bool, since time.Duration, ms float64, reason string) netstatus.Probe {
		return netstatus.Probe{Protocol: p, Family: fam, Up: up, Since: at(since), Last: at(20 * time.Second), LatencyMs: ms, Reason: reason}
	}
	ms := []netstatus.Mirror{
		{
			Name: "de-fra", Site: "hetzner", Sponsor: "Hetzner Online", SponsorURL: "https://www.hetzner.com/",
			Country: "DE", Continent: "EU", City: "Frankfurt", Latitude: ptr(50.11), Longitude: ptr(8.68),
			Tier: 1, Bandwidth: 10000, IPv4: true, IPv6: true,
			URLs:  map[string]string{"https": "https://de-fra.example.org/pub/", "http": "http://de-fra.example.org/pub/", "rsync": "rsync://de-fra.example.org/pub/"},
			State: netstatus.Up, LastScan: scan(true, 10*time.Minute), LastGoodScan: ptr(at(10 * time.Minute)),
			Completion: 100, TraceTime: ptr(at(25 * time.Minute)), LagSeconds: ptr(1500.0),
			Probes: []netstatus.Probe{
				probe(registry.HTTPS, "ipv6", true, 72*time.Hour, 12.4, ""),
				probe(registry.HTTPS, "ipv4", true, 72*time.Hour, 9.8, ""),
				probe(registry.RSYNC, "ipv4", true, 72*time.Hour, 15, ""),
			},
		},
		{
			Name: "fr-par", Site: "univ-paris", Sponsor: hostileSponsor, SponsorURL: "javascript:alert(1)",
			Country: "FR", Continent: "EU", City: "Paris", Latitude: ptr(48.86), Longitude: ptr(2.35),
			Tier: 2, Bandwidth: 1000, IPv4: true,
			URLs:  map[string]string{"http": `http://fr-par.example.org/pub/"><script>alert(2)</script>`, "ftp": "ftp://fr-par.example.org/pub/"},
			State: netstatus.Stale, Reasons: []string{"stale: trace 26 h old (tier 2 allows 12 h)"},
			LastScan: scan(true, time.Hour), LastGoodScan: ptr(at(time.Hour)),
			Completion: 99.96, TraceTime: ptr(at(26 * time.Hour)), LagSeconds: ptr(26 * 3600.0), MaxLagSeconds: ptr(12 * 3600.0),
			Probes: []netstatus.Probe{probe(registry.HTTP, "ipv4", true, 5*time.Hour, 31, "")},
		},
		{
			Name: "us-nyc", Site: "nyc-coop", Sponsor: "NYC Co-op", SponsorURL: "https://coop.example.net/",
			Country: "US", Continent: "NA", City: "New York", Latitude: ptr(40.71), Longitude: ptr(-74.01),
			Tier: 1, Bandwidth: 2500, IPv4: true, IPv6: true,
			URLs:  map[string]string{"https": "https://us-nyc.example.net/mirror/"},
			State: netstatus.Down, Reasons: []string{"https over IPv4: connection refused", "https over IPv6: connection refused"},
			LastScan: scan(false, 5*time.Minute), LastGoodScan: ptr(at(3 * time.Hour)),
			Completion: 97.5, TraceTime: ptr(at(3 * time.Hour)), LagSeconds: ptr(3 * 3600.0),
			Probes: []netstatus.Probe{
				probe(registry.HTTPS, "ipv4", false, 4*time.Minute, 0, "connection refused"),
				probe(registry.HTTPS, "ipv6", false, 4*time.Minute, 0, "connection refused"),
			},
		},
		{
			Name: "br-sao", Site: "usp", Sponsor: "Universidade de São Paulo",
			Country: "BR", Continent: "SA", City: "São Paulo", Latitude: ptr(-23.55), Longitude: ptr(-46.63),
			Tier: 2, Bandwidth: 500, IPv4: true,
			URLs:  map[string]string{"https": "https://br-sao.example.br/pub/"},
			State: netstatus.Disabled, Reasons: []string{"disabled by an administrator"},
			Completion: 0,
		},
		{
			Name: "jp-tyo", Site: "jp-net", Sponsor: "JP Net", SponsorURL: "https://jp.example.jp/",
			Country: "JP", Continent: "AS", City: "Tokyo", Latitude: ptr(35.68), Longitude: ptr(139.69),
			Tier: 1, Bandwidth: 20000, IPv4: true, IPv6: true,
			URLs:  map[string]string{"https": "https://jp-tyo.example.jp/pub/", "rsync": "rsync://jp-tyo.example.jp/pub/"},
			State: netstatus.Up, LastScan: scan(true, 2*time.Minute), LastGoodScan: ptr(at(2 * time.Minute)),
			Completion: 100, TraceTime: ptr(at(40 * time.Second)), LagSeconds: ptr(40.0),
			Probes: []netstatus.Probe{probe(registry.HTTPS, "ipv4", true, 48*time.Hour, 180, "")},
		},
		{
			Name: "au-syd", Site: "aarnet", Sponsor: "AARNet", SponsorURL: "https://www.aarnet.edu.au/",
			Country: "AU", Continent: "OC", City: "Sydney", Latitude: ptr(-33.87), Longitude: ptr(151.21),
			Tier: 3, Bandwidth: 1000, IPv4: true,
			URLs:    map[string]string{"https": "https://au-syd.example.au/pub/"},
			Content: []string{"releases/", "isos/"},
			State:   netstatus.Unknown, Reasons: []string{"never scanned yet"},
		},
		{
			Name: "za-jnb", Site: "tenet", Sponsor: "TENET",
			Country: "ZA", Continent: "AF", City: "Johannesburg", Latitude: ptr(-26.2), Longitude: ptr(28.05),
			Tier: 2, Bandwidth: 1000, IPv4: true,
			URLs:  map[string]string{"http": "http://za-jnb.example.za/pub/"},
			State: netstatus.Up, LastScan: scan(true, 30*time.Minute), LastGoodScan: ptr(at(30 * time.Minute)),
			Completion: 100, TraceTime: ptr(at(2 * time.Hour)), LagSeconds: ptr(7200.0),
		},
		{
			// No coordinates: listed, but not on the map.
			Name: "de-nowhere", Site: "hetzner", Sponsor: "Hetzner Online", SponsorURL: "https://www.hetzner.com/",
			Country: "DE", Continent: "EU",
			Tier: 2, IPv4: true,
			URLs:  map[string]string{"https": "https://de-nowhere.example.org/"},
			State: netstatus.Up, Completion: 100, LastScan: scan(true, time.Minute), LastGoodScan: ptr(at(time.Minute)),
		},
	}
	totals := make(map[netstatus.State]int)
	for _, m := range ms {
		totals[m.State]++
	}
	return &netstatus.Network{Generated: generated, Files: 1234, CatalogBuilt: at(time.Hour), Totals: totals, Mirrors: ms}
}

// history is the fixture's History source: fr-par fell behind over six
// scans (the last two beyond its 12 h maximum), us-nyc's HTTPS probes
// started failing four minutes ago, de-fra answered everything; the store
// "is away" for au-syd.
func history(_ context.Context, name string) netstatus.History {
	at := func(d time.Duration) time.Time { return generated.Add(-d) }
	h := netstatus.History{Scans: []netstatus.Scan{}, Probes: []netstatus.ProbeResult{}}
	if m, ok := fixture().Mirror(name); ok && m.LastScan != nil {
		h.Scans = append(h.Scans, *m.LastScan)
	}
	switch name {
	case "au-syd":
		h.Scans = h.Scans[:0]
		h.ScansError = "scan history unavailable right now"
	case "fr-par":
		h.Scans = h.Scans[:0]
		for i := range 6 { // newest first
			lag := float64(26-4*i) * 3600
			end := at(time.Duration(i*4+1) * time.Hour)
			trace := end.Add(-time.Duration(lag) * time.Second)
			h.Scans = append(h.Scans, netstatus.Scan{At: end, OK: true, Protocol: "rsync", Current: 990, Stale: 10, Claimed: 1000,
				DurationMs: 3100, TraceTime: &trace, LagSeconds: &lag})
		}
	}
	probes := map[string][]netstatus.ProbeResult{}
	for i := 11; i >= 0; i-- { // twelve rounds, a minute apart, oldest first
		t := at(time.Duration(i)*time.Minute + 20*time.Second)
		probes["de-fra"] = append(probes["de-fra"], netstatus.ProbeResult{At: t, Protocol: registry.HTTPS, Family: "ipv4", OK: true, LatencyMs: 9.8})
		fail := i < 4
		r := netstatus.ProbeResult{At: t, Protocol: registry.HTTPS, Family: "ipv4", OK: !fail, LatencyMs: 30}
		if fail {
			r.Reason, r.LatencyMs = "connection refused", 0.4
		}
		probes["us-nyc"] = append(probes["us-nyc"], r)
	}
	h.Probes = probes[name]
	slices.Reverse(h.Probes) // History is newest first
	return h
}
