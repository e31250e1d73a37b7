package netstatus

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// Inputs is everything Build reads. It is plain data, so building is pure:
// the same inputs give the same Network, and tests need no store or clock.
type Inputs struct {
	// Now is the moment the picture describes (Network.Generated, lags).
	Now     time.Time
	Mirrors []registry.Mirror
	Sites   []registry.Site
	// Scans holds what is known of each mirror's scans, by mirror id; a
	// mirror without an entry was never scanned.
	Scans map[int64]ScanInfo
	// Probes holds each mirror's probe health, by mirror id (as
	// probe.Tracker.Mirror returns it).
	Probes map[int64][]probe.Health
	// Rescanning marks mirrors whose probes came back up and that wait for
	// a rescan before they get clients again.
	Rescanning map[int64]bool
	// Files is the number of public catalog files; CatalogBuilt when the
	// catalog was last built (zero when never).
	Files        int
	CatalogBuilt time.Time
	Freshness    Freshness
}

// ScanInfo is what the network knows of one mirror's scans.
type ScanInfo struct {
	// Latest is the last scan attempt, good or not.
	Latest store.ScanRecord
	// Good is the last successful scan seen, for completion and trace when
	// the latest failed; nil when none is known.
	Good *store.ScanRecord
	// LastGood is when the last good scan finished (schedule.Service.LastGood);
	// zero when there was none.
	LastGood time.Time
}

// good is the last good scan known: the latest when it worked.
func (i ScanInfo) good() *store.ScanRecord {
	if i.Good == nil && i.Latest.OK {
		return &i.Latest
	}
	return i.Good
}

// Trace is the trace time last seen on the mirror: the latest scan's, or,
// when that read none (it failed), the last good scan's; nil when unknown.
func (i ScanInfo) Trace() *time.Time {
	if i.Latest.TraceTime != nil {
		return i.Latest.TraceTime
	}
	if g := i.good(); g != nil {
		return g.TraceTime
	}
	return nil
}

// Freshness says when a mirror is too far behind to get clients.
type Freshness struct {
	// MaxAge: a mirror whose last good scan is older is stale (scan.max_age);
	// 0 is no limit.
	MaxAge time.Duration
	// MaxLag is by tier the largest lag (now minus the trace time seen on the
	// mirror) before it is stale (probe.max_lag); 0 or a missing tier is no
	// limit.
	MaxLag []time.Duration
}

// TierMaxLag returns the maximum lag for a tier, 0 for none.
func (f Freshness) TierMaxLag(tier int) time.Duration {
	if tier < 0 || tier >= len(f.MaxLag) {
		return 0
	}
	return f.MaxLag[tier]
}

// Stale returns why a mirror is stale, in words, or nil when it is fresh:
// no good scan within MaxAge (lastGood zero is never), or a trace older than
// its tier's maximum lag. A mirror without a trace is judged by its scans
// alone. The redirector's selection and every public view call this one
// function, so they never disagree on who is stale.
func (f Freshness) Stale(tier int, lastGood time.Time, trace *time.Time, now time.Time) []string {
	var why []string
	switch {
	case lastGood.IsZero():
		why = append(why, "no good scan yet")
	case f.MaxAge > 0 && now.Sub(lastGood) > f.MaxAge:
		why = append(why, fmt.Sprintf("last good scan %s ago, over scan.max_age %s", Words(now.Sub(lastGood)), Words(f.MaxAge)))
	}
	if limit := f.TierMaxLag(tier); limit > 0 && trace != nil {
		if lag := now.Sub(*trace); lag > limit {
			why = append(why, fmt.Sprintf("trace %s old, over tier %d's maximum lag of %s", Words(lag), tier, Words(limit)))
		}
	}
	return why
}

// Words writes a span for people in the two largest units that matter:
// "45 s", "12 min", "3 h 5 min", "2 d 4 h". Reasons, pages and lists all
// use it, so a lag reads the same everywhere.
func Words(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		if d == 0 {
			return "0 s"
		}
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return strconv.Itoa(h) + " h"
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return strconv.Itoa(days) + " d"
	}
	return fmt.Sprintf("%d d %d h", days, h)
}

// ProbesDown applies the redirector's rule to a mirror's probe health:
// clients go to HTTP(S) only, so the mirror is down when one of its HTTP(S)
// protocols answers over no address family. A family answers when it is up
// and its last probe worked: a failing one is out at once, before the
// tracker's hysteresis confirms it down. probed is false while no
// HTTP(S) probe has a result (a new mirror is not held against). down lists
// the protocols that are down, each with the failures' reasons.
func ProbesDown(hs []probe.Health) (probed bool, down []string) {
	type protoState struct {
		up      bool
		reasons []string
	}
	var order []registry.Protocol
	byProto := map[registry.Protocol]*protoState{}
	for _, h := range hs {
		if h.Protocol != registry.HTTP && h.Protocol != registry.HTTPS || !h.Known {
			continue
		}
		probed = true
		ps := byProto[h.Protocol]
		if ps == nil {
			ps = &protoState{}
			byProto[h.Protocol] = ps
			order = append(order, h.Protocol)
		}
		switch {
		case h.Up && !h.Failing:
			ps.up = true
		case h.Up: // failing, not yet confirmed down: no clients meanwhile
			ps.reasons = append(ps.reasons, fmt.Sprintf("%s (%s, %d failed %s in a row, retrying)", h.Reason, h.Family, h.Streak, plural(h.Streak, "probe")))
		case h.Reason != "":
			ps.reasons = append(ps.reasons, h.Reason+" ("+h.Family.String()+")")
		}
	}
	slices.Sort(order)
	for _, p := range order {
		if ps := byProto[p]; !ps.up {
			s := string(p)
			if len(ps.reasons) > 0 {
				s += ": " + strings.Join(ps.reasons, ", ")
			}
			down = append(down, s)
		}
	}
	return probed, down
}

// ScanOf summarises a stored scan for the public, with the lag the mirror
// showed at the time (the scan's end minus the trace it read).
func ScanOf(r store.ScanRecord) Scan {
	s := Scan{At: r.FinishedAt.UTC(), OK: r.OK, Protocol: r.Protocol, Current: r.Current, Stale: r.Stale,
		Missing: r.Missing, Claimed: r.Claimed, Error: r.Error,
		DurationMs: max(0, r.FinishedAt.Sub(r.StartedAt).Milliseconds())}
	if r.TraceTime != nil {
		t := r.TraceTime.UTC()
		lag := math.Round(max(0, r.FinishedAt.Sub(t).Seconds()))
		s.TraceTime, s.LagSeconds = &t, &lag
	}
	return s
}

// Build draws the network: every public mirror, sorted by name, with its
// state and every reason it gets no clients. Private mirrors are left out
// entirely, and only public fields are copied, so private notes, contacts,
// netblocks and the disabled reason cannot leak through any view.
func Build(in Inputs) *Network {
	now := in.Now.UTC()
	n := &Network{Generated: now, Files: in.Files, Totals: map[State]int{Up: 0, Down: 0, Stale: 0, Disabled: 0, Unknown: 0},
		Mirrors: []Mirror{}}
	if !in.CatalogBuilt.IsZero() {
		n.CatalogBuilt = in.CatalogBuilt.UTC()
	}
	sites := make(map[string]registry.Site, len(in.Sites))
	for _, s := range in.Sites {
		sites[s.Name] = s
	}
	for _, m := range in.Mirrors {
		if !m.Public {
			continue
		}
		pm := mirror(m, sites[m.Site], in, now)
		n.Totals[pm.State]++
		n.Mirrors = append(n.Mirrors, pm)
	}
	slices.SortFunc(n.Mirrors, func(a, b Mirror) int { return strings.Compare(a.Name, b.Name) })
	return n
}

func mirror(m registry.Mirror, site registry.Site, in Inputs, now time.Time) Mirror {
	pm := Mirror{Name: m.Name, Site: m.Site, Sponsor: site.Sponsor, SponsorURL: site.SponsorURL,
		Country: m.Location.Country, Continent: m.Location.Continent, City: m.Location.City,
		Latitude: copyFloat(m.Location.Latitude), Longitude: copyFloat(m.Location.Longitude),
		Tier: m.Tier, Bandwidth: m.BandwidthMbps, URLs: map[string]string{}, IPv4: m.IPv4, IPv6: m.IPv6,
		Content: slices.Clone(m.Content)}
	for _, p := range m.URLs.Offered() {
		pm.URLs[string(p)] = m.URLs.Get(p)
	}
	if limit := in.Freshness.TierMaxLag(m.Tier); limit > 0 {
		s := limit.Seconds()
		pm.MaxLagSeconds = &s
	}
	for _, h := range in.Probes[m.ID] {
		if !h.Known {
			continue
		}
		pm.Probes = append(pm.Probes, Probe{Protocol: h.Protocol, Family: h.Family.String(), Up: h.Up, Failing: h.Failing,
			Since: h.Since.UTC(), Last: h.Last.UTC(), LatencyMs: millis(h.Latency),
			Reason: h.Reason})
	}

	info, scanned := in.Scans[m.ID]
	var trace *time.Time
	if scanned {
		last := ScanOf(info.Latest)
		pm.LastScan = &last
		if !info.LastGood.IsZero() {
			t := info.LastGood.UTC()
			pm.LastGoodScan = &t
		}
		good := info.good()
		trace = info.Trace()
		if good != nil && good.Claimed > 0 {
			pm.Completion = math.Round(float64(good.Current)/float64(good.Claimed)*1000) / 10
		}
		if trace != nil {
			t := trace.UTC()
			lag := math.Round(now.Sub(t).Seconds())
			pm.TraceTime, pm.LagSeconds = &t, &lag
		}
	}

	// Every reason, in the order of the states they lead to; the first
	// decides the state.
	if !m.Enabled {
		pm.State = Disabled
		pm.Reasons = append(pm.Reasons, "disabled by an administrator")
	}
	if !scanned {
		if pm.State == "" {
			pm.State = Unknown
		}
		pm.Reasons = append(pm.Reasons, "not scanned yet")
	}
	probed, down := ProbesDown(in.Probes[m.ID])
	if probed && len(down) > 0 || in.Rescanning[m.ID] {
		if pm.State == "" {
			pm.State = Down
		}
		for _, d := range down {
			pm.Reasons = append(pm.Reasons, "down according to probes: "+d)
		}
		if in.Rescanning[m.ID] {
			pm.Reasons = append(pm.Reasons, "back up, waiting for a rescan before it gets clients")
		}
	}
	if scanned {
		if stale := in.Freshness.Stale(m.Tier, info.LastGood, trace, now); len(stale) > 0 {
			if pm.State == "" {
				pm.State = Stale
			}
			for _, s := range stale {
				pm.Reasons = append(pm.Reasons, "stale: "+s)
			}
		}
	}
	if pm.State == "" {
		pm.State = Up
	}
	return pm
}

func copyFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
