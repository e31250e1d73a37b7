package netstatus

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mk(id int64, name string, mutate ...func(*registry.Mirror)) registry.Mirror {
	m := registry.NewMirror(name, "uni")
	m.ID = id
	m.URLs = registry.URLs{HTTPS: "https://" + name + ".example.org/pub/", Rsync: "rsync://" + name + ".example.org/pub/"}
	m.Location = registry.Location{Country: "DE", Continent: "EU", City: "Berlin"}
	m.PrivateNotes = "call Bob at 555-0100"
	m.DisabledReason = "operator asked: secret migration"
	m.Netblocks = []string{"192.0.2.0/24"}
	for _, f := range mutate {
		f(&m)
	}
	return m
}

func scanned(good time.Time, trace *time.Time) ScanInfo {
	r := store.ScanRecord{StartedAt: good.Add(-90 * time.Second), FinishedAt: good, OK: true, Protocol: "rsync",
		Current: 95, Stale: 3, Missing: 2, Claimed: 100, TraceTime: trace}
	return ScanInfo{Latest: r, LastGood: good}
}

func at(t time.Time) *time.Time { return &t }

func health(id int64, p registry.Protocol, f probe.Family, up bool, reason string) probe.Health {
	return probe.Health{Key: probe.Key{MirrorID: id, Protocol: p, Family: f}, Known: true, Up: up, Since: now.Add(-time.Hour),
		Last: now.Add(-time.Minute), Latency: 12345 * time.Microsecond, Reason: reason}
}

func TestBuildStates(t *testing.T) {
	fresh := now.Add(-time.Hour)
	in := Inputs{
		Now: now,
		Mirrors: []registry.Mirror{
			mk(1, "up"),
			mk(2, "off", func(m *registry.Mirror) { m.Enabled = false }),
			mk(3, "new"),
			mk(4, "dead", func(m *registry.Mirror) { m.IPv6 = true }),
			mk(5, "old"),
			mk(6, "behind", func(m *registry.Mirror) { m.Tier = 2 }),
			mk(7, "hidden", func(m *registry.Mirror) { m.Public = false }),
			mk(8, "back"),
			mk(9, "half", func(m *registry.Mirror) { m.IPv6 = true }),
		},
		Sites: []registry.Site{{Name: "uni", Sponsor: "Uni", SponsorURL: "https://uni.example/", Contacts: []string{"bob@uni.example"},
			PrivateNotes: "budget cut"}},
		Scans: map[int64]ScanInfo{
			1: scanned(fresh, at(now.Add(-3*time.Hour))),
			2: scanned(fresh, nil),
			4: scanned(fresh, nil),
			5: scanned(now.Add(-30*time.Hour), nil),
			6: scanned(fresh, at(now.Add(-50*time.Hour))),
			7: scanned(fresh, nil),
			8: scanned(fresh, nil),
			9: scanned(fresh, nil),
		},
		Probes: map[int64][]probe.Health{
			1: {health(1, registry.HTTPS, probe.IPv4, true, ""), health(1, registry.RSYNC, probe.IPv4, false, "connection refused")},
			4: {health(4, registry.HTTPS, probe.IPv4, false, "connection refused"), health(4, registry.HTTPS, probe.IPv6, false, "network unreachable")},
			9: {health(9, registry.HTTPS, probe.IPv4, true, ""), health(9, registry.HTTPS, probe.IPv6, false, "timeout after 10s")},
		},
		Rescanning:   map[int64]bool{8: true},
		Files:        1234,
		CatalogBuilt: now.Add(-2 * time.Hour),
		Freshness:    Freshness{MaxAge: 24 * time.Hour, MaxLag: []time.Duration{24 * time.Hour, 26 * time.Hour, 48 * time.Hour, 72 * time.Hour}},
	}
	n := Build(in)
	want := map[string]struct {
		state   State
		reasons []string
	}{
		"up":     {Up, nil},
		"off":    {Disabled, []string{"disabled by an administrator"}},
		"new":    {Unknown, []string{"not scanned yet"}},
		"dead":   {Down, []string{"down according to probes: https: connection refused (ipv4), network unreachable (ipv6)"}},
		"old":    {Stale, []string{"stale: last good scan 30 h ago, over scan.max_age 24 h"}},
		"behind": {Stale, []string{"stale: trace 2 d 2 h old, over tier 2's maximum lag of 2 d"}},
		"back":   {Down, []string{"back up, waiting for a rescan before it gets clients"}},
		"half":   {Up, nil},
	}
	var names []string
	for _, m := range n.Mirrors {
		names = append(names, m.Name)
		w, ok := want[m.Name]
		if !ok {
			t.Fatalf("unexpected mirror %s", m.Name)
		}
		if m.State != w.state || !slices.Equal(m.Reasons, w.reasons) {
			t.Errorf("%s: %s %q, want %s %q", m.Name, m.State, m.Reasons, w.state, w.reasons)
		}
	}
	if !slices.IsSorted(names) || len(names) != len(want) {
		t.Fatalf("mirrors %v", names)
	}
	if got := n.Totals; got[Up] != 2 || got[Down] != 2 || got[Stale] != 2 || got[Disabled] != 1 || got[Unknown] != 1 {
		t.Fatalf("totals %v", got)
	}
	if n.Files != 1234 || !n.CatalogBuilt.Equal(now.Add(-2*time.Hour)) || !n.Generated.Equal(now) {
		t.Fatalf("network %+v", n)
	}
	up, _ := n.Mirror("up")
	if up.Sponsor != "Uni" || up.Completion != 95 || up.LagSeconds == nil || *up.LagSeconds != 3*3600 ||
		up.MaxLagSeconds == nil || *up.MaxLagSeconds != 26*3600 || up.URLs["https"] == "" || up.URLs["rsync"] == "" || len(up.URLs) != 2 ||
		up.LastScan == nil || up.LastScan.DurationMs != 90000 || len(up.Probes) != 2 || up.Probes[0].LatencyMs != 12.35 {
		t.Fatalf("up mirror %+v", up)
	}
	// Nothing private, in any form.
	js, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"hidden", "Bob", "secret migration", "192.0.2.0", "bob@uni", "budget"} {
		if strings.Contains(string(js), secret) {
			t.Errorf("public network contains %q: %s", secret, js)
		}
	}
}

func TestBuildUsesLastGoodScanWhenLatestFailed(t *testing.T) {
	good := scanned(now.Add(-2*time.Hour), at(now.Add(-5*time.Hour)))
	failed := store.ScanRecord{StartedAt: now.Add(-time.Minute), FinishedAt: now, Error: "rsync: connection refused"}
	info := ScanInfo{Latest: failed, Good: &good.Latest, LastGood: good.LastGood}
	n := Build(Inputs{Now: now, Mirrors: []registry.Mirror{mk(1, "m")}, Scans: map[int64]ScanInfo{1: info}})
	m := n.Mirrors[0]
	if m.State != Up || m.Completion != 95 || m.LagSeconds == nil || *m.LagSeconds != 5*3600 || m.LastScan.OK || m.LastScan.Error == "" {
		t.Fatalf("%+v", m)
	}
	if m.MaxLagSeconds != nil {
		t.Fatal("no limit configured, yet one shown")
	}
}

func TestFreshnessWithoutTraceOrLimit(t *testing.T) {
	f := Freshness{MaxAge: time.Hour, MaxLag: []time.Duration{0, time.Hour}}
	if why := f.Stale(0, now, at(now.Add(-100*time.Hour)), now); why != nil {
		t.Fatalf("tier 0 has no limit: %q", why)
	}
	if why := f.Stale(1, now, nil, now); why != nil {
		t.Fatalf("no trace: judged by scans alone: %q", why)
	}
	if why := f.Stale(3, now, at(now.Add(-100*time.Hour)), now); why != nil {
		t.Fatalf("tier beyond the list has no limit: %q", why)
	}
	if why := f.Stale(1, time.Time{}, nil, now); len(why) != 1 || why[0] != "no good scan yet" {
		t.Fatalf("never good: %q", why)
	}
}

func TestProbesDown(t *testing.T) {
	if probed, down := ProbesDown(nil); probed || down != nil {
		t.Fatal("no probes held against")
	}
	// rsync and FTP never decide: clients are only sent over HTTP(S).
	if probed, down := ProbesDown([]probe.Health{health(1, registry.RSYNC, probe.IPv4, false, "x")}); probed || down != nil {
		t.Fatal("rsync decided")
	}
	hs := []probe.Health{health(1, registry.HTTPS, probe.IPv4, true, ""), health(1, registry.HTTP, probe.IPv4, false, "404 on /TIME")}
	if probed, down := ProbesDown(hs); !probed || !slices.Equal(down, []string{"http: 404 on /TIME (ipv4)"}) {
		t.Fatalf("down %q", down)
	}
	// A failing family is out before it is confirmed down; the other
	// family still carries the protocol.
	failing := health(1, registry.HTTPS, probe.IPv6, true, "connection refused")
	failing.Failing, failing.Streak = true, 1
	if _, down := ProbesDown([]probe.Health{failing}); !slices.Equal(down, []string{"https: connection refused (ipv6, 1 failed probe in a row, retrying)"}) {
		t.Fatalf("failing: down %q", down)
	}
	if _, down := ProbesDown([]probe.Health{failing, health(1, registry.HTTPS, probe.IPv4, true, "")}); down != nil {
		t.Fatalf("failing on one family of two: down %q", down)
	}
}
