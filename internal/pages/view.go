package pages

import (
	"cmp"
	"fmt"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/country"
	"github.com/mirrorkit/mirrorkit/internal/netstatus"
	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// siteView is what every page shows around its content.
type siteView struct {
	Title        string
	Prefix       string
	StyleURL     string
	APIURL       string
	GeoCredit    string
	GeoCreditURL template.URL
}

type listView struct {
	Site         siteView
	Generated    time.Time
	CatalogBuilt time.Time
	Files        int
	Total        int
	Totals       []totalView
	Map          mapView
	MapURL       string
	Continents   []continentView
}

type totalView struct {
	State stateView
	Count int
}

type continentView struct {
	ID, Name  string
	Count     int
	Countries []countryView
}

type countryView struct {
	ID, Name string
	Mirrors  []mirrorView
}

// mirrorView is one mirror as the pages write it: every value already in
// words, so the templates only place them.
type mirrorView struct {
	Name           string
	Href           string
	Site           string
	Sponsor        string
	SponsorURL     template.URL // empty unless http(s)
	SponsorURLText string
	City           string
	CountryName    string
	ContinentName  string
	Coordinates    string
	Tier           int
	Bandwidth      string
	Protocols      []protocolView
	IPv4, IPv6     bool
	Content        []string
	State          stateView
	Reasons        []string
	Completion     string
	Lag            lagView
	// MaxLag is the lag beyond which the mirror counts as stale, or "".
	MaxLag string
}

type protocolView struct {
	Name string
	URL  template.URL // empty when the scheme is not one a mirror may use
	Text string
}

type lagView struct {
	Known bool
	At    time.Time
	Text  string
}

type mirrorPage struct {
	Site         siteView
	Generated    time.Time
	M            mirrorView
	LastGoodScan stampView
	Probes       []probeView
	Scans        []scanView
	// ScansNote says why the scan history is missing, when it is.
	ScansNote   string
	LagChart    lagChart
	ProbeTracks []probeTrack
	Failures    []probeFailure
}

type probeView struct {
	Protocol string
	Family   string
	State    stateView
	Since    stampView
	Last     stampView
	Latency  string
	Reason   string
}

type scanView struct {
	At                               stampView
	State                            stateView
	Protocol                         string
	Current, Stale, Missing, Claimed int
	Took                             string
	Error                            string
	Lag                              string
}

type errorPage struct {
	Site      siteView
	Generated time.Time
	Heading   string
	Message   string
}

// countStates uses the model's totals, the one count the API shows too, and
// counts the mirrors only when a model comes without them.
func countStates(n *netstatus.Network) map[netstatus.State]int {
	if n.Totals != nil {
		return n.Totals
	}
	c := make(map[netstatus.State]int)
	for _, m := range n.Mirrors {
		c[m.State]++
	}
	return c
}

func (h *handler) buildList(n *netstatus.Network) listView {
	v := listView{
		Site:         h.site,
		Generated:    n.Generated,
		CatalogBuilt: n.CatalogBuilt,
		Files:        n.Files,
		Total:        len(n.Mirrors),
		Map:          h.buildMap(n, false),
		MapURL:       h.opts.Prefix + "map.svg",
	}
	counts := countStates(n)
	known := make(map[netstatus.State]bool)
	for _, s := range orderedStates() {
		known[s] = true
		v.Totals = append(v.Totals, totalView{viewState(s), counts[s]})
	}
	var extra []netstatus.State
	for s := range counts {
		if !known[s] && counts[s] > 0 {
			extra = append(extra, s)
		}
	}
	slices.Sort(extra)
	for _, s := range extra {
		v.Totals = append(v.Totals, totalView{viewState(s), counts[s]})
	}

	// Group by continent, then country, each by name; mirrors by name.
	byCont := make(map[string]map[string][]mirrorView)
	for _, m := range n.Mirrors {
		mv := h.viewMirror(m, n.Generated)
		if byCont[mv.ContinentName] == nil {
			byCont[mv.ContinentName] = make(map[string][]mirrorView)
		}
		byCont[mv.ContinentName][mv.CountryName] = append(byCont[mv.ContinentName][mv.CountryName], mv)
	}
	for cname, countries := range byCont {
		cv := continentView{ID: "c-" + slug(cname), Name: cname}
		for name, ms := range countries {
			slices.SortFunc(ms, func(a, b mirrorView) int { return strings.Compare(a.Name, b.Name) })
			cv.Countries = append(cv.Countries, countryView{ID: "k-" + slug(name), Name: name, Mirrors: ms})
			cv.Count += len(ms)
		}
		slices.SortFunc(cv.Countries, func(a, b countryView) int { return unknownLast(a.Name, b.Name) })
		v.Continents = append(v.Continents, cv)
	}
	slices.SortFunc(v.Continents, func(a, b continentView) int { return unknownLast(a.Name, b.Name) })
	return v
}

const unknownPlace = "Unknown"

// unknownLast orders names alphabetically with "Unknown" at the end.
func unknownLast(a, b string) int {
	if (a == unknownPlace) != (b == unknownPlace) {
		if a == unknownPlace {
			return 1
		}
		return -1
	}
	return strings.Compare(a, b)
}

// buildMirror lays out a mirror's page; hist is nil when the pages have no
// history source.
func (h *handler) buildMirror(n *netstatus.Network, m netstatus.Mirror, hist *netstatus.History) mirrorPage {
	p := mirrorPage{Site: h.site, Generated: n.Generated, M: h.viewMirror(m, n.Generated)}
	if m.LastGoodScan != nil {
		p.LastGoodScan = stamp(*m.LastGoodScan, n.Generated)
	}
	for _, pr := range m.Probes {
		p.Probes = append(p.Probes, probeView{
			Protocol: string(pr.Protocol),
			Family:   familyName(pr.Family),
			State:    probeState(pr.Up, pr.Failing),
			Since:    stamp(pr.Since, n.Generated),
			Last:     stamp(pr.Last, n.Generated),
			Latency:  latency(pr.LatencyMs),
			Reason:   pr.Reason,
		})
	}
	order := protocolOrder()
	slices.SortStableFunc(p.Probes, func(a, b probeView) int {
		return cmp.Or(cmp.Compare(order[a.Protocol], order[b.Protocol]), strings.Compare(a.Protocol, b.Protocol), strings.Compare(a.Family, b.Family))
	})
	// Without a history (no store behind the pages), the last scan alone.
	scans := []netstatus.Scan{}
	if hist != nil {
		scans, p.ScansNote = hist.Scans, hist.ScansError
		p.LagChart = buildLagChart(scans, m.MaxLagSeconds)
		p.ProbeTracks, p.Failures = buildProbeHistory(hist.Probes, n.Generated)
	} else if m.LastScan != nil {
		scans = append(scans, *m.LastScan)
	}
	for _, s := range scans {
		v := scanView{
			At: stamp(s.At, n.Generated), State: scanState(s.OK), Protocol: s.Protocol,
			Current: s.Current, Stale: s.Stale, Missing: s.Missing, Claimed: s.Claimed,
			Took: duration(time.Duration(s.DurationMs) * time.Millisecond), Error: s.Error,
		}
		if s.LagSeconds != nil {
			v.Lag = duration(seconds(*s.LagSeconds))
		}
		p.Scans = append(p.Scans, v)
	}
	return p
}

// protocolOrder ranks protocols as the registry lists them, plain http last.
func protocolOrder() map[string]int {
	o := make(map[string]int)
	for i, p := range registry.Protocols() {
		o[string(p)] = i
	}
	return o
}

func familyName(f string) string {
	switch f {
	case "ipv4":
		return "IPv4"
	case "ipv6":
		return "IPv6"
	}
	return f
}

func (h *handler) viewMirror(m netstatus.Mirror, now time.Time) mirrorView {
	v := mirrorView{
		Name:          m.Name,
		Href:          h.mirrorHref(m.Name),
		Site:          m.Site,
		Sponsor:       m.Sponsor,
		City:          m.City,
		CountryName:   cmp.Or(countryName(m.Country), unknownPlace),
		ContinentName: cmp.Or(country.Continent(m.Continent).Name(), unknownPlace),
		Tier:          m.Tier,
		Bandwidth:     bandwidth(m.Bandwidth),
		IPv4:          m.IPv4,
		IPv6:          m.IPv6,
		Content:       m.Content,
		State:         viewState(m.State),
		Reasons:       m.Reasons,
		Completion:    percent(m.Completion),
	}
	if v.ContinentName == unknownPlace {
		if c, ok := country.ContinentOf(m.Country); ok {
			v.ContinentName = c.Name()
		}
	}
	if u, ok := linkURL(m.SponsorURL, "http", "https"); ok {
		v.SponsorURL = u
		v.SponsorURLText = m.SponsorURL
	}
	if m.Latitude != nil && m.Longitude != nil && finite(*m.Latitude) && finite(*m.Longitude) {
		v.Coordinates = coordinates(*m.Latitude, *m.Longitude)
	}
	order := protocolOrder()
	names := make([]string, 0, len(m.URLs))
	for p := range m.URLs {
		names = append(names, p)
	}
	slices.SortFunc(names, func(a, b string) int {
		oa, ka := order[a]
		ob, kb := order[b]
		if ka != kb {
			if ka {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(oa, ob), strings.Compare(a, b))
	})
	for _, p := range names {
		raw := m.URLs[p]
		pv := protocolView{Name: p, Text: raw}
		if u, ok := linkURL(raw, "http", "https", "ftp", "rsync"); ok {
			pv.URL = u
		}
		v.Protocols = append(v.Protocols, pv)
	}
	if m.MaxLagSeconds != nil && finite(*m.MaxLagSeconds) && *m.MaxLagSeconds > 0 {
		v.MaxLag = duration(time.Duration(*m.MaxLagSeconds * float64(time.Second)))
	}
	if m.TraceTime != nil {
		v.Lag = lagView{Known: true, At: *m.TraceTime}
		switch {
		case m.LagSeconds != nil && finite(*m.LagSeconds):
			v.Lag.Text = duration(time.Duration(*m.LagSeconds * float64(time.Second)))
		case !now.IsZero():
			v.Lag.Text = duration(now.Sub(*m.TraceTime))
		default:
			v.Lag.Text = when(*m.TraceTime)
		}
	}
	return v
}

// mirrorHref is the per-mirror page. Registry names are URL-safe already;
// escaping keeps a link a link whatever a model holds.
func (h *handler) mirrorHref(name string) string {
	return h.opts.Prefix + url.PathEscape(name)
}

// linkURL trusts a URL as a link target only when it parses as absolute with
// one of the given schemes and a host. html/template would otherwise replace
// rsync:// and ftp:// links, which mirrors legitimately have, with
// "#ZgotmplZ"; anything else stays text.
func linkURL(raw string, schemes ...string) (template.URL, bool) {
	if raw == "" {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return "", false
	}
	return template.URL(u.String()), true
}

func countryName(code string) string {
	if c, ok := country.Lookup(code); ok {
		return c.Name
	}
	return ""
}

// slug makes an id fragment from a place name: letters and digits, lower case.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// bandwidth writes Mbit/s as a reader says it.
func bandwidth(mbps int64) string {
	switch {
	case mbps <= 0:
		return "—"
	case mbps >= 1000:
		return trimZero(strconv.FormatFloat(float64(mbps)/1000, 'f', 1, 64)) + " Gbit/s"
	}
	return strconv.FormatInt(mbps, 10) + " Mbit/s"
}

func percent(p float64) string {
	if !finite(p) {
		return "—"
	}
	p = max(0, min(p, 100))
	// 99.96 must not read as a complete 100 %.
	s := trimZero(strconv.FormatFloat(math.Floor(p*10)/10, 'f', 1, 64))
	return s + " %"
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

func latency(ms float64) string {
	if !finite(ms) || ms <= 0 {
		return "—"
	}
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(math.Round(ms), 'f', 0, 64) + " ms"
}

func coordinates(lat, lon float64) string {
	ns, ew := "N", "E"
	if lat < 0 {
		ns, lat = "S", -lat
	}
	if lon < 0 {
		ew, lon = "W", -lon
	}
	return fmt.Sprintf("%.2f° %s, %.2f° %s", lat, ns, lon, ew)
}

func duration(d time.Duration) string { return netstatus.Words(d) }

// stampView is a moment shown relative to the model's generation time, with
// the absolute time for machines and hover.
type stampView struct {
	At  time.Time
	Ago string
}

// stamp measures against the model's own clock rather than the request's,
// so a page is a pure function of its Network and can be cached with it.
func stamp(t, now time.Time) stampView {
	switch {
	case t.IsZero():
		return stampView{}
	case now.IsZero() || t.After(now):
		return stampView{t, when(t)}
	}
	return stampView{t, duration(now.Sub(t)) + " ago"}
}

// when writes an absolute time in UTC, to the minute.
func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }
