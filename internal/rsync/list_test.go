package rsync

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse("2006/01/02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return t
}

// The lines below were printed by rsync 3.5.0 (`TZ=UTC rsync -rl --list-only
// --no-motd --no-h rsync://127.0.0.1:PORT/mod/`) for a tree built to contain
// each case.
func TestParseListLineReal(t *testing.T) {
	for _, tc := range []struct {
		line string
		want ListEntry
	}{
		{"drwxr-xr-x        4096 2026/11/22 02:46:59 .",
			ListEntry{Mode: fs.ModeDir | 0o755, Size: 4096, ModTime: at("2026/11/22 02:46:59"), Path: "."}},
		{"-rw-r--r--           3 2026/01/02 03:04:05 a.txt",
			ListEntry{Mode: 0o644, Size: 3, ModTime: at("2026/01/02 03:04:05"), Path: "a.txt"}},
		{"-rw-r--r--  4294979641 2026/11/22 02:46:26 big.iso",
			ListEntry{Mode: 0o644, Size: 4294979641, ModTime: at("2026/11/22 02:46:26"), Path: "big.iso"}},
		// Sizes wider than the 11-column field push the rest of the line right.
		{"-rw-r--r-- 12345678901234 2026/11/22 02:47:11 huge",
			ListEntry{Mode: 0o644, Size: 12345678901234, ModTime: at("2026/11/22 02:47:11"), Path: "huge"}},
		{"lrwxrwxrwx           2 2026/11/22 02:46:26 latest -> 40",
			ListEntry{Mode: fs.ModeSymlink | 0o777, Size: 2, ModTime: at("2026/11/22 02:46:26"), Path: "latest", LinkTarget: "40"}},
		// The symlink "arrow -> name" to "x -> y": the size (6, the target's
		// length) says where the name ends.
		{"lrwxrwxrwx           6 2026/11/22 02:46:26 arrow -> name -> x -> y",
			ListEntry{Mode: fs.ModeSymlink | 0o777, Size: 6, ModTime: at("2026/11/22 02:46:26"), Path: "arrow -> name", LinkTarget: "x -> y"}},
		{"lrwxrwxrwx           4 2026/11/22 02:46:59 l2 -> tgt\\#351",
			ListEntry{Mode: fs.ModeSymlink | 0o777, Size: 4, ModTime: at("2026/11/22 02:46:59"), Path: "l2", LinkTarget: "tgt\xe9"}},
		{"-rw-r--r--           1 2026/11/22 02:46:26 caf\\#351.txt",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:46:26"), Path: "caf\xe9.txt"}},
		{"-rw-r--r--           1 2026/11/22 02:46:26 new\\#012line",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:46:26"), Path: "new\nline"}},
		// A backslash is printed as is, unless "#ddd" follows it.
		{"-rw-r--r--           1 2026/11/22 02:46:26 back\\slash",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:46:26"), Path: "back\\slash"}},
		{"-rw-r--r--           1 2026/11/22 02:46:59 lit\\#134#351",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:46:59"), Path: "lit\\#351"}},
		// Tabs are not escaped.
		{"-rw-r--r--           1 2026/11/22 02:47:11 ta\tb",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:47:11"), Path: "ta\tb"}},
		{"-rw-r--r--           1 2026/11/22 02:46:26 odd names/with spaces & more.txt",
			ListEntry{Mode: 0o644, Size: 1, ModTime: at("2026/11/22 02:46:26"), Path: "odd names/with spaces & more.txt"}},
		{"drwxr-x---        4096 2026/11/22 02:47:11 e",
			ListEntry{Mode: fs.ModeDir | 0o750, Size: 4096, ModTime: at("2026/11/22 02:47:11"), Path: "e"}},
		// Not captured: composed from rsync's permstring rules.
		{"drwxrwxrwt        4096 2026/11/22 02:47:11 tmp",
			ListEntry{Mode: fs.ModeDir | fs.ModeSticky | 0o777, Size: 4096, ModTime: at("2026/11/22 02:47:11"), Path: "tmp"}},
		{"-rwsr-Sr-T           0 2026/11/22 02:47:11  leading space",
			ListEntry{Mode: fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o744, ModTime: at("2026/11/22 02:47:11"), Path: " leading space"}},
		{"prw-r--r--           0 1970/01/01 00:00:00 fifo",
			ListEntry{Mode: fs.ModeNamedPipe | 0o644, ModTime: at("1970/01/01 00:00:00"), Path: "fifo"}},
	} {
		got, err := ParseListLine(tc.line)
		if err != nil {
			t.Errorf("ParseListLine(%q): %v", tc.line, err)
			continue
		}
		if got.Mode != tc.want.Mode || got.Size != tc.want.Size || !got.ModTime.Equal(tc.want.ModTime) ||
			got.Path != tc.want.Path || got.LinkTarget != tc.want.LinkTarget {
			t.Errorf("ParseListLine(%q)\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
		if got.ModTime.Location() != time.UTC {
			t.Errorf("ParseListLine(%q): time %v not in UTC", tc.line, got.ModTime)
		}
		if back := FormatListLine(got); back != tc.line {
			t.Errorf("FormatListLine round trip:\n got %q\nwant %q", back, tc.line)
		}
	}
}

func TestParseListLineMalformed(t *testing.T) {
	for _, line := range []string{
		"",
		"drwxr-xr-x",
		"drwxr-xr-x        4096 2026/11/22 02:46:59",  // no name
		"drwxr-xr-x        4096 2026/11/22 02:46:59 ", // empty name
		"xrwxr-xr-x        4096 2026/11/22 02:46:59 a",
		"drwxr-xr-q        4096 2026/11/22 02:46:59 a",
		"-rw-r--r--x       4096 2026/11/22 02:46:59 a",
		"-rw-r--r--        4,096 2026/11/22 02:46:59 a", // thousands separators: not --no-h output
		"-rw-r--r--        4.0K 2026/11/22 02:46:59 a",
		"-rw-r--r--             2026/11/22 02:46:59 a",
		"-rw-r--r--  99999999999999999999 2026/11/22 02:46:59 a", // overflows int64
		"-rw-r--r--           1 2026-11-22 02:46:59 a",
		"-rw-r--r--           1 2026/13/22 02:46:59 a",
		"-rw-r--r--           1 2026/11/22 24:46:59 a",
		"-rw-r--r--           1 2026/11/22 02:46:5x a",
		"-rw-r--r--           1 2026/11/22 02:46:59a",
		"-rw-r--r--           1 2026/11/22 02:46:59 bad\\#999escape",
		"lrwxrwxrwx           2 2026/11/22 02:46:26 latest",
		"lrwxrwxrwx           2 2026/11/22 02:46:26  -> 40",
		"@ERROR: Unknown module 'nomod'",
	} {
		_, err := ParseListLine(line)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseListLine(%q) err = %v, want ErrMalformed", line, err)
		}
	}
}

func TestListReader(t *testing.T) {
	listing := "drwxr-xr-x        4096 2026/11/22 02:46:59 .\n" +
		"-rw-r--r--           3 2026/01/02 03:04:05 a.txt\n" +
		"lrwxrwxrwx           2 2026/11/22 02:46:26 latest -> 40\n"
	lr := NewListReader(strings.NewReader(listing))
	var paths []string
	for {
		e, err := lr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, e.Path)
	}
	if got := strings.Join(paths, ","); got != ".,a.txt,latest" {
		t.Fatalf("paths = %s", got)
	}

	// A listing cut mid-line (rsync died while printing) is an error naming
	// the line, never a shorter listing.
	lr = NewListReader(strings.NewReader(listing[:len(listing)-10]))
	var err error
	for err == nil {
		_, err = lr.Next()
	}
	var pe *ParseError
	if !errors.Is(err, ErrPartialLine) || !errors.As(err, &pe) || pe.Line != 3 {
		t.Fatalf("cut listing: err = %v, want ErrPartialLine on line 3", err)
	}

	lr = NewListReader(strings.NewReader(listing + "garbage\n"))
	for err = nil; err == nil; _, err = lr.Next() {
	}
	if !errors.Is(err, ErrMalformed) || !errors.As(err, &pe) || pe.Line != 4 || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("garbage line: err = %v, want ErrMalformed naming line 4", err)
	}
	if _, again := lr.Next(); again != err {
		t.Fatalf("after an error Next returned %v, want the same error", again)
	}

	long := "-rw-r--r--           1 2026/11/22 02:46:59 " + strings.Repeat("x", MaxListLine) + "\n"
	if _, err := NewListReader(strings.NewReader(long)).Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("long line: err = %v, want ErrLineTooLong", err)
	}
}

func FuzzParseList(f *testing.F) {
	for _, s := range []string{
		"drwxr-xr-x        4096 2026/11/22 02:46:59 .",
		"-rw-r--r--  4294979641 2026/11/22 02:46:26 big.iso",
		"lrwxrwxrwx           6 2026/11/22 02:46:26 arrow -> name -> x -> y",
		"-rw-r--r--           1 2026/11/22 02:46:59 lit\\#134#351",
		"-rw-r--r--           1 2026/11/22 02:46:26 caf\\#351.txt",
		"-rw-r--r--           1  999/11/22 02:46:26 old",
		"lrwxrwxrwx           2 2026/11/22 02:46:26 latest -> 40",
		"caf\xe9 \\#1 \\",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// As a line: never a panic; an accepted line prints back to a line
		// that parses to the same entry.
		if e, err := ParseListLine(in); err == nil {
			again, err := ParseListLine(FormatListLine(e))
			if err != nil {
				t.Fatalf("%q parsed to %+v, whose line %q fails: %v", in, e, FormatListLine(e), err)
			}
			if again.Path != e.Path || again.LinkTarget != e.LinkTarget || again.Size != e.Size ||
				again.Mode != e.Mode || !again.ModTime.Equal(e.ModTime) {
				t.Fatalf("%q: round trip %+v -> %+v", in, e, again)
			}
		}
		// As a name: whatever bytes a file is called, its line gives them back.
		if in == "" {
			return
		}
		e := ListEntry{Mode: 0o644, Size: int64(len(in)), ModTime: at("2026/01/02 03:04:05"), Path: in}
		line := FormatListLine(e)
		if strings.ContainsRune(line, '\n') {
			t.Fatalf("name %q printed with a raw newline: %q", in, line)
		}
		got, err := ParseListLine(line)
		if err != nil || got.Path != in {
			t.Fatalf("name %q: line %q parsed to %q, %v", in, line, got.Path, err)
		}
		// As a symlink target, with a name without an arrow.
		e = ListEntry{Mode: fs.ModeSymlink | 0o777, Size: int64(len(in)), ModTime: e.ModTime, Path: "link", LinkTarget: in}
		got, err = ParseListLine(FormatListLine(e))
		if err != nil || got.Path != "link" || got.LinkTarget != in {
			t.Fatalf("target %q: parsed to %q -> %q, %v", in, got.Path, got.LinkTarget, err)
		}
	})
}

// syntheticListing is a mirror-like listing of n lines: directories of 100
// files each, with a symlink and an escaped name now and then.
func syntheticListing(n int) []byte {
	var b bytes.Buffer
	mt := at("2026/01/02 03:04:05")
	for i := 0; b.Len() >= 0 && i < n; i++ {
		var e ListEntry
		switch {
		case i%100 == 0:
			e = ListEntry{Mode: fs.ModeDir | 0o755, Size: 4096, Path: fmt.Sprintf("fedora/linux/updates/40/Everything/x86_64/Packages/d%05d", i/100)}
		case i%97 == 0:
			e = ListEntry{Mode: fs.ModeSymlink | 0o777, Size: 11, Path: fmt.Sprintf("fedora/linux/updates/40/Everything/x86_64/Packages/d%05d/latest-%d", i/100, i), LinkTarget: "pkg-1.0.rpm"}
		case i%53 == 0:
			e = ListEntry{Mode: 0o644, Size: int64(i) * 1234567, Path: fmt.Sprintf("fedora/linux/updates/40/Everything/x86_64/Packages/d%05d/caf\xe9-%d.rpm", i/100, i)}
		default:
			e = ListEntry{Mode: 0o644, Size: int64(i) * 4321, Path: fmt.Sprintf("fedora/linux/updates/40/Everything/x86_64/Packages/d%05d/package-%d-1.fc40.x86_64.rpm", i/100, i)}
		}
		e.ModTime = mt.Add(time.Duration(i) * time.Second)
		b.WriteString(FormatListLine(e))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkParseList(b *testing.B) {
	const lines = 300_000
	data := syntheticListing(lines)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lr := NewListReader(bytes.NewReader(data))
		n := 0
		for {
			_, err := lr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != lines {
			b.Fatalf("parsed %d lines, want %d", n, lines)
		}
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

func TestEachEntry(t *testing.T) {
	in := "-rw-r--r--             11 2026/11/22 08:02:29 a\n-rw-r--r--             12 2026/11/22 08:02:30 b\n"
	var names []string
	if err := EachEntry(strings.NewReader(in), func(e ListEntry) error { names = append(names, e.Path); return nil }); err != nil || len(names) != 2 || names[1] != "b" {
		t.Fatalf("%v %q", err, names)
	}
	stop := errors.New("stop")
	n := 0
	if err := EachEntry(strings.NewReader(in), func(ListEntry) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("f's error: %v after %d", err, n)
	}
	if err := EachEntry(strings.NewReader("garbage\n"), func(ListEntry) error { return nil }); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
}
