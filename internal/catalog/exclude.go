package catalog

import (
	"fmt"
	"path"
	"strings"
)

// Excludes is a list of rsync-style exclude patterns, so one pattern list can
// be shared by the catalog and by `rsync --exclude`:
//
//   - a pattern with no "/" (other than a trailing one) matches a name at any
//     depth: "*.tmp", ".~tmp~";
//   - a leading "/" anchors the pattern at the tree's root: "/private/";
//   - a pattern with an inner "/" matches the end of the path: "repodata/*.old";
//   - a trailing "/" matches directories only;
//   - "*" matches within one name, "**" across names, "?" one byte, and
//     "[...]" a byte class (path.Match syntax).
//
// An excluded directory is skipped with everything below it, as in rsync.
type Excludes struct {
	rules []rule
}

type rule struct {
	pattern  string
	anchored bool
	dirOnly  bool
	hasSlash bool
	dstar    bool
}

// ParseExcludes checks the patterns and returns the matcher.
func ParseExcludes(patterns []string) (Excludes, error) {
	var ex Excludes
	for _, p := range patterns {
		orig := p
		if strings.TrimSpace(p) == "" {
			return ex, fmt.Errorf("exclude pattern %q is empty", orig)
		}
		if strings.ContainsRune(p, 0) {
			return ex, fmt.Errorf("exclude pattern %q contains NUL", orig)
		}
		r := rule{}
		if strings.HasSuffix(p, "/") {
			r.dirOnly = true
			p = strings.TrimRight(p, "/")
		}
		if strings.HasPrefix(p, "/") {
			r.anchored = true
			p = strings.TrimLeft(p, "/")
		}
		if p == "" {
			return ex, fmt.Errorf("exclude pattern %q matches nothing (it would exclude the whole tree)", orig)
		}
		r.hasSlash = strings.Contains(p, "/")
		r.dstar = strings.Contains(p, "**")
		// path.Match reports a bad pattern only when it gets that far, so try
		// it against a name that reaches every part of the pattern.
		if _, err := path.Match(strings.ReplaceAll(p, "**", "*"), ""); err != nil {
			return ex, fmt.Errorf("exclude pattern %q: %w", orig, err)
		}
		r.pattern = p
		ex.rules = append(ex.rules, r)
	}
	return ex, nil
}

// Patterns returns the patterns in rsync form, for passing to rsync itself.
func (ex Excludes) Patterns() []string {
	out := make([]string, len(ex.rules))
	for i, r := range ex.rules {
		p := r.pattern
		if r.anchored {
			p = "/" + p
		}
		if r.dirOnly {
			p += "/"
		}
		out[i] = p
	}
	return out
}

// Match reports whether the clean, slash-led path p (a directory when dir)
// is excluded.
func (ex Excludes) Match(p string, dir bool) bool {
	rel := strings.TrimPrefix(p, "/")
	for _, r := range ex.rules {
		if r.dirOnly && !dir {
			continue
		}
		if r.match(rel) {
			return true
		}
	}
	return false
}

func (r rule) match(rel string) bool {
	switch {
	case r.anchored:
		return glob(r.pattern, rel, r.dstar)
	case !r.hasSlash:
		return glob(r.pattern, rel[strings.LastIndexByte(rel, '/')+1:], r.dstar)
	}
	// An unanchored pattern with a slash matches any tail of the path that
	// starts at a name boundary.
	for i := 0; ; {
		if glob(r.pattern, rel[i:], r.dstar) {
			return true
		}
		j := strings.IndexByte(rel[i:], '/')
		if j < 0 {
			return false
		}
		i += j + 1
	}
}

// glob matches with path.Match, extended with "**" that may cross "/".
func glob(pattern, name string, dstar bool) bool {
	if !dstar {
		ok, _ := path.Match(pattern, name)
		return ok
	}
	return dglob(pattern, name)
}

// dglob is a small backtracking matcher for patterns with "**": "**" matches
// any run of bytes, the rest defers to path.Match segment by segment.
func dglob(pattern, name string) bool {
	i := strings.Index(pattern, "**")
	if i < 0 {
		ok, _ := path.Match(pattern, name)
		return ok
	}
	head, tail := pattern[:i], pattern[i+2:]
	// head must match a prefix of name exactly (it has no "**").
	for cut := 0; cut <= len(name); cut++ {
		if ok, _ := path.Match(head, name[:cut]); !ok {
			continue
		}
		for rest := cut; rest <= len(name); rest++ {
			if dglob(tail, name[rest:]) {
				return true
			}
		}
	}
	return false
}
