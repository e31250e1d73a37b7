package fileserver

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net"
	"path"
	"slices"
	"strings"
	"time"
)

// Config says what a Server serves and how. DefaultConfig is the one source of
// defaults: a zero Config is not valid (its timeouts are zero), and nil lists
// mean "none", not "the defaults".
//
// The names in Validate's errors are the suggested configuration keys
// (snake_case), so the CLI can report them unchanged under its [serve] section.
type Config struct {
	// Root is the mirror tree (root). It must be an existing directory.
	Root string

	// Listen is the plain HTTP address Run listens on (listen), e.g. ":8080";
	// empty for none. ListenTLS is the HTTPS address (listen_tls).
	Listen    string
	ListenTLS string
	// CertFile and KeyFile are PEM files (cert_file, key_file), re-read when
	// either changes on disk. Needed for ListenTLS and ServeTLS.
	CertFile string
	KeyFile  string

	// IdleTimeout closes a keep-alive connection that has been idle this
	// long (idle_timeout, default 2s: the Fedora seed's KeepAliveTimeout).
	IdleTimeout time.Duration
	// ReadHeaderTimeout bounds reading one request's headers
	// (read_header_timeout, default 10s).
	ReadHeaderTimeout time.Duration
	// SendTimeout bounds the time between two successive writes to a client
	// (send_timeout, default 60s, nginx's send_timeout): a client that stops
	// reading loses its connection instead of holding it forever.
	SendTimeout time.Duration
	// ShutdownTimeout is how long Run drains connections after its context
	// ends before closing them (shutdown_timeout, default 30s).
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds a request's header (max_header_bytes, default 16 KiB).
	MaxHeaderBytes int
	// OpenCacheTTL keeps the directories requests walk through open and
	// checked, and small files' content in memory, for this long
	// (open_cache_ttl, default 1s; 0 turns it off), like nginx's
	// open_file_cache. Something replaced, deleted or made non-public is
	// still served as it was for up to this long; something that becomes
	// public is served at once.
	OpenCacheTTL time.Duration

	// MaxConnsPerIP caps concurrent connections from one client address
	// (max_conns_per_ip, default 6: the seed's MaxConnPerIP); 0 means no cap.
	// A connection over the cap gets one 503 with Retry-After and is closed.
	MaxConnsPerIP int
	// RetryAfter is the Retry-After of that 503 (retry_after, default 10s).
	RetryAfter time.Duration
	// MaxRanges: a Range header with more ranges is ignored and the whole
	// file is sent, as nginx's max_ranges does (max_ranges, default 64; 0
	// means no limit).
	MaxRanges int
	// NoRange lists patterns (see Matching) whose files never answer a
	// Range request with a part (no_range, default none; e.g. "*.iso"): the
	// whole file is sent with 200 and "Accept-Ranges: none", which download
	// accelerators read as "one connection only".
	NoRange []string

	// ContentTypes maps a lower-case suffix (".iso", ".pkg.tar.zst") or an
	// exact file name ("Release") to a Content-Type (content_types). The
	// longest matching suffix wins; an exact name beats any suffix.
	ContentTypes map[string]string
	// DefaultContentType is for files no entry matches
	// (default_content_type, default application/octet-stream).
	DefaultContentType string

	// Metadata lists patterns of repository metadata (metadata): files that
	// change in place, served with "Cache-Control: max-age=0,
	// must-revalidate" and "Expires" now, so no proxy serves a stale repo.
	Metadata []string
	// Immutable lists patterns of files that never change under one name
	// (immutable): packages, images. They are cached for ImmutableMaxAge.
	Immutable []string
	// ImmutableMaxAge is their max-age (immutable_max_age, default 24h).
	ImmutableMaxAge time.Duration
	// MaxAge is the max-age of every other file (max_age, default 1h); 0
	// sends no Cache-Control, leaving caches to their heuristics.
	MaxAge time.Duration

	// Hide lists patterns of more names to hide like staged content (hide,
	// default none). rsync's temporary files are always hidden.
	Hide []string
	// RejectNonUTF8 hides names that are not valid UTF-8 (reject_non_utf8,
	// default false: mirrors carry Latin-1 names and serve them byte for
	// byte, as nginx and rsync do).
	RejectNonUTF8 bool

	// AccessLog is the access log file (access_log); empty for none.
	AccessLog string
	// AccessLogMaxBytes rotates the log when it would grow past this size
	// (access_log_max_bytes, default 0: rotate only by Reopen, e.g. after
	// logrotate moved the file).
	AccessLogMaxBytes int64
	// AccessLogKeep is how many rotated files (.1 … .N) are kept
	// (access_log_keep, default 5).
	AccessLogKeep int
}

// Matching: a pattern without "/" is matched with path.Match against the
// file's name ("*.iso", "Packages*"); a pattern with "/" against its whole
// slash-led path in the tree ("/fedora/*/repodata/*").

// DefaultConfig returns the defaults for a tree at root.
func DefaultConfig(root string) Config {
	return Config{
		Root:               root,
		IdleTimeout:        2 * time.Second,
		ReadHeaderTimeout:  10 * time.Second,
		SendTimeout:        60 * time.Second,
		OpenCacheTTL:       time.Second,
		ShutdownTimeout:    30 * time.Second,
		MaxHeaderBytes:     16 << 10,
		MaxConnsPerIP:      6,
		RetryAfter:         10 * time.Second,
		MaxRanges:          64,
		ContentTypes:       DefaultContentTypes(),
		DefaultContentType: "application/octet-stream",
		Metadata:           DefaultMetadata(),
		Immutable:          DefaultImmutable(),
		ImmutableMaxAge:    24 * time.Hour,
		MaxAge:             time.Hour,
		AccessLogKeep:      5,
	}
}

// DefaultContentTypes is the built-in type table: octet-stream for packages,
// images and compressed files (browsers must download them, not try to show
// them), text and markup types for what people read.
func DefaultContentTypes() map[string]string {
	const (
		bin  = "application/octet-stream"
		text = "text/plain; charset=utf-8"
		sig  = "application/pgp-signature"
	)
	m := map[string]string{
		".xml": "application/xml", ".json": "application/json",
		".html": "text/html; charset=utf-8", ".htm": "text/html; charset=utf-8",
		".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".svg": "image/svg+xml", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
		".sig": sig, ".asc": sig, ".gpg": sig, ".sign": sig,
		".txt": text, ".md": text, ".dsc": text, ".changes": text, ".buildinfo": text,
		".sha1": text, ".sha256": text, ".sha512": text, ".md5": text, "-checksum": text,
		".meta4": "application/metalink4+xml", ".metalink": "application/metalink+xml",
		".torrent": "application/x-bittorrent",
		"release":  text, "inrelease": text, "readme": text, "time": text,
		"lastupdate": text, "lastsync": text, "checksum": text,
		"sha256sums": text, "sha512sums": text, "md5sums": text, "sha1sums": text,
	}
	for _, s := range []string{
		".iso", ".img", ".raw", ".qcow2", ".vmdk", ".vhd", ".vhdx", ".ova", ".box", ".squashfs", ".efi",
		".rpm", ".drpm", ".deb", ".udeb", ".apk", ".pkg.tar", ".pkg.tar.gz", ".pkg.tar.xz", ".pkg.tar.zst",
		".xz", ".zst", ".gz", ".bz2", ".lz", ".lzma", ".lz4", ".zip", ".7z", ".tar", ".tgz", ".tbz", ".txz",
		".exe", ".msi", ".dmg", ".appimage", ".flatpak", ".snap", ".bin", ".db", ".files", ".sqlite",
	} {
		m[s] = bin
	}
	return m
}

// DefaultMetadata lists repository metadata of the common formats: yum/dnf
// (repodata), apt (dists), pacman (.db, .files), and mirror trace files.
func DefaultMetadata() []string {
	return []string{
		"*.xml", "*.xml.gz", "*.xml.xz", "*.xml.zst", "*.xml.bz2", "*.xml.asc", "*.sqlite*",
		"repomd.xml*", "Release", "Release.gpg", "InRelease", "Packages*", "Sources*",
		"Contents-*", "Translation-*", "Index", "*.db", "*.db.sig", "*.db.tar.*",
		"*.files", "*.files.sig", "*.files.tar.*", "*.meta4", "*.metalink",
		"TIME", "lastupdate", "lastsync", "timestamp.txt",
	}
}

// DefaultImmutable lists files that never change under one name in a sane
// repository: packages and released images.
func DefaultImmutable() []string {
	return []string{
		"*.rpm", "*.drpm", "*.deb", "*.udeb", "*.pkg.tar.*", "*.apk",
		"*.iso", "*.img", "*.qcow2", "*.raw.xz", "*.tar.gz", "*.tar.xz", "*.tar.zst", "*.tar.bz2",
	}
}

// FieldError names a bad configuration field by its key.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks every field and reports every problem at once (as
// errors.Join of *FieldError), so an operator fixes them in one round. It
// does not touch the file system: New checks that the files exist.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Root == "" {
		bad("root", "is empty: the tree to serve is required")
	}
	for _, a := range []struct{ field, addr string }{{"listen", c.Listen}, {"listen_tls", c.ListenTLS}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			bad(a.field, "%q is not host:port: %v", a.addr, err)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			bad("cert_file", "is empty but key_file is set: both or neither")
		} else {
			bad("key_file", "is empty but cert_file is set: both or neither")
		}
	}
	if c.ListenTLS != "" && c.CertFile == "" {
		bad("cert_file", "is required with listen_tls")
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"idle_timeout", c.IdleTimeout}, {"read_header_timeout", c.ReadHeaderTimeout},
		{"send_timeout", c.SendTimeout}, {"shutdown_timeout", c.ShutdownTimeout}, {"retry_after", c.RetryAfter},
		{"immutable_max_age", c.ImmutableMaxAge},
	} {
		if d.v <= 0 {
			bad(d.field, "must be positive, got %v", d.v)
		}
	}
	if c.RetryAfter > 0 && c.RetryAfter%time.Second != 0 {
		bad("retry_after", "must be whole seconds, got %v", c.RetryAfter)
	}
	if c.MaxAge < 0 {
		bad("max_age", "must not be negative, got %v", c.MaxAge)
	}
	if c.OpenCacheTTL < 0 || c.OpenCacheTTL > time.Minute {
		bad("open_cache_ttl", "must be 0 (off) to 1m, got %v", c.OpenCacheTTL)
	}
	if c.MaxHeaderBytes < 1024 {
		bad("max_header_bytes", "must be at least 1024, got %d", c.MaxHeaderBytes)
	}
	if c.MaxConnsPerIP < 0 {
		bad("max_conns_per_ip", "must not be negative (0 means no cap), got %d", c.MaxConnsPerIP)
	}
	if c.MaxRanges < 0 {
		bad("max_ranges", "must not be negative (0 means no limit), got %d", c.MaxRanges)
	}
	checkPatterns := func(field string, ps []string) {
		for _, p := range ps {
			if p == "" {
				bad(field, "empty pattern")
				continue
			}
			if _, err := path.Match(p, ""); err != nil {
				bad(field, "pattern %q: %v", p, err)
			}
		}
	}
	checkPatterns("no_range", c.NoRange)
	checkPatterns("metadata", c.Metadata)
	checkPatterns("immutable", c.Immutable)
	checkPatterns("hide", c.Hide)
	for _, p := range c.Hide {
		if strings.Contains(p, "/") {
			bad("hide", "pattern %q holds a /: hide patterns match single names", p)
		}
	}
	for _, k := range sortedKeys(c.ContentTypes) {
		v := c.ContentTypes[k]
		switch {
		case k == "" || k == ".":
			bad("content_types", "empty suffix")
		case strings.Contains(k, "/"):
			bad("content_types", "key %q holds a /: keys are suffixes or file names", k)
		}
		if _, _, err := mime.ParseMediaType(v); err != nil {
			bad("content_types", "%q: type %q: %v", k, v, err)
		}
	}
	if _, _, err := mime.ParseMediaType(c.DefaultContentType); err != nil {
		bad("default_content_type", "%q: %v", c.DefaultContentType, err)
	}
	if c.AccessLogMaxBytes < 0 {
		bad("access_log_max_bytes", "must not be negative (0 means no size rotation), got %d", c.AccessLogMaxBytes)
	}
	if c.AccessLogMaxBytes > 0 && c.AccessLogMaxBytes < 4096 {
		bad("access_log_max_bytes", "must be at least 4096, got %d", c.AccessLogMaxBytes)
	}
	if c.AccessLogKeep < 1 || c.AccessLogKeep > 1000 {
		bad("access_log_keep", "must be between 1 and 1000, got %d", c.AccessLogKeep)
	}
	return errors.Join(errs...)
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
