package ftpscan

import (
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

// item is one line of a directory listing: an entry without its path yet.
type item struct {
	name  string
	entry scan.Entry
	// unique is MLSD's "unique" fact (device and inode on unix servers), used
	// to notice a directory reached twice; empty when the server gives none.
	unique string
}

// listing is one parsed directory listing.
type listing struct {
	items []item
	// self is the listed directory's own unique fact (MLSD "cdir" line).
	self string
}

// Precision of the time formats a listing can carry.
const (
	precisionMLSD      = time.Second
	precisionRecent    = time.Minute         // unix "Nov 20 14:05", DOS "11-20-26  02:05PM"
	precisionYear      = 24 * time.Hour      // unix "Jan  2  2026"
	recentFutureMargin = 24 * time.Hour      // a server clock (or time zone) ahead of ours
	maxLineLen         = 8 + scan.MaxPathLen // a name may be long, the rest of a line is not
)

// lines splits a listing into lines, accepting CRLF (the standard) and bare
// LF (what many servers send), and dropping empty lines.
func lines(data []byte) []string {
	var out []string
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) > 0 {
			out = append(out, string(line))
		}
	}
	return out
}

// checkName vets a name from a listing. "." and ".." are a directory's
// references to itself and its parent when typed as directories (skip is
// true); as anything else, or with a "/" or NUL inside, a name is hostile.
func checkName(name string, t scan.Type) (skip bool, err error) {
	switch {
	case name == "":
		return false, fmt.Errorf("%w: empty name", scan.ErrBadListing)
	case len(name) > scan.MaxPathLen:
		return false, fmt.Errorf("%w: name longer than %d bytes", scan.ErrBadListing, scan.MaxPathLen)
	case strings.ContainsAny(name, "/\x00"):
		return false, fmt.Errorf("%w: name %q contains '/' or NUL", scan.ErrBadListing, name)
	case name == "." || name == "..":
		if t == scan.Dir {
			return true, nil
		}
		return false, fmt.Errorf("%w: %s named %q", scan.ErrBadListing, t, name)
	}
	return false, nil
}

// parseMLSD parses an MLSD listing (RFC 3659 section 7): "fact=value;...; name".
func parseMLSD(data []byte) (listing, error) {
	var l listing
	for _, line := range lines(data) {
		it, kind, err := parseMLSDLine(line)
		if err != nil {
			return listing{}, err
		}
		switch kind {
		case mlsdCdir:
			l.self = it.unique
		case mlsdEntry:
			l.items = append(l.items, it)
		}
	}
	return l, nil
}

type mlsdKind uint8

const (
	mlsdEntry mlsdKind = iota
	mlsdSkip           // pdir, "." / "..", and types that are not content (devices)
	mlsdCdir
)

func parseMLSDLine(line string) (item, mlsdKind, error) {
	if len(line) > maxLineLen {
		return item{}, 0, fmt.Errorf("%w: MLSD line longer than %d bytes", scan.ErrBadListing, maxLineLen)
	}
	// The facts end at the first space: a fact never holds one, a name may.
	sp := strings.IndexByte(line, ' ')
	if sp < 0 {
		return item{}, 0, fmt.Errorf("%w: MLSD line without a name: %q", scan.ErrBadListing, line)
	}
	facts, name := line[:sp], line[sp+1:]
	it := item{name: name, entry: scan.Entry{Size: -1}}
	var typ string
	var size int64 = -1
	for f := range strings.SplitSeq(facts, ";") {
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return item{}, 0, fmt.Errorf("%w: MLSD fact %q without '='", scan.ErrBadListing, f)
		}
		switch strings.ToLower(k) {
		case "type":
			typ = v
		case "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return item{}, 0, fmt.Errorf("%w: MLSD size %q of %q", scan.ErrBadListing, v, name)
			}
			size = n
		case "modify":
			t, err := parseMLSDTime(v)
			if err != nil {
				return item{}, 0, fmt.Errorf("%w: MLSD modify %q of %q", scan.ErrBadListing, v, name)
			}
			it.entry.ModTime, it.entry.Precision = t, precisionMLSD
		case "unix.mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				return item{}, 0, fmt.Errorf("%w: MLSD UNIX.mode %q of %q", scan.ErrBadListing, v, name)
			}
			it.entry.Mode = fs.FileMode(m).Perm()
		case "unique":
			it.unique = v
		}
	}
	// Types are case-insensitive; "OS.unix=slink:target" carries its own "=".
	// The OS.unix prefix is compared without case but the target is not.
	const slink = "os.unix=slink"
	lt := strings.ToLower(typ)
	switch {
	case lt == "cdir":
		return it, mlsdCdir, nil
	case lt == "pdir":
		return it, mlsdSkip, nil
	case lt == "dir":
		it.entry.Type, it.entry.Size = scan.Dir, 0
	case lt == "file":
		it.entry.Type, it.entry.Size = scan.File, size
	case lt == slink || lt == "os.unix=symlink" || strings.HasPrefix(lt, slink+":"):
		it.entry.Type, it.entry.Size = scan.Symlink, 0
		if len(typ) > len(slink)+1 && strings.HasPrefix(lt, slink+":") {
			it.entry.Target = typ[len(slink)+1:]
		}
	case strings.HasPrefix(lt, "os."):
		// Devices, fifos and sockets: listed by some servers, never content.
		return item{}, mlsdSkip, nil
	case typ == "":
		return item{}, 0, fmt.Errorf("%w: MLSD line without type: %q", scan.ErrBadListing, line)
	default:
		return item{}, 0, fmt.Errorf("%w: MLSD type %q of %q", scan.ErrBadListing, typ, name)
	}
	skip, err := checkName(name, it.entry.Type)
	if err != nil {
		return item{}, 0, err
	}
	if skip {
		return item{}, mlsdSkip, nil
	}
	return it, mlsdEntry, nil
}

// parseMLSDTime parses "YYYYMMDDHHMMSS[.sss]", always UTC (RFC 3659 2.3).
// Fractions are dropped: Precision says 1s and no server we know sends them.
func parseMLSDTime(v string) (time.Time, error) {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		frac := v[i+1:]
		if frac == "" || strings.Trim(frac, "0123456789") != "" {
			return time.Time{}, fmt.Errorf("bad fraction")
		}
		v = v[:i]
	}
	if len(v) != 14 {
		return time.Time{}, fmt.Errorf("want 14 digits")
	}
	return time.ParseInLocation("20060102150405", v, time.UTC)
}

// parseLIST parses a LIST listing; now places "Nov 20 14:05" in a year.
func parseLIST(data []byte, now time.Time) (listing, error) {
	var l listing
	for _, line := range lines(data) {
		it, ok, err := parseLISTLine(line, now)
		if err != nil {
			return listing{}, err
		}
		if ok {
			l.items = append(l.items, it)
		}
	}
	return l, nil
}

// parseLISTLine parses one line of a LIST. ok is false for lines that are
// well-formed but no entry ("total 42", ".", devices). A line in a format it
// does not know is an error: guessing wrong loses files.
func parseLISTLine(line string, now time.Time) (it item, ok bool, err error) {
	if len(line) > maxLineLen {
		return item{}, false, fmt.Errorf("%w: LIST line longer than %d bytes", scan.ErrBadListing, maxLineLen)
	}
	switch {
	case strings.HasPrefix(line, "total "):
		if _, err := strconv.ParseUint(strings.TrimSpace(line[len("total "):]), 10, 64); err == nil {
			return item{}, false, nil
		}
	case line != "" && line[0] >= '0' && line[0] <= '9':
		return parseDOSLine(line)
	case line != "" && strings.IndexByte("-dlbcps", line[0]) >= 0:
		return parseUnixLine(line, now)
	}
	return item{}, false, fmt.Errorf("%w: unknown LIST line format: %q", scan.ErrBadListing, line)
}

// field is a whitespace-separated token of a line and where it ends.
type field struct {
	s   string
	end int
}

// fieldsN returns up to n leading fields of line with their end offsets, so
// the name (which may hold spaces) can be cut from the rest of the line.
func fieldsN(line string, n int) []field {
	var out []field
	i := 0
	for len(out) < n {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		out = append(out, field{line[start:i], i})
	}
	return out
}

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseUnixLine parses an "ls -l" line:
//
//	-rw-r--r--    1 1000  1000  4294979641 Jan  2  2026 name
//	lrwxrwxrwx    1 0     0              3 Nov 22 02:47 latest -> 40
//
// The group column is optional (some servers omit it).
func parseUnixLine(line string, now time.Time) (item, bool, error) {
	bad := func(why string) (item, bool, error) {
		return item{}, false, fmt.Errorf("%w: LIST line %q: %s", scan.ErrBadListing, line, why)
	}
	f := fieldsN(line, 8)
	if len(f) < 7 {
		return bad("too few fields")
	}
	mode, ok := parsePerms(f[0].s)
	if !ok {
		return bad("bad permissions")
	}
	var typ scan.Type
	switch f[0].s[0] {
	case '-':
		typ = scan.File
	case 'd':
		typ = scan.Dir
	case 'l':
		typ = scan.Symlink
	default:
		// Devices, fifos, sockets: well-formed, never content. Device lines
		// carry "major, minor" instead of a size, so the layout is not checked.
		return item{}, false, nil
	}
	if !isDigits(f[1].s) {
		return bad("bad link count")
	}
	// perms links owner [group] size month day time name: find the month.
	var m int
	switch {
	case len(f) >= 8 && isMonth(f[5].s) && isDigits(f[4].s):
		m = 5
	case isMonth(f[4].s) && isDigits(f[3].s):
		m = 4
	default:
		return bad("no size and date columns")
	}
	size, err := strconv.ParseInt(f[m-1].s, 10, 64)
	if err != nil {
		return bad("bad size")
	}
	if len(f) < m+3 {
		return bad("no name")
	}
	mtime, prec, err := parseUnixTime(f[m].s, f[m+1].s, f[m+2].s, now)
	if err != nil {
		return bad(err.Error())
	}
	// Exactly one space separates the time from the name: more would be part
	// of the name.
	rest := line[f[m+2].end:]
	if len(rest) < 2 || rest[0] != ' ' {
		return bad("no name")
	}
	name := rest[1:]
	var target string
	if typ == scan.Symlink {
		var found bool
		if name, target, found = strings.Cut(name, " -> "); !found {
			return bad("symlink without ' -> target'")
		}
	}
	skip, err := checkName(name, typ)
	if err != nil {
		return item{}, false, err
	}
	if skip {
		return item{}, false, nil
	}
	e := scan.Entry{Type: typ, ModTime: mtime, Precision: prec, Mode: mode, Target: target}
	if typ == scan.File {
		e.Size = size
	}
	return item{name: name, entry: e}, true, nil
}

func isMonth(s string) bool {
	_, ok := months[strings.ToLower(s)]
	return ok && len(s) == 3
}

// parsePerms parses "drwxr-xr-x", with an optional ACL/SELinux marker after.
func parsePerms(s string) (fs.FileMode, bool) {
	if len(s) == 11 && strings.IndexByte("+.@", s[10]) >= 0 {
		s = s[:10]
	}
	if len(s) != 10 {
		return 0, false
	}
	var mode fs.FileMode
	for i, c := range s[1:] {
		bit := fs.FileMode(1) << (8 - i)
		switch want := "rwxrwxrwx"[i]; {
		case byte(c) == '-':
		case byte(c) == want:
			mode |= bit
		case want == 'x' && (c == 's' || (c == 't' && i == 8)):
			mode |= bit // setuid/setgid/sticky with execute
		case want == 'x' && (c == 'S' || (c == 'T' && i == 8)):
			// setuid/setgid/sticky without execute
		default:
			return 0, false
		}
	}
	return mode, true
}

// parseUnixTime reads "Jan  2  2026" (day precision: ls prints a year for
// times more than six months away) or "Nov 20 14:05" (minute precision, in
// the most recent year that does not put it in the future, so a December
// time read in January lands in the year before).
func parseUnixTime(mon, day, tod string, now time.Time) (time.Time, time.Duration, error) {
	m := months[strings.ToLower(mon)]
	d, err := strconv.Atoi(day)
	if err != nil || !isDigits(day) || d < 1 || d > 31 {
		return time.Time{}, 0, fmt.Errorf("bad day %q", day)
	}
	if len(tod) == 4 && isDigits(tod) {
		y, _ := strconv.Atoi(tod)
		t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		if t.Day() != d {
			return time.Time{}, 0, fmt.Errorf("no %s %d in %d", mon, d, y)
		}
		return t, precisionYear, nil
	}
	hh, mm, ok := strings.Cut(tod, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 || !isDigits(hh) || !isDigits(mm) {
		return time.Time{}, 0, fmt.Errorf("bad time or year %q", tod)
	}
	h, _ := strconv.Atoi(hh)
	mi, _ := strconv.Atoi(mm)
	if h > 23 || mi > 59 {
		return time.Time{}, 0, fmt.Errorf("bad time %q", tod)
	}
	now = now.UTC()
	// Four years back reaches a leap year for "Feb 29".
	for y := now.Year(); y >= now.Year()-4; y-- {
		t := time.Date(y, m, d, h, mi, 0, 0, time.UTC)
		if t.Day() == d && !t.After(now.Add(recentFutureMargin)) {
			return t, precisionRecent, nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("no recent year has %s %d", mon, d)
}

// parseDOSLine parses IIS/DOS style lines:
//
//	01-02-26  03:04AM       <DIR>          name
//	01-02-2026  15:04            1234 name
func parseDOSLine(line string) (item, bool, error) {
	bad := func(why string) (item, bool, error) {
		return item{}, false, fmt.Errorf("%w: DOS LIST line %q: %s", scan.ErrBadListing, line, why)
	}
	f := fieldsN(line, 3)
	if len(f) < 3 {
		return bad("too few fields")
	}
	mtime, err := parseDOSTime(f[0].s, f[1].s)
	if err != nil {
		return bad(err.Error())
	}
	e := scan.Entry{ModTime: mtime, Precision: precisionRecent}
	switch {
	case f[2].s == "<DIR>":
		e.Type = scan.Dir
	case isDigits(f[2].s):
		n, err := strconv.ParseInt(f[2].s, 10, 64)
		if err != nil {
			return bad("bad size")
		}
		e.Type, e.Size = scan.File, n
	default:
		return bad("neither <DIR> nor a size")
	}
	// The name column is padded for alignment, so leading spaces cannot be
	// told from padding; IIS names with leading spaces are lost this way.
	name := strings.TrimLeft(line[f[2].end:], " \t")
	if name == "" {
		return bad("no name")
	}
	skip, err := checkName(name, e.Type)
	if err != nil {
		return item{}, false, err
	}
	if skip {
		return item{}, false, nil
	}
	return item{name: name, entry: e}, true, nil
}

// parseDOSTime reads "MM-DD-YY" or "MM-DD-YYYY" and "hh:mmAM" or "HH:MM".
// Two-digit years pivot at 70, like IIS's own clients.
func parseDOSTime(date, tod string) (time.Time, error) {
	parts := strings.Split(date, "-")
	if len(parts) != 3 || len(parts[0]) != 2 || len(parts[1]) != 2 || (len(parts[2]) != 2 && len(parts[2]) != 4) {
		return time.Time{}, fmt.Errorf("bad date %q", date)
	}
	var n [3]int
	for i, p := range parts {
		if !isDigits(p) {
			return time.Time{}, fmt.Errorf("bad date %q", date)
		}
		n[i], _ = strconv.Atoi(p)
	}
	mon, day, year := n[0], n[1], n[2]
	if len(parts[2]) == 2 {
		year += 1900
		if year < 1970 {
			year += 100
		}
	}
	pm, am := strings.HasSuffix(tod, "PM"), strings.HasSuffix(tod, "AM")
	clock := strings.TrimSuffix(strings.TrimSuffix(tod, "PM"), "AM")
	hh, mm, ok := strings.Cut(clock, ":")
	if !ok || len(hh) != 2 || len(mm) != 2 || !isDigits(hh) || !isDigits(mm) {
		return time.Time{}, fmt.Errorf("bad time %q", tod)
	}
	h, _ := strconv.Atoi(hh)
	mi, _ := strconv.Atoi(mm)
	switch {
	case mi > 59:
		return time.Time{}, fmt.Errorf("bad time %q", tod)
	case am || pm:
		if h < 1 || h > 12 {
			return time.Time{}, fmt.Errorf("bad time %q", tod)
		}
		h %= 12
		if pm {
			h += 12
		}
	case h > 23:
		return time.Time{}, fmt.Errorf("bad time %q", tod)
	}
	if mon < 1 || mon > 12 {
		return time.Time{}, fmt.Errorf("bad date %q", date)
	}
	t := time.Date(year, time.Month(mon), day, h, mi, 0, 0, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("bad date %q", date)
	}
	return t, nil
}

// checkReplies reads the control connection's replies to a listing command
// for a server saying the listing is incomplete although it ended with 226.
// pure-ftpd caps every listing (MLSD included) at 10000 entries unless run
// with -L, and says so only in the text: "226 Output truncated to 10000
// matches". A complete listing ends "226 N matches total", which must agree
// with the lines received.
func checkReplies(replies []byte, nlines int) error {
	for _, line := range lines(replies) {
		if len(line) < 4 || !strings.HasPrefix(line, "226") || (line[3] != ' ' && line[3] != '-') {
			continue
		}
		text := line[4:]
		if strings.Contains(strings.ToLower(text), "truncated") {
			return fmt.Errorf("server says %q", line)
		}
		if n, ok := strings.CutSuffix(text, " matches total"); ok && isDigits(n) {
			if want, err := strconv.Atoi(n); err == nil && want != nlines {
				return fmt.Errorf("server says %q, sent %d lines", line, nlines)
			}
		}
	}
	return nil
}
