package syncer

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// pass is one rsync invocation of a run. Stage 1 is one pass; stage 2 is
// up to two (metadata, then the last indexes with deletions).
type pass int

const (
	// passContent: everything but metadata; deletes nothing but counts
	// what a deleting pass would delete (--max-delete=0).
	passContent pass = iota
	// passMetadata: metadata except the last indexes; deletes nothing.
	passMetadata
	// passFinal: everything, with deletions.
	passFinal
)

func (p pass) String() string {
	switch p {
	case passContent:
		return "content"
	case passMetadata:
		return "metadata"
	default:
		return "final"
	}
}

func (p pass) stage() int {
	if p == passContent {
		return 1
	}
	return 2
}

// outFormat marks rsync's per-item lines on stdout; nothing else rsync
// prints there starts with it.
const outFormat = "mk: %i %l %b %n%L"

// rsyncArgs builds one pass's command line. maxDelete is the final pass's
// --max-delete backstop.
func (s *settings) rsyncArgs(p pass, dryRun, progress bool, maxDelete int) []string {
	args := []string{
		"-rlptH", "--safe-links", "--numeric-ids", "--delay-updates",
		"--timeout=" + strconv.Itoa(seconds(s.Timeout)),
		"--contimeout=" + strconv.Itoa(seconds(s.ConnectTimeout)),
		"--no-motd", "--no-h", "--stats", "--out-format=" + outFormat,
	}
	if s.BandwidthLimit > 0 {
		args = append(args, "--bwlimit="+strconv.Itoa(s.BandwidthLimit))
	}
	if dryRun {
		args = append(args, "--dry-run")
	}
	if progress {
		args = append(args, "--info=progress2")
	}
	switch p {
	case passContent:
		// --max-delete=0 deletes nothing and reports how many deletions it
		// skipped: the count the max-delete guard needs, at no extra
		// listing of the tree.
		args = append(args, "--delete-after", "--max-delete=0")
	case passFinal:
		args = append(args, "--delete-after")
		if maxDelete >= 0 {
			// The backstop: the guard measured before stage 1 deleted
			// nothing, and rsync enforces the same cap itself.
			args = append(args, "--max-delete="+strconv.Itoa(maxDelete))
		}
	}
	args = append(args, s.filterArgs(p)...)
	return append(args, "--", s.up.String(), s.Dest+"/")
}

// filterArgs returns the pass's filter rules in rsync's first-match order.
func (s *settings) filterArgs(p pass) []string {
	var f []string
	rule := func(kind, pat string) { f = append(f, "--filter="+kind+" "+pat) }
	// This mirror's own files are never upstream's: excluding them keeps
	// rsync from overwriting or deleting them.
	rule("-", "/"+s.tracePath())
	rule("-", "/"+s.hierarchyPath())
	if s.InProgressFile != "" {
		rule("-", "/"+strings.Trim(s.InProgressFile, "/"))
	}
	switch p {
	case passContent:
		seen := map[string]bool{}
		for _, m := range append(append([]string(nil), s.metadata...), s.metadataLast...) {
			if !seen[m] {
				seen[m] = true
				rule("-", m)
			}
		}
	case passMetadata:
		for _, m := range s.metadataLast {
			rule("-", m)
		}
		if s.metadataOnly() {
			// Without includes or subtrees the user's rules only take away,
			// so this pass can list just directories and metadata: cheaper
			// than a full listing, and content was copied by stage 1.
			for _, e := range s.Exclude {
				rule("-", e)
			}
			for _, e := range s.ExcludeFrom {
				f = append(f, "--exclude-from="+e)
			}
			rule("+", "*/")
			for _, m := range s.metadata {
				if slices.Contains(s.metadataLast, m) {
					continue
				}
				if strings.HasSuffix(m, "/") {
					// A directory's whole contents; "*/" above already
					// lets rsync into every directory.
					rule("+", m+"**")
				} else {
					rule("+", m)
				}
			}
			rule("-", "*")
			return f
		}
	}
	return append(f, s.userFilters()...)
}

// metadataOnly reports whether the metadata pass can be limited to metadata.
func (s *settings) metadataOnly() bool {
	return len(s.Include) == 0 && len(s.IncludeFrom) == 0 && len(s.Subtrees) == 0
}

// userFilters are the job's include, exclude and subtree rules.
func (s *settings) userFilters() []string {
	var f []string
	for _, in := range s.Include {
		f = append(f, "--filter=+ "+in)
	}
	for _, in := range s.IncludeFrom {
		f = append(f, "--include-from="+in)
	}
	for _, ex := range s.Exclude {
		f = append(f, "--filter=- "+ex)
	}
	for _, ex := range s.ExcludeFrom {
		f = append(f, "--exclude-from="+ex)
	}
	if len(s.subtrees) > 0 {
		seen := map[string]bool{}
		for _, st := range s.subtrees {
			// The directories leading to a subtree must be included for
			// rsync to descend into them; "- *" below keeps their other
			// contents out (and safe from deletion).
			parts := strings.Split(st, "/")
			for i := 1; i < len(parts); i++ {
				dir := "/" + strings.Join(parts[:i], "/") + "/"
				if !seen[dir] {
					seen[dir] = true
					f = append(f, "--filter=+ "+dir)
				}
			}
			f = append(f, "--filter=+ /"+st, "--filter=+ /"+st+"/***")
		}
		f = append(f, "--filter=- *")
	}
	return f
}

// seconds rounds a duration up to whole seconds for rsync's options.
func seconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
