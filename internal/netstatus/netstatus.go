package netstatus

import (
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// State is a mirror's overall state, in the order a reader cares.
type State string

// The states. "up" mirrors get clients; the others say why not.
const (
	Up       State = "up"       // enabled, fresh, answering probes
	Down     State = "down"     // probes say it does not answer
	Stale    State = "stale"    // no good scan recently, or behind beyond its tier's maximum lag
	Disabled State = "disabled" // an administrator turned it off
	Unknown  State = "unknown"  // never scanned yet
)

// Network is the whole picture.
type Network struct {
	Generated time.Time `json:"generated"`
	// Files is the number of public catalog files; CatalogBuilt when the
	// catalog was last built.
	Files        int       `json:"files"`
	CatalogBuilt time.Time `json:"catalog_built,omitzero"`
	// Totals counts the mirrors by state.
	Totals  map[State]int `json:"totals"`
	Mirrors []Mirror      `json:"mirrors"`
}

// Mirror is one public mirror.
type Mirror struct {
	Name       string            `json:"name"`
	Site       string            `json:"site"`
	Sponsor    string            `json:"sponsor,omitempty"`
	SponsorURL string            `json:"sponsor_url,omitempty"`
	Country    string            `json:"country"`
	Continent  string            `json:"continent"`
	City       string            `json:"city,omitempty"`
	Latitude   *float64          `json:"latitude,omitempty"`
	Longitude  *float64          `json:"longitude,omitempty"`
	Tier       int               `json:"tier"`
	Bandwidth  int64             `json:"bandwidth_mbps,omitempty"`
	URLs       map[string]string `json:"urls"` // protocol → base URL, only those it has
	IPv4       bool              `json:"ipv4"`
	IPv6       bool              `json:"ipv6"`
	// Content lists the subtrees a partial mirror carries; empty is all.
	Content []string `json:"content,omitempty"`

	State State `json:"state"`
	// Reasons says why the mirror gets no clients right now; empty when up.
	Reasons []string `json:"reasons,omitempty"`
	// LastScan is the last scan attempt; LastGoodScan the last that worked.
	LastScan     *Scan      `json:"last_scan,omitempty"`
	LastGoodScan *time.Time `json:"last_good_scan,omitempty"`
	// Completion is the share of claimed files it holds, 0..100.
	Completion float64 `json:"completion"`
	// TraceTime is the upstream trace seen on the mirror; Lag is Generated
	// minus it (seconds), the age of its copy.
	TraceTime  *time.Time `json:"trace_time,omitempty"`
	LagSeconds *float64   `json:"lag_seconds,omitempty"`
	// MaxLagSeconds is the lag beyond which the mirror is stale, its
	// tier's probe.max_lag; absent when its tier has no limit.
	MaxLagSeconds *float64 `json:"max_lag_seconds,omitempty"`
	Probes        []Probe  `json:"probes,omitempty"`
}

// Scan summarises one scan.
type Scan struct {
	At         time.Time `json:"at"`
	OK         bool      `json:"ok"`
	Protocol   string    `json:"protocol,omitempty"`
	Current    int       `json:"current"`
	Stale      int       `json:"stale"`
	Missing    int       `json:"missing"`
	Claimed    int       `json:"claimed"`
	Error      string    `json:"error,omitempty"`
	DurationMs int64     `json:"duration_ms"`
	// TraceTime is the upstream trace the scan read; LagSeconds the
	// mirror's lag then (At minus TraceTime). Absent when none was read.
	TraceTime  *time.Time `json:"trace_time,omitempty"`
	LagSeconds *float64   `json:"lag_seconds,omitempty"`
}

// Probe is the state of one protocol over one address family.
type Probe struct {
	Protocol registry.Protocol `json:"protocol"`
	Family   string            `json:"family"` // "ipv4" or "ipv6"
	Up       bool              `json:"up"`
	// Failing: the last probe failed; the mirror gets no clients over
	// this protocol until one works, though it is not confirmed down yet.
	Failing   bool      `json:"failing,omitempty"`
	Since     time.Time `json:"since"`
	Last      time.Time `json:"last"`
	LatencyMs float64   `json:"latency_ms"`
	Reason    string    `json:"reason,omitempty"`
}

// Mirror returns the named mirror.
func (n *Network) Mirror(name string) (Mirror, bool) {
	for _, m := range n.Mirrors {
		if m.Name == name {
			return m, true
		}
	}
	return Mirror{}, false
}
