package fileserver

import (
	"path"
	"strings"
	"unicode/utf8"
)

// patterns matches names or whole paths (see Config's Matching note). Name
// patterns of the common shapes ("Release", "*.rpm", "Packages*") are
// matched without path.Match, which is most of a small file's CPU time when
// thirty metadata patterns are tried on every request.
type patterns struct {
	exact    map[string]bool
	suffixes []string // from "*LITERAL"
	prefixes []string // from "LITERAL*"
	names    []string // other name globs, for path.Match
	paths    []string // matched against the slash-led path
}

func newPatterns(ps []string) patterns {
	p := patterns{exact: map[string]bool{}}
	const meta = `*?[\`
	for _, s := range ps {
		switch {
		case strings.Contains(s, "/"):
			p.paths = append(p.paths, s)
		case !strings.ContainsAny(s, meta):
			p.exact[s] = true
		case s[0] == '*' && !strings.ContainsAny(s[1:], meta):
			p.suffixes = append(p.suffixes, s[1:])
		case s[len(s)-1] == '*' && !strings.ContainsAny(s[:len(s)-1], meta):
			p.prefixes = append(p.prefixes, s[:len(s)-1])
		default:
			p.names = append(p.names, s)
		}
	}
	return p
}

// match reports whether the file at the clean slash-led path p matches.
// Validate has checked the patterns, so path.Match cannot fail here.
func (ps patterns) match(p string) bool {
	name := p[strings.LastIndexByte(p, '/')+1:]
	if ps.exact[name] {
		return true
	}
	for _, suf := range ps.suffixes {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	for _, pre := range ps.prefixes {
		if strings.HasPrefix(name, pre) {
			return true
		}
	}
	for _, pat := range ps.names {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	for _, pat := range ps.paths {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

func (ps patterns) empty() bool {
	return len(ps.exact) == 0 && len(ps.suffixes) == 0 && len(ps.prefixes) == 0 && len(ps.names) == 0 && len(ps.paths) == 0
}

// typeTable finds a Content-Type by exact name or longest suffix.
type typeTable struct {
	names    map[string]string // lower-case exact names
	suffixes map[string]string // lower-case suffixes, with their leading "." or "-"
	maxLen   int
	def      string
}

func newTypeTable(m map[string]string, def string) *typeTable {
	t := &typeTable{names: map[string]string{}, suffixes: map[string]string{}, def: def}
	for k, v := range m {
		k = strings.ToLower(k)
		if k[0] == '.' || k[0] == '-' {
			t.suffixes[k] = v
			t.maxLen = max(t.maxLen, len(k))
		} else {
			t.names[k] = v
		}
	}
	return t
}

// lookup returns the type for a base name: exact name first, then the
// longest suffix, so ".pkg.tar.zst" beats ".zst" and "x.xml.gz" is ".gz".
func (t *typeTable) lookup(name string) string {
	lower := strings.ToLower(name) // no allocation for names without upper case
	if v, ok := t.names[lower]; ok {
		return v
	}
	// Try suffixes starting at each "." or "-", longest first.
	start := max(0, len(lower)-t.maxLen)
	for i := start; i < len(lower); i++ {
		if c := lower[i]; c != '.' && c != '-' {
			continue
		}
		if v, ok := t.suffixes[lower[i:]]; ok {
			return v
		}
	}
	return t.def
}

// Cache classes.
const (
	cacheOther = iota
	cacheMetadata
	cacheImmutable
)

// isRsyncTemp reports whether a name is one of rsync's temporary files: the
// ".~tmp~" directory of --delay-updates, and ".NAME.XXXXXX", the file rsync
// writes before renaming it into place (mkstemp's six letters or digits).
func isRsyncTemp(name string) bool {
	if strings.HasPrefix(name, ".~tmp~") {
		return true
	}
	n := len(name)
	if n < 9 || name[0] != '.' || name[n-7] != '.' {
		return false
	}
	for i := n - 6; i < n; i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// hiddenName reports whether a single path segment is never served.
func (s *Server) hiddenName(name string) bool {
	if isRsyncTemp(name) {
		return true
	}
	if s.cfg.RejectNonUTF8 && !utf8.ValidString(name) {
		return true
	}
	for _, pat := range s.hide {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}
