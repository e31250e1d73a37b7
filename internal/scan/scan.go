package scan

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/registry"
)

// Type is what an entry is.
type Type uint8

// Entry types.
const (
	File Type = iota + 1
	Dir
	Symlink
)

func (t Type) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return fmt.Sprintf("type(%d)", t)
}

// Entry is one item of a mirror's listing.
type Entry struct {
	// Path is clean and slash-led, relative to the mirror's base URL:
	// "/fedora/releases/40/x.iso". The base itself is "/".
	Path string
	Type Type
	// Size in bytes; 0 for directories and symlinks; -1 when the listing
	// does not say exactly (autoindex pages that print "4.0G").
	Size int64
	// ModTime in UTC, as precise as the listing gives it (see Precision).
	ModTime time.Time
	// Precision is the listing's mtime granularity: 1s for rsync and MLSD,
	// 1min for most autoindex pages, 0 when the listing has no time at all.
	Precision time.Duration
	// Mode holds permission bits when the listing shows them (rsync, FTP LIST).
	Mode fs.FileMode
	// Target is a symlink's target when the listing shows it.
	Target string
}

// Target says what to scan.
type Target struct {
	// URL is the mirror's base URL for the scanner's protocol (ends in "/").
	URL string
	// Prefixes limits the scan to these clean, slash-led, slash-ended path
	// prefixes (a partial mirror's content); empty scans the whole tree.
	Prefixes []string
	// Timeout bounds I/O inactivity (rsync --timeout, FTP and HTTP deadlines).
	Timeout time.Duration
	// Password for rsync or FTP logins; never logged or put on a command line.
	Password string
}

// Scanner lists a mirror's tree over one protocol.
type Scanner interface {
	Protocol() registry.Protocol
	// Scan calls emit for every entry under t's prefixes (directories
	// included), in no particular order. It returns an error, and the caller
	// discards everything emitted, when the listing fails or is cut short: a
	// truncated listing must never look like a mirror that lost files. An error
	// from emit stops the scan and is returned.
	Scan(ctx context.Context, t Target, emit func(Entry) error) error
	// ReadFile fetches a small file (a trace or lastupdate file) at the clean,
	// slash-led path p, reading at most max bytes; fs.ErrNotExist when absent.
	ReadFile(ctx context.Context, t Target, p string, max int64) ([]byte, error)
}

// Verifier is a scanner that can also check given paths one by one, for
// mirrors that publish no listing (HTTP servers without index pages).
type Verifier interface {
	// Verify emits an entry for each of paths the mirror has; absent ones are
	// skipped, and any other failure fails the run.
	Verify(ctx context.Context, t Target, paths []string, emit func(Entry) error) error
}

// Errors scanners wrap, so the scheduler can tell a dead mirror from a bad one.
var (
	// ErrUnreachable: the mirror did not answer (refused, DNS, timeout).
	ErrUnreachable = errors.New("mirror unreachable")
	// ErrTruncated: the listing ended early or could not be completed.
	ErrTruncated = errors.New("listing truncated")
	// ErrBadListing: the mirror sent something that is not a valid listing.
	ErrBadListing = errors.New("bad listing")
	// ErrAuth: the mirror refused our credentials.
	ErrAuth = errors.New("authentication failed")
)

// MaxPathLen bounds one path; real trees stay far below.
const MaxPathLen = 4096

// CleanPath turns a path from a listing into a clean, slash-led path, or says
// why it is not acceptable. Listings are hostile input: ".." segments and NUL
// bytes never become entries. Other bytes are kept as they are: mirrors carry
// names in Latin-1 and other encodings, and a path must match the origin's
// byte for byte. The result is rooted at "/" and never escapes it.
func CleanPath(raw string) (string, error) {
	switch {
	case raw == "":
		return "", fmt.Errorf("%w: empty path", ErrBadListing)
	case len(raw) > MaxPathLen:
		return "", fmt.Errorf("%w: path longer than %d bytes", ErrBadListing, MaxPathLen)
	case strings.ContainsRune(raw, 0):
		return "", fmt.Errorf("%w: NUL byte in path %q", ErrBadListing, raw)
	}
	// Every listed name passes here, so no allocation on the common path:
	// segments are checked in place, and path.Clean returns an already clean
	// path without copying it.
	for rest := raw; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == ".." {
			return "", fmt.Errorf("%w: path %q climbs out with ..", ErrBadListing, raw)
		}
		if !more {
			break
		}
		rest = tail
	}
	if raw[0] != '/' {
		raw = "/" + raw
	}
	return path.Clean(raw), nil
}

// Under reports whether the clean path p lies under one of the prefixes (or
// is a directory on the way to one); an empty prefix list covers everything.
func Under(p string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(p+"/", pre) || strings.HasPrefix(pre, p+"/") || p == "/" {
			return true
		}
	}
	return false
}
