package policy

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/catalog"
)

// DefaultServeLocally are the metadata files of the common package formats,
// which change in place at every repository update.
var defaultServeLocally = []string{
	// dnf/yum/zypper (RPM): the repository index and its signatures.
	"repomd.xml", "repomd.xml.asc", "repomd.xml.key", "*.repo",
	// apt (Debian): release files and their signatures.
	"Release", "Release.gpg", "InRelease",
	// pacman (Arch, Parabola): repository databases and signatures.
	"*.db", "*.db.sig", "*.files", "*.files.sig", "*.db.tar.gz", "*.files.tar.gz",
	// Mirror freshness markers, which clients and scanners compare.
	"/TIME", "/lastupdate", "/lastsync",
}

// DefaultServeLocally returns the default patterns (a fresh copy).
func DefaultServeLocally() []string { return append([]string(nil), defaultServeLocally...) }

// DefaultMinRedirectSize: smaller files are served directly. A redirect costs
// a round trip and a new connection, more than a file of a few KiB.
const DefaultMinRedirectSize = 4 << 10

// MaxOutdatedLag bounds Outdated.MaxLag: a mirror a month behind is not a
// mirror of this version in any useful sense.
const MaxOutdatedLag = 30 * 24 * time.Hour

// Outdated lets mirrors still holding a file's previous version serve it,
// for up to MaxLag after the catalog took in the new version, for files under
// Prefix (a directory, or "/" for the whole tree).
type Outdated struct {
	Prefix string
	MaxLag time.Duration
}

// Policy is the decision, built once from configuration.
type Policy struct {
	local    catalog.Excludes
	minSize  int64
	outdated []Outdated // longest prefix first
}

// New builds a policy from patterns (nil means the defaults), a minimum
// redirect size (negative means the default, 0 redirects everything) and the
// prefixes where mirrors one version behind may still serve.
func New(serveLocally []string, minRedirectSize int64, outdated ...Outdated) (*Policy, error) {
	if serveLocally == nil {
		serveLocally = defaultServeLocally
	}
	ex, err := catalog.ParseExcludes(serveLocally)
	if err != nil {
		return nil, fmt.Errorf("serve-locally patterns: %w", err)
	}
	if minRedirectSize < 0 {
		minRedirectSize = DefaultMinRedirectSize
	}
	p := &Policy{local: ex, minSize: minRedirectSize}
	seen := map[string]bool{}
	for _, o := range outdated {
		// A directory: "/pub" and "/pub/" both mean everything under /pub/.
		dir := strings.TrimSuffix(o.Prefix, "/")
		if o.Prefix != "/" && (!strings.HasPrefix(dir, "/") || path.Clean(dir) != dir) {
			return nil, fmt.Errorf("allow-outdated prefix %q must be a clean path starting with / (no .., no //)", o.Prefix)
		}
		pre := dir + "/"
		if seen[pre] {
			return nil, fmt.Errorf("allow-outdated prefix %q given twice", o.Prefix)
		}
		seen[pre] = true
		if o.MaxLag <= 0 || o.MaxLag > MaxOutdatedLag {
			return nil, fmt.Errorf("allow-outdated prefix %q: max lag %s is out of range (0s, %s]", o.Prefix, o.MaxLag, MaxOutdatedLag)
		}
		p.outdated = append(p.outdated, Outdated{Prefix: pre, MaxLag: o.MaxLag})
	}
	// The most specific prefix decides, so /pub/ 6h and /pub/iso/ 1h give
	// ISOs one hour.
	slices.SortFunc(p.outdated, func(a, b Outdated) int { return len(b.Prefix) - len(a.Prefix) })
	return p, nil
}

// MaxLag says how long after a file at the clean, slash-led path p changed
// mirrors still on its previous version may serve it; 0 means never.
func (p *Policy) MaxLag(path string) time.Duration {
	for _, o := range p.outdated {
		if strings.HasPrefix(path, o.Prefix) {
			return o.MaxLag
		}
	}
	return 0
}

// AllowsOutdated reports whether any prefix allows outdated mirrors, so the
// hot path can skip the question entirely.
func (p *Policy) AllowsOutdated() bool { return len(p.outdated) > 0 }

// Reason says why a file is served locally; "" means redirect it.
type Reason string

// Why a file is served by the redirector itself.
const (
	Redirect  Reason = ""
	ChangesIn Reason = "metadata that changes in place"
	SmallFile Reason = "smaller than the minimum redirect size"
)

// Decide says whether the file at the clean, slash-led path p of the given
// size should be served from the origin instead of redirected.
func (p *Policy) Decide(path string, size int64) Reason {
	if p.local.Match(path, false) {
		return ChangesIn
	}
	if size < p.minSize {
		return SmallFile
	}
	return Redirect
}
