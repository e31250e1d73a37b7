package probe

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// Family is the IP address family a probe connects over.
type Family uint8

// The families. A mirror reachable over one and not the other is up for
// clients of the one only.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "ipv6"
	}
	return "ipv4"
}

// network is the Go dial network for the family.
func (f Family) network() string {
	if f == IPv6 {
		return "tcp6"
	}
	return "tcp4"
}

// Target is one thing to probe: a mirror's URL for one protocol, over one
// address family, and a small file below it that should exist.
type Target struct {
	MirrorID int64             `json:"mirror_id"`
	Protocol registry.Protocol `json:"protocol"`
	Family   Family            `json:"family"`
	// URL is the mirror's base URL for the protocol.
	URL string `json:"url"`
	// Path is a small file, slash-led, relative to URL ("/TIME"); "" probes
	// only that the service answers.
	Path string `json:"path"`
}

// Key identifies a target's state across rounds.
type Key struct {
	MirrorID int64
	Protocol registry.Protocol
	Family   Family
}

// Key returns the target's key.
func (t Target) Key() Key { return Key{t.MirrorID, t.Protocol, t.Family} }

// Result is one probe's outcome.
type Result struct {
	Target
	At      time.Time     `json:"at"`
	OK      bool          `json:"ok"`
	Latency time.Duration `json:"latency"`
	// Reason says why a probe failed, in words an operator can act on.
	Reason string `json:"reason,omitempty"`
	// Class sorts the reason into a few kinds for metrics (timeout,
	// refused, reset, unreachable, dns, tls, http_status, other), so a
	// dashboard can count failures without one series per message.
	Class string `json:"class,omitempty"`
}

// Prober runs one probe of any protocol.
type Prober struct {
	// Timeout bounds one probe, connect to answer.
	Timeout time.Duration
	// RootCAs verifies HTTPS mirrors; nil is the system's pool.
	RootCAs *x509.CertPool
	// Dial, when set, replaces the dialer (tests use it to reach loopback
	// servers under other names).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// DefaultTimeout bounds a probe when Prober.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Probe checks one target. It never returns an error: a failure is a result.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	r := Result{Target: t, At: now()}
	start := time.Now()
	var err error
	switch t.Protocol {
	case registry.HTTP, registry.HTTPS:
		err = p.http(ctx, t)
	case registry.RSYNC:
		err = p.rsync(ctx, t)
	case registry.FTP:
		err = p.ftp(ctx, t)
	default:
		err = fmt.Errorf("no probe for protocol %q", t.Protocol)
	}
	r.Latency = time.Since(start)
	r.OK = err == nil
	if err != nil {
		r.Class, r.Reason = explain(err, timeout)
	}
	return r
}

func (p *Prober) dial(ctx context.Context, f Family, addr string) (net.Conn, error) {
	if p.Dial != nil {
		return p.Dial(ctx, f.network(), addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, f.network(), addr)
}
