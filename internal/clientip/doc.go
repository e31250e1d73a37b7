// Package clientip decides which address a request comes from. The
// connection's peer is the client unless that peer is a configured trusted
// proxy; then the proxy's Forwarded (RFC 7239) or X-Forwarded-For header is
// read from the right, skipping trusted proxies, and the first address that
// is not one is the client. Everything to its left was written by the client
// itself and is ignored, so nobody can choose their location, and with it
// their mirror, by sending a header.
package clientip
