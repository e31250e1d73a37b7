package netstatus

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/probe"
	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/store"
)

// History is one mirror's recent past: its scans, each with the lag it
// showed then, and its probes. The network picture keeps only the present;
// the mirror's page and the API's mirror detail read this on request.
type History struct {
	// Scans are the most recent scans, newest first.
	Scans []Scan `json:"scans"`
	// ScansError is set when the scans could not be read; Scans is then
	// empty and the rest of the answer still stands.
	ScansError string `json:"scans_error,omitempty"`
	// Probes are the recent probe results of every protocol and family,
	// newest first.
	Probes []ProbeResult `json:"probe_history"`
}

// ProbeResult is one probe, for the public.
type ProbeResult struct {
	At        time.Time         `json:"at"`
	Protocol  registry.Protocol `json:"protocol"`
	Family    string            `json:"family"`
	OK        bool              `json:"ok"`
	LatencyMs float64           `json:"latency_ms"`
	Reason    string            `json:"reason,omitempty"`
}

// ScansOf summarises stored scans for the public, in the order given.
func ScansOf(recs []store.ScanRecord) []Scan {
	out := make([]Scan, 0, len(recs))
	for _, r := range recs {
		out = append(out, ScanOf(r))
	}
	return out
}

// ProbesOf turns probe results into public ones, newest first. Only the
// target's protocol and family are kept: its URL and probe path are the
// operator's business.
func ProbesOf(rs []probe.Result) []ProbeResult {
	out := make([]ProbeResult, 0, len(rs))
	for _, r := range rs {
		out = append(out, ProbeResult{At: r.At.UTC(), Protocol: r.Protocol, Family: r.Family.String(), OK: r.OK,
			LatencyMs: millis(r.Latency), Reason: r.Reason})
	}
	slices.SortStableFunc(out, func(a, b ProbeResult) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Family, b.Family))
	})
	return out
}

// millis rounds a latency to hundredths of a millisecond.
func millis(d time.Duration) float64 {
	return math.Round(float64(d.Microseconds())/10) / 100
}
