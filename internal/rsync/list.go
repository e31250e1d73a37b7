package rsync

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"time"
)

// ListEntry is one line of `rsync --list-only --no-h` output.
type ListEntry struct {
	// Mode carries the type bits (fs.ModeDir, fs.ModeSymlink, ...) and the
	// permission, setuid, setgid and sticky bits rsync printed.
	Mode fs.FileMode
	// Size as rsync printed it: a file's length, a directory's st_size, and a
	// symlink's target length (lstat's st_size).
	Size int64
	// ModTime is in UTC, to the second. It is only right when the rsync
	// that printed it ran with TZ=UTC, as Run arranges: rsync prints local time.
	ModTime time.Time
	// Path is the name relative to the transfer root, with rsync's \#ooo
	// escapes undone: the raw bytes, which need not be UTF-8. The root itself
	// is ".".
	Path string
	// LinkTarget is a symlink's target (raw bytes), empty for anything else.
	LinkTarget string
}

// Listing errors. A *ParseError wraps one of them.
var (
	// ErrMalformed: a line does not have the shape of a listing line.
	ErrMalformed = errors.New("malformed rsync listing line")
	// ErrPartialLine: the output ended in the middle of a line, which means
	// rsync (or the pipe to it) died while printing.
	ErrPartialLine = errors.New("rsync listing ends mid-line")
	// ErrLineTooLong: a line exceeds MaxListLine.
	ErrLineTooLong = errors.New("rsync listing line too long")
)

// MaxListLine bounds one listing line. A path of 4096 bytes, every byte
// escaped as \#ooo (4 bytes each), plus an equally long symlink target fits.
const MaxListLine = 64 << 10

// ParseError says which line of a listing was bad and why.
type ParseError struct {
	Line int    // 1-based line number
	Text string // the line, shortened and quoted for the message
	Err  error  // ErrMalformed, ErrPartialLine or ErrLineTooLong, possibly wrapped
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("rsync listing line %d: %v: %s", e.Line, e.Err, e.Text)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseListLine parses one line (without its newline) of rsync's
// --list-only --no-h output:
//
//	-rw-r--r--  4294979641 2026/01/02 03:04:05 releases/40/x.iso
//	lrwxrwxrwx           2 2026/01/02 03:04:05 latest -> 40
//
// Errors wrap ErrMalformed.
func ParseListLine(line string) (ListEntry, error) {
	var scratch []byte
	e, err := parseLine([]byte(line), &scratch)
	if err != nil {
		return ListEntry{}, &ParseError{Line: 1, Text: quoteShort(line), Err: err}
	}
	return e, nil
}

// ListReader parses a listing as it streams in, one entry per Next call, so
// a listing of any length is never held in memory whole.
type ListReader struct {
	br      *bufio.Reader
	line    int
	scratch []byte
	err     error
}

// NewListReader returns a ListReader over r.
func NewListReader(r io.Reader) *ListReader {
	return &ListReader{br: bufio.NewReaderSize(r, MaxListLine)}
}

// Line is the number of the line Next parsed last.
func (lr *ListReader) Line() int { return lr.line }

// Next returns the next entry, io.EOF after the last complete line, or a
// *ParseError naming the bad line. Output that stops mid-line is an error
// (ErrPartialLine), not a short listing. Errors are final: every later call
// returns the same one.
func (lr *ListReader) Next() (ListEntry, error) {
	if lr.err != nil {
		return ListEntry{}, lr.err
	}
	e, err := lr.next()
	if err != nil {
		lr.err = err
	}
	return e, err
}

func (lr *ListReader) next() (ListEntry, error) {
	raw, err := lr.br.ReadSlice('\n')
	switch {
	case err == nil:
		lr.line++
		raw = raw[:len(raw)-1]
	case errors.Is(err, bufio.ErrBufferFull):
		lr.line++
		return ListEntry{}, &ParseError{Line: lr.line, Text: quoteShort(string(raw)), Err: ErrLineTooLong}
	case errors.Is(err, io.EOF):
		if len(raw) == 0 {
			return ListEntry{}, io.EOF
		}
		lr.line++
		return ListEntry{}, &ParseError{Line: lr.line, Text: quoteShort(string(raw)), Err: ErrPartialLine}
	default:
		return ListEntry{}, fmt.Errorf("rsync listing after line %d: %w", lr.line, err)
	}
	e, perr := parseLine(raw, &lr.scratch)
	if perr != nil {
		return ListEntry{}, &ParseError{Line: lr.line, Text: quoteShort(string(raw)), Err: perr}
	}
	return e, nil
}

// timeLen is len("2026/01/02 03:04:05"); rsync formats it with
// "%4d/%02d/%02d %02d:%02d:%02d", so it is fixed-width.
const timeLen = 19

func parseLine(line []byte, scratch *[]byte) (ListEntry, error) {
	var e ListEntry
	// mode, space, at least one size digit, space, time, space, one name byte
	if len(line) < 10+1+1+1+timeLen+1+1 {
		return e, fmt.Errorf("%w: too short", ErrMalformed)
	}
	mode, ok := parseMode(line[:10])
	if !ok {
		return e, fmt.Errorf("%w: bad mode %q", ErrMalformed, line[:10])
	}
	e.Mode = mode
	i := 10
	// The size is right-aligned in an 11-column field and simply grows past
	// it, so any run of spaces may precede it.
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i == 10 {
		return e, fmt.Errorf("%w: no space after mode", ErrMalformed)
	}
	start := i
	var size int64
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		if size > (1<<63-1-9)/10 {
			return e, fmt.Errorf("%w: size overflows", ErrMalformed)
		}
		size = size*10 + int64(line[i]-'0')
	}
	if i == start || i >= len(line) || line[i] != ' ' {
		return e, fmt.Errorf("%w: bad size", ErrMalformed)
	}
	e.Size = size
	i++
	if len(line)-i < timeLen+2 {
		return e, fmt.Errorf("%w: too short for a time and a name", ErrMalformed)
	}
	t, ok := parseTime(line[i : i+timeLen])
	if !ok {
		return e, fmt.Errorf("%w: bad time %q", ErrMalformed, line[i:i+timeLen])
	}
	e.ModTime = t
	i += timeLen
	if line[i] != ' ' {
		return e, fmt.Errorf("%w: no space after time", ErrMalformed)
	}
	i++
	// Exactly one space separates the time from the name: a name may itself
	// begin with spaces.
	name, err := unescape(line[i:], scratch)
	if err != nil {
		return e, err
	}
	if mode&fs.ModeSymlink != 0 {
		n, target, ok := splitLink(name, size)
		if !ok {
			return e, fmt.Errorf("%w: symlink without \" -> \"", ErrMalformed)
		}
		e.Path, e.LinkTarget = string(n), string(target)
	} else {
		e.Path = string(name)
	}
	return e, nil
}

var arrow = []byte(" -> ")

// splitLink separates "name -> target". rsync escapes neither side's " -> ",
// so "a -> b -> c" could be the link "a -> b" to "c" or "a" to "b -> c".
// rsync prints a symlink's size as its target's length, which settles it
// whenever the bytes before the last size bytes end in " -> "; otherwise
// (a platform where st_size is not the target length) the name is taken to
// end at the first " -> ": names are chosen by mirror admins and rarely hold
// an arrow, while relative targets are arbitrary.
func splitLink(s []byte, size int64) (name, target []byte, ok bool) {
	if size >= 0 && int64(len(s)) >= size+int64(len(arrow))+1 {
		cut := len(s) - int(size)
		if bytes.Equal(s[cut-len(arrow):cut], arrow) {
			return s[:cut-len(arrow)], s[cut:], true
		}
	}
	j := bytes.Index(s, arrow)
	if j <= 0 {
		return nil, nil, false
	}
	return s[:j], s[j+len(arrow):], true
}

// unescape undoes rsync's output escaping: a byte it considers unprintable
// (control bytes, DEL and, in the C locale, every byte >= 0x80) is printed
// as \#ooo, and so is a backslash that would otherwise read as the start of
// such an escape ("\#" and three decimal digits). A backslash anywhere else
// is literal. The result aliases *scratch when anything was unescaped.
func unescape(s []byte, scratch *[]byte) ([]byte, error) {
	k := bytes.Index(s, []byte(`\#`))
	if k < 0 {
		return s, nil
	}
	out := append((*scratch)[:0], s[:k]...)
	for i := k; i < len(s); {
		c := s[i]
		if c == '\\' && i+4 < len(s) && s[i+1] == '#' && isDigit(s[i+2]) && isDigit(s[i+3]) && isDigit(s[i+4]) {
			d0, d1, d2 := s[i+2]-'0', s[i+3]-'0', s[i+4]-'0'
			// rsync escapes "\#ddd" for any decimal digits, so digits that
			// are not an octal byte cannot come from rsync.
			if d0 > 3 || d1 > 7 || d2 > 7 {
				return nil, fmt.Errorf("%w: bad escape %q", ErrMalformed, s[i:i+5])
			}
			out = append(out, d0<<6|d1<<3|d2)
			i += 5
			continue
		}
		out = append(out, c)
		i++
	}
	*scratch = out
	return out, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseMode reads rsync's permstring ("drwxr-sr-t" and friends).
func parseMode(b []byte) (fs.FileMode, bool) {
	var m fs.FileMode
	switch b[0] {
	case '-':
	case 'd':
		m = fs.ModeDir
	case 'l':
		m = fs.ModeSymlink
	case 'b':
		m = fs.ModeDevice
	case 'c':
		m = fs.ModeDevice | fs.ModeCharDevice
	case 'p':
		m = fs.ModeNamedPipe
	case 's':
		m = fs.ModeSocket
	default:
		return 0, false
	}
	const rwx = "rwxrwxrwx"
	for k := 0; k < 9; k++ {
		c := b[1+k]
		bit := fs.FileMode(1) << (8 - k)
		switch {
		case c == rwx[k]:
			m |= bit
		case c == '-':
		case k%3 == 2: // execute column: s/S (setuid, setgid) or t/T (sticky)
			special, lower, upper := fs.ModeSetuid, byte('s'), byte('S')
			if k == 5 {
				special = fs.ModeSetgid
			} else if k == 8 {
				special, lower, upper = fs.ModeSticky, 't', 'T'
			}
			switch c {
			case lower:
				m |= special | bit
			case upper:
				m |= special
			default:
				return 0, false
			}
		default:
			return 0, false
		}
	}
	return m, true
}

// parseTime reads "YYYY/MM/DD hh:mm:ss" as UTC; rsync pads a year below 1000
// with spaces ("%4d").
func parseTime(b []byte) (time.Time, bool) {
	if b[4] != '/' || b[7] != '/' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok := atoiPadded(b[0:4])
	if !ok {
		return time.Time{}, false
	}
	mon, ok1 := atoi2(b[5:7])
	day, ok2 := atoi2(b[8:10])
	hh, ok3 := atoi2(b[11:13])
	mm, ok4 := atoi2(b[14:16])
	ss, ok5 := atoi2(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(mon), day, hh, mm, ss, 0, time.UTC), true
}

func atoi2(b []byte) (int, bool) {
	if !isDigit(b[0]) || !isDigit(b[1]) {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

func atoiPadded(b []byte) (int, bool) {
	i := 0
	for i < len(b)-1 && b[i] == ' ' {
		i++
	}
	n := 0
	for ; i < len(b); i++ {
		if !isDigit(b[i]) {
			return 0, false
		}
		n = n*10 + int(b[i]-'0')
	}
	return n, true
}

// FormatListLine prints e the way rsync --list-only --no-h does (in UTC).
// Tests use it to build listings; it is also the inverse ParseListLine is
// checked against.
func FormatListLine(e ListEntry) string {
	b := make([]byte, 0, 64+len(e.Path)+len(e.LinkTarget))
	b = append(b, permString(e.Mode)...)
	sz := strconv.FormatInt(e.Size, 10)
	for pad := 11 - len(sz); pad > 0; pad-- {
		b = append(b, ' ')
	}
	b = append(b, ' ')
	b = append(b, sz...)
	t := e.ModTime.UTC()
	b = fmt.Appendf(b, " %4d/%02d/%02d %02d:%02d:%02d ", t.Year(), int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second())
	b = append(b, EscapeName(e.Path)...)
	if e.Mode&fs.ModeSymlink != 0 {
		b = append(b, arrow...)
		b = append(b, EscapeName(e.LinkTarget)...)
	}
	return string(b)
}

// EscapeName escapes a name as rsync's output does (see unescape).
func EscapeName(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		esc := c != '\t' && (c < ' ' || c >= 0x7f)
		if c == '\\' && i+4 < len(s) && s[i+1] == '#' && isDigit(s[i+2]) && isDigit(s[i+3]) && isDigit(s[i+4]) {
			esc = true
		}
		if esc {
			b = append(b, '\\', '#', '0'+c>>6, '0'+c>>3&7, '0'+c&7)
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func permString(m fs.FileMode) string {
	b := []byte("----------")
	switch {
	case m&fs.ModeDir != 0:
		b[0] = 'd'
	case m&fs.ModeSymlink != 0:
		b[0] = 'l'
	case m&fs.ModeCharDevice != 0:
		b[0] = 'c'
	case m&fs.ModeDevice != 0:
		b[0] = 'b'
	case m&fs.ModeNamedPipe != 0:
		b[0] = 'p'
	case m&fs.ModeSocket != 0:
		b[0] = 's'
	}
	const rwx = "rwxrwxrwx"
	for k := 0; k < 9; k++ {
		if m&(1<<(8-k)) != 0 {
			b[1+k] = rwx[k]
		}
	}
	special := func(flag fs.FileMode, pos int, lower, upper byte) {
		if m&flag != 0 {
			if b[pos] == '-' {
				b[pos] = upper
			} else {
				b[pos] = lower
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

func quoteShort(s string) string {
	const limit = 120
	if len(s) > limit {
		return strconv.Quote(s[:limit]) + "..."
	}
	return strconv.Quote(s)
}

// EachEntry calls f with every entry of a listing read from r, in order,
// and stops at the end of the listing (nil), at a malformed line, or at
// f's first error.
func EachEntry(r io.Reader, f func(ListEntry) error) error {
	lr := NewListReader(r)
	for {
		e, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err == nil {
			err = f(e)
		}
		if err != nil {
			return err
		}
	}
}
