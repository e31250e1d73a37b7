package syncer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Item is one line rsync printed through the agent's --out-format: a file,
// directory or link it created, changed or deleted.
type Item struct {
	// Itemize is rsync's 11-character change summary (%i), e.g.
	// ">f+++++++++" for a new file, or "*deleting  ".
	Itemize string
	// Size is the file's length (%l).
	Size int64
	// Bytes is what crossed the wire for it (%b).
	Bytes int64
	// Name is the path relative to the tree, as rsync escapes it, with
	// " -> target" for symlinks and " => target" for hard links (%n%L).
	Name string
}

// Deleted reports an item rsync deleted (or, in a dry run, would delete).
func (it Item) Deleted() bool { return strings.HasPrefix(it.Itemize, "*deleting") }

// Dir reports a directory.
func (it Item) Dir() bool {
	if it.Deleted() {
		return strings.HasSuffix(it.Name, "/")
	}
	return len(it.Itemize) > 1 && it.Itemize[1] == 'd'
}

// Created reports a new entry (all attribute columns are '+').
func (it Item) Created() bool {
	return len(it.Itemize) == 11 && strings.Trim(it.Itemize[2:], "+") == ""
}

// Changed reports an existing entry whose content or target changed: a
// transfer, a local change or a hard link, not an attribute-only update.
func (it Item) Changed() bool {
	if it.Deleted() || it.Created() || len(it.Itemize) == 0 {
		return false
	}
	switch it.Itemize[0] {
	case '>', 'c', 'h':
		return true
	}
	return false
}

var errNotItem = errors.New("not an item line")

// ParseItem parses one --out-format line ("mk: %i %l %b %n%L", without the
// line end).
func ParseItem(line string) (Item, error) {
	rest, ok := strings.CutPrefix(line, "mk: ")
	if !ok || len(rest) < 12 || rest[11] != ' ' {
		return Item{}, errNotItem
	}
	for i := 0; i < 11; i++ {
		if c := rest[i]; c < ' ' || c > '~' {
			return Item{}, errNotItem
		}
	}
	it := Item{Itemize: rest[:11]}
	rest = rest[12:]
	var err error
	for _, dst := range []*int64{&it.Size, &it.Bytes} {
		i := strings.IndexByte(rest, ' ')
		if i <= 0 {
			return Item{}, errNotItem
		}
		if *dst, err = strconv.ParseInt(rest[:i], 10, 64); err != nil || *dst < 0 {
			return Item{}, errNotItem
		}
		rest = rest[i+1:]
	}
	if rest == "" {
		return Item{}, errNotItem
	}
	it.Name = rest
	return it, nil
}

// Format is the line ParseItem parses.
func (it Item) Format() string {
	return fmt.Sprintf("mk: %-11s %d %d %s", it.Itemize, it.Size, it.Bytes, it.Name)
}

// progress2 is one --info=progress2 update.
type progress2 struct {
	bytes   int64
	percent int
	toCheck int
	total   int
	hasChk  bool
}

// parseProgress2 parses "  1234  11%  2.28kB/s  0:00:00 (xfr#2, to-chk=8/15)".
func parseProgress2(line string) (progress2, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasSuffix(f[1], "%") {
		return progress2{}, false
	}
	var p progress2
	var err error
	if p.bytes, err = strconv.ParseInt(strings.ReplaceAll(f[0], ",", ""), 10, 64); err != nil {
		return progress2{}, false
	}
	if p.percent, err = strconv.Atoi(strings.TrimSuffix(f[1], "%")); err != nil {
		return progress2{}, false
	}
	for _, x := range f[4:] {
		x = strings.TrimSuffix(x, ")")
		for _, pre := range []string{"to-chk=", "ir-chk="} {
			if v, ok := strings.CutPrefix(x, pre); ok {
				a, b, ok := strings.Cut(v, "/")
				if !ok {
					continue
				}
				na, e1 := strconv.Atoi(a)
				nb, e2 := strconv.Atoi(b)
				if e1 == nil && e2 == nil {
					p.toCheck, p.total, p.hasChk = na, nb, true
				}
			}
		}
	}
	return p, true
}

// passStats is what one rsync pass reported.
type passStats struct {
	// Files is rsync's "Number of files" (the upstream side's entries in
	// the transfer, directories and links included).
	Files   int64
	Added   int
	Changed int
	Deleted int
	// DirsAdded and DirsDeleted count directories, kept out of the above.
	DirsAdded, DirsDeleted int
	BytesReceived          int64
	// SkippedDeletes is rsync's count of deletions --max-delete held back;
	// -1 when rsync did not say.
	SkippedDeletes int
	statsSeen      bool
}

func newPassStats() passStats { return passStats{SkippedDeletes: -1} }

func (ps *passStats) item(it Item) {
	switch {
	case it.Deleted() && it.Dir():
		ps.DirsDeleted++
	case it.Deleted():
		ps.Deleted++
	case it.Dir() && it.Created():
		ps.DirsAdded++
	case it.Dir():
	case it.Created():
		ps.Added++
	case it.Changed():
		ps.Changed++
	}
}

// statsLine folds one line of --stats output in.
func (ps *passStats) statsLine(line string) {
	num := func(s string) (int64, bool) {
		s = strings.TrimSpace(s)
		if i := strings.IndexAny(s, " ("); i >= 0 {
			s = s[:i]
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		return n, err == nil
	}
	if v, ok := strings.CutPrefix(line, "Number of files: "); ok {
		if n, ok := num(v); ok {
			ps.Files, ps.statsSeen = n, true
		}
	} else if v, ok := strings.CutPrefix(line, "Total bytes received: "); ok {
		if n, ok := num(v); ok {
			ps.BytesReceived = n
		}
	}
}

// stderrLine picks rsync's --max-delete report out of its stderr:
// "Deletions stopped due to --max-delete limit (4 skipped)".
func (ps *passStats) stderrLine(line string) {
	const pre = "Deletions stopped due to --max-delete limit ("
	i := strings.Index(line, pre)
	if i < 0 {
		return
	}
	v := line[i+len(pre):]
	v, _, ok := strings.Cut(v, " skipped)")
	if !ok {
		return
	}
	if n, err := strconv.Atoi(strings.ReplaceAll(v, ",", "")); err == nil && n >= 0 {
		ps.SkippedDeletes = n
	}
}

// scanCRLF splits on "\n" and on "\r": progress2 redraws its line with "\r".
func scanCRLF(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// maxOutputLine bounds one line of rsync's stdout: a 4 KiB path escaped
// four bytes per byte, plus a link target as long.
const maxOutputLine = 64 << 10

// consumeOutput reads one pass's stdout, folding item and stats lines into
// ps and calling onItem and onProgress as they arrive.
func consumeOutput(r io.Reader, ps *passStats, onItem func(Item), onProgress func(progress2)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxOutputLine)
	sc.Split(scanCRLF)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "mk: ") {
			if it, err := ParseItem(line); err == nil {
				ps.item(it)
				if onItem != nil {
					onItem(it)
				}
			}
			continue
		}
		if line[0] == ' ' {
			if p, ok := parseProgress2(line); ok {
				if onProgress != nil {
					onProgress(p)
				}
				continue
			}
		}
		ps.statsLine(line)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, bufio.ErrTooLong) {
		return fmt.Errorf("read rsync output: %w", err)
	}
	return nil
}
