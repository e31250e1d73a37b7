package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gaissmai/bart"
)

// Resolver finds a request's client address.
type Resolver struct {
	trusted *bart.Table[struct{}]
}

// New builds a resolver trusting the given proxies: CIDRs ("10.0.0.0/8") or
// single addresses. With none, headers are never read.
func New(trusted []string) (*Resolver, error) {
	r := &Resolver{trusted: &bart.Table[struct{}]{}}
	for _, s := range trusted {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR", s)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		r.trusted.Insert(p.Masked(), struct{}{})
	}
	return r, nil
}

// Trusted reports whether addr is a trusted proxy.
func (r *Resolver) Trusted(addr netip.Addr) bool {
	_, ok := r.trusted.Lookup(addr.Unmap())
	return ok
}

// Addr returns the client address of a request; ok is false only when even
// the connection's address cannot be read (a handler called outside a server).
func (r *Resolver) Addr(req *http.Request) (netip.Addr, bool) {
	peer, ok := parseHostPort(req.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !r.Trusted(peer) {
		return peer, true
	}
	// Forwarded is the standard; X-Forwarded-For only when it is absent. A
	// proxy appends to one of them, and mixing both would let a client use
	// the one its proxy does not touch.
	var hops []string
	if fw := req.Header.Values("Forwarded"); len(fw) > 0 {
		hops = forwardedFor(fw)
	} else {
		for _, v := range req.Header.Values("X-Forwarded-For") {
			for _, h := range strings.Split(v, ",") {
				hops = append(hops, strings.TrimSpace(h))
			}
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			// Unreadable: nothing to its left can be attributed to anyone
			// we trust. The last address we could vouch for stands.
			return client, true
		}
		if !r.Trusted(a) {
			return a, true
		}
		client = a
	}
	return client, true
}

// forwardedFor extracts the for= values of every Forwarded element, in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, v := range values {
		for _, elem := range splitQuoted(v, ',') {
			found := false
			for _, pair := range splitQuoted(elem, ';') {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					out = append(out, strings.Trim(strings.TrimSpace(val), `"`))
					found = true
				}
			}
			if !found {
				out = append(out, "") // an element without for= breaks the chain
			}
		}
	}
	return out
}

// splitQuoted splits on sep outside double quotes.
func splitQuoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseHop reads one hop: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1",
// "[2001:db8::1]" or "[2001:db8::1]:4711". "unknown" and obfuscated
// identifiers ("_hidden") are not addresses.
func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), true
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil && a.Is6() {
			return a, true
		}
		return netip.Addr{}, false
	}
	return parseHostPort(h)
}

func parseHostPort(s string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
