package policy

import (
	"fmt"

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

// Policy is the decision, built once from configuration.
type Policy struct {
	local   catalog.Excludes
	minSize int64
}

// New builds a policy from patterns (nil means the defaults) and a minimum
// redirect size (negative means the default, 0 redirects everything).
func New(serveLocally []string, minRedirectSize int64) (*Policy, error) {
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
	return &Policy{local: ex, minSize: minRedirectSize}, nil
}

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
