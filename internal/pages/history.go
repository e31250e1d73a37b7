package pages

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/netstatus"
)

// The charts are inline SVG in the page (no script, no image request),
// drawn in viewBox units and scaled to the column by CSS. Each carries a
// text equivalent next to it: the scans table and the probes' summary.
const (
	chartW, chartH = 600.0, 120.0
	// cellW and cellGap size one probe in a probe strip.
	cellW, cellGap = 8.0, 2.0
	stripH         = 18.0
	// maxFailures is how many recent failed probes the page lists.
	maxFailures = 10
	// chartSlots is the bars the lag chart has room for: the redirector's
	// scan history (20).
	chartSlots = 20
)

// lagChart draws each scan's lag as a bar, oldest on the left, against the
// tier's maximum lag when there is one.
type lagChart struct {
	W, H   float64
	Bars   []lagBar
	Limit  float64 // y of the maximum-lag line; <0 when none
	Top    string  // the lag at the chart's top edge, in words
	Label  string  // the chart's text alternative
	HasAny bool
}

type lagBar struct {
	X, Y, W, H float64
	Class      string // state-up within the limit, state-stale beyond
	Title      string
}

func buildLagChart(scans []netstatus.Scan, maxLag *float64) lagChart {
	c := lagChart{W: chartW, H: chartH, Limit: -1}
	var pts []netstatus.Scan
	for _, s := range scans {
		if s.LagSeconds != nil {
			pts = append(pts, s)
		}
	}
	if len(pts) == 0 {
		return c
	}
	slices.SortStableFunc(pts, func(a, b netstatus.Scan) int { return a.At.Compare(b.At) })
	top := 0.0
	for _, s := range pts {
		top = max(top, *s.LagSeconds)
	}
	if maxLag != nil {
		top = max(top, *maxLag)
	}
	top = max(top*1.1, 60) // headroom, and never a zero scale
	// A slot per scan the history can hold, the newest on the right edge:
	// a few scans are a few bars, not a few slabs.
	slots := max(len(pts), chartSlots)
	slot := chartW / float64(slots)
	w := slot * 0.7
	for i, s := range pts {
		lag := *s.LagSeconds
		h := lag / top * chartH
		b := lagBar{X: float64(slots-len(pts)+i)*slot + (slot-w)/2, Y: chartH - h, W: w, H: h, Class: "state-up",
			Title: fmt.Sprintf("%s: %s behind", when(s.At), duration(seconds(lag)))}
		if maxLag != nil && lag > *maxLag {
			b.Class = "state-stale"
			b.Title += ", over the maximum"
		}
		c.Bars = append(c.Bars, b)
	}
	if maxLag != nil {
		c.Limit = chartH - *maxLag/top*chartH
	}
	c.HasAny = true
	c.Top = duration(seconds(top))
	last := *pts[len(pts)-1].LagSeconds
	c.Label = fmt.Sprintf("Lag at each of the last %d scans that read a trace, oldest first; the latest %s", len(pts), duration(seconds(last)))
	if maxLag != nil {
		c.Label += ", the maximum " + duration(seconds(*maxLag))
	}
	return c
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// probeTrack is one protocol over one family: a strip of its recent probes,
// oldest on the left, and a summary in words.
type probeTrack struct {
	Protocol, Family string
	W, H             float64
	Cells            []probeCell
	Summary          string
}

type probeCell struct {
	X     float64
	Class string
	Title string
}

type probeFailure struct {
	At       stampView
	Protocol string
	Family   string
	Reason   string
}

func buildProbeHistory(rs []netstatus.ProbeResult, now time.Time) ([]probeTrack, []probeFailure) {
	type key struct{ p, f string }
	byKey := map[key][]netstatus.ProbeResult{}
	for _, r := range rs {
		k := key{string(r.Protocol), r.Family}
		byKey[k] = append(byKey[k], r)
	}
	order := protocolOrder()
	keys := make([]key, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(order[a.p], order[b.p]), strings.Compare(a.p, b.p), strings.Compare(a.f, b.f))
	})
	var tracks []probeTrack
	for _, k := range keys {
		list := byKey[k]
		slices.SortStableFunc(list, func(a, b netstatus.ProbeResult) int { return a.At.Compare(b.At) })
		t := probeTrack{Protocol: k.p, Family: familyName(k.f), W: float64(len(list))*(cellW+cellGap) - cellGap, H: stripH}
		ok := 0
		var lat []float64
		for i, r := range list {
			c := probeCell{X: float64(i) * (cellW + cellGap), Class: "state-up", Title: when(r.At) + ": answered in " + latency(r.LatencyMs)}
			if r.OK {
				ok++
				lat = append(lat, r.LatencyMs)
			} else {
				c.Class, c.Title = "state-down", when(r.At)+": "+r.Reason
			}
			t.Cells = append(t.Cells, c)
		}
		t.Summary = fmt.Sprintf("%d of %d probes answered since %s", ok, len(list), when(list[0].At))
		if len(lat) > 0 {
			slices.Sort(lat)
			t.Summary += "; median latency " + latency(lat[len(lat)/2])
		}
		tracks = append(tracks, t)
	}
	var fails []probeFailure
	for _, r := range rs { // newest first, as the history comes
		if !r.OK && len(fails) < maxFailures {
			fails = append(fails, probeFailure{At: stamp(r.At, now), Protocol: string(r.Protocol), Family: familyName(r.Family), Reason: r.Reason})
		}
	}
	return tracks, fails
}
