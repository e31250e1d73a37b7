package redirector

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"unicode/utf8"
)

// errBadPath is every refused request path; the message stays generic so a
// probe learns nothing from it.
var errBadPath = errors.New("bad request path")

// cleanPath turns a request's path into a clean, slash-led catalog path. It
// refuses what a well-behaved client never sends: NUL and control bytes,
// invalid UTF-8, "." or ".." segments in any encoding, backslashes and empty
// segments. dir reports a trailing slash.
func cleanPath(u *url.URL) (p string, dir bool, err error) {
	raw := u.EscapedPath()
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return "", false, errBadPath
	}
	if decoded == "" || decoded[0] != '/' || len(decoded) > 4096 {
		return "", false, errBadPath
	}
	if !utf8.ValidString(decoded) {
		return "", false, errBadPath
	}
	for i := 0; i < len(decoded); i++ {
		if c := decoded[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", false, errBadPath
		}
	}
	dir = strings.HasSuffix(decoded, "/")
	trimmed := strings.TrimSuffix(decoded, "/")
	for rest := trimmed; rest != ""; {
		// rest starts with "/"; the segment runs to the next one.
		seg, tail, _ := strings.Cut(rest[1:], "/")
		if seg == "" || seg == "." || seg == ".." {
			return "", false, errBadPath
		}
		if tail == "" && !strings.HasPrefix(rest[1+len(seg):], "/") {
			break
		}
		rest = rest[1+len(seg):]
	}
	p = path.Clean(decoded)
	if p != trimmed && !(p == "/" && trimmed == "") {
		return "", false, errBadPath
	}
	return p, dir, nil
}

// escapePath percent-encodes a catalog path for a URL, segment by segment.
// Most paths need nothing escaped and come back as they are.
func escapePath(p string) string {
	clean := true
	for i := 0; i < len(p) && clean; i++ {
		clean = pathSafe(p[i])
	}
	if clean {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// pathSafe: bytes url.PathEscape leaves alone in a segment, and the slash
// between segments.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-_.~$&+:=@/", c) >= 0
}

// relativeRef escapes one path segment as a relative reference: a name
// with a colon would otherwise read as a scheme ("http:x", "javascript:x").
func relativeRef(name string) string {
	e := escapePath("/" + name)[1:]
	if strings.Contains(e, ":") {
		return "./" + e
	}
	return e
}
