// Package probe checks that mirrors answer, and keeps each mirror's up/down
// state with hysteresis.
//
// A probe is cheap on purpose: one small request per mirror, protocol and
// address family (HEAD of a small file known to be current over HTTP(S),
// SIZE over FTP, the daemon greeting and module check over rsync), bounded
// by a timeout. A scan proves what a mirror holds; a probe only says whether
// it answers right now, often enough (every minute by default) to stop
// sending clients to a mirror that went away long before its next scan.
//
// One failed probe is not an outage: networks drop packets. A target goes
// down after DownAfter consecutive failures and comes back after UpAfter
// consecutive successes, and every state carries the reason a person needs
// to act on it ("connection refused", "404 on /TIME", "TLS certificate
// expired"). The tracker keeps a short history per target for pages and
// APIs.
//
// The package knows nothing of selection or the store: the redirector feeds
// the state into selection, and whoever persists history does it from the
// results.
package probe
