package ftpscan

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

var now = time.Date(2026, 11, 22, 2, 47, 0, 0, time.UTC)

func TestParseLISTLine(t *testing.T) {
	day, minute := 24*time.Hour, time.Minute
	for _, tc := range []struct {
		name string
		line string
		now  time.Time
		want item
		skip bool
	}{
		{
			name: "unix old file over 4 GiB (pure-ftpd)",
			line: "-rw-r--r--    1 0          0          4294979641 Jan  2  2026 Fedora-40-x86_64.iso",
			want: item{name: "Fedora-40-x86_64.iso", entry: scan.Entry{Type: scan.File, Size: 4294979641,
				ModTime: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Precision: day, Mode: 0o644}},
		},
		{
			name: "unix recent file",
			line: "-rw-r--r--    1 1000  1000  1543 Nov 20 14:05 CHECKSUM",
			want: item{name: "CHECKSUM", entry: scan.Entry{Type: scan.File, Size: 1543,
				ModTime: time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC), Precision: minute, Mode: 0o644}},
		},
		{
			name: "unix recent in December, read in January: last year",
			line: "-rw-r--r--    1 1000  1000  1 Dec 31 23:59 x",
			now:  time.Date(2027, 1, 1, 0, 10, 0, 0, time.UTC),
			want: item{name: "x", entry: scan.Entry{Type: scan.File, Size: 1,
				ModTime: time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), Precision: minute, Mode: 0o644}},
		},
		{
			name: "unix recent, a few hours ahead of our clock: this year",
			line: "-rw-r--r--    1 1000  1000  1 Nov 22 10:00 x",
			want: item{name: "x", entry: scan.Entry{Type: scan.File, Size: 1,
				ModTime: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Precision: minute, Mode: 0o644}},
		},
		{
			name: "unix recent Feb 29 lands in a leap year",
			line: "-rw-r--r--    1 1000  1000  1 Feb 29 10:00 leap",
			now:  time.Date(2029, 3, 10, 0, 0, 0, 0, time.UTC),
			want: item{name: "leap", entry: scan.Entry{Type: scan.File, Size: 1,
				ModTime: time.Date(2028, 2, 29, 10, 0, 0, 0, time.UTC), Precision: minute, Mode: 0o644}},
		},
		{
			name: "unix symlink",
			line: "lrwxrwxrwx    1 0          0                   2 Nov 22 02:47 latest -> 40",
			want: item{name: "latest", entry: scan.Entry{Type: scan.Symlink, Target: "40",
				ModTime: time.Date(2026, 11, 22, 2, 47, 0, 0, time.UTC), Precision: minute, Mode: 0o777}},
		},
		{
			name: "unix symlink with spaces",
			line: "lrwxrwxrwx 1 0 0 9 Jan  2  2026 my link -> a target",
			want: item{name: "my link", entry: scan.Entry{Type: scan.Symlink, Target: "a target",
				ModTime: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Precision: day, Mode: 0o777}},
		},
		{
			name: "unix name with spaces, leading and inner",
			line: "-rw-r--r--    1 0          0                   7 Jan  2  2026  with  spaces & more.txt ",
			want: item{name: " with  spaces & more.txt ", entry: scan.Entry{Type: scan.File, Size: 7,
				ModTime: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Precision: day, Mode: 0o644}},
		},
		{
			name: "unix directory without group column",
			line: "drwxr-x---    2 ftp   4096 Mar  5  2024 staged",
			want: item{name: "staged", entry: scan.Entry{Type: scan.Dir,
				ModTime: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), Precision: day, Mode: 0o750}},
		},
		{
			name: "unix setuid, sticky and ACL marker",
			line: "drwsr-xr-t+   2 0 0 4096 Mar  5  2024 odd",
			want: item{name: "odd", entry: scan.Entry{Type: scan.Dir,
				ModTime: time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), Precision: day, Mode: 0o755}},
		},
		{name: "unix dot dir", line: "drwxr-xr-x    4 0 0 4096 Nov 22 02:49 .", skip: true},
		{name: "unix dotdot dir", line: "drwxr-xr-x    4 0 0 4096 Nov 22 02:49 ..", skip: true},
		{name: "total line", line: "total 1234", skip: true},
		{name: "fifo", line: "prw-r--r--    1 0 0 0 Nov 22 02:49 pipe", skip: true},
		{name: "device", line: "crw-rw-rw-    1 0 0 1,   3 Nov 22 02:49 null", skip: true},
		{
			name: "DOS directory",
			line: "01-02-26  03:04AM       <DIR>          releases",
			want: item{name: "releases", entry: scan.Entry{Type: scan.Dir,
				ModTime: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Precision: minute}},
		},
		{
			name: "DOS file, PM, name with spaces",
			line: "11-20-26  02:05PM              4294979641 big file.iso",
			want: item{name: "big file.iso", entry: scan.Entry{Type: scan.File, Size: 4294979641,
				ModTime: time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC), Precision: minute}},
		},
		{
			name: "DOS four-digit year, 24h clock, 12AM is midnight",
			line: "01-02-1999  12:30AM  5 old",
			want: item{name: "old", entry: scan.Entry{Type: scan.File, Size: 5,
				ModTime: time.Date(1999, 1, 2, 0, 30, 0, 0, time.UTC), Precision: minute}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := now
			if !tc.now.IsZero() {
				n = tc.now
			}
			got, ok, err := parseLISTLine(tc.line, n)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if ok == tc.skip {
				t.Fatalf("ok = %v, want %v (%+v)", ok, !tc.skip, got)
			}
			if !tc.skip && got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseLISTLineErrors(t *testing.T) {
	for _, line := range []string{
		"garbage",
		"-rw-r--r-- 1 0 0 12 Jan  2  2026",    // no name
		"-rw-r--r-- 1 0 0 12 Jan  2  2026 ",   // empty name
		"-rw-r--r-- 1 0 0 -12 Jan  2  2026 x", // negative size
		"-rw-r--r-- 1 0 0 99999999999999999999 Jan  2  2026 x",
		"-rw-r--r-- 1 0 0 12 Foo  2  2026 x",         // no month
		"-rw-r--r-- 1 0 0 12 Feb 30  2026 x",         // no such day
		"-rw-r--r-- 1 0 0 12 Jan  2 25:00 x",         // no such time
		"-rw-r--r-- 1 0 0 12 Jan  2 2026x x",         // neither year nor time
		"-rw-r--r-- 1 0 0 12 Jan  2 12:00:00 x",      // seconds: a format we do not know
		"-rwxr-xr-q 1 0 0 12 Jan  2  2026 x",         // bad permissions
		"-rw-r--r-- 1 0 0 12 Jan  2  2026 a/b",       // slash in name
		"-rw-r--r-- 1 0 0 12 Jan  2  2026 a\x00b",    // NUL in name
		"-rw-r--r-- 1 0 0 12 Jan  2  2026 ..",        // file named ..
		"lrwxrwxrwx 1 0 0 12 Jan  2  2026 .. -> /",   // symlink named ..
		"lrwxrwxrwx 1 0 0 12 Jan  2  2026 link",      // symlink without target
		"lrwxrwxrwx 1 0 0 12 Jan  2  2026 ../x -> y", // climbing symlink
		"total lots",
		"01-02-26  03:04AM       <FILE>   x",
		"01-02-26  13:04PM       <DIR>    x",
		"13-02-26  03:04AM       <DIR>    x",
		"01-02-26  03:04AM       <DIR>",
		"01-02-26  03:04AM       <DIR>    ..\x00",
		"01-02-26  03:04AM       12       ..",
		"Jan  2  2026 x",
		"+i8388621.48594,m825718503,r,s280,\tdjb.html", // EPLF: not supported
	} {
		if it, ok, err := parseLISTLine(line, now); err == nil {
			t.Errorf("parseLISTLine(%q) = %+v, %v, want an error", line, it, ok)
		} else if !errors.Is(err, scan.ErrBadListing) {
			t.Errorf("parseLISTLine(%q): %v does not wrap ErrBadListing", line, err)
		}
	}
}

func TestParseLISTWholeListing(t *testing.T) {
	data := "total 8\r\n" +
		"drwxr-xr-x    4 0 0 4096 Nov 22 02:49 .\r\n" +
		"-rw-r--r--    1 0 0    3 Jan  2  2026 a.txt\r\n" +
		"\r\n" +
		"lrwxrwxrwx    1 0 0    3 Nov 22 02:47 dlink -> sub\n"
	l, err := parseLIST([]byte(data), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.items) != 2 || l.items[0].name != "a.txt" || l.items[1].entry.Target != "sub" {
		t.Errorf("got %+v", l.items)
	}
	// One bad line fails the whole listing: nothing half-parsed survives.
	if _, err := parseLIST([]byte(data+"what is this\r\n"), now); !errors.Is(err, scan.ErrBadListing) {
		t.Errorf("bad line: %v", err)
	}
}

func TestParseMLSD(t *testing.T) {
	// Lines as pure-ftpd 1.0.50 sends them (anonymous, then a virtual user).
	data := "type=OS.unix=slink:sub;size=3;modify=20261122024721;UNIX.mode=0777;unique=fe00g984089; dlink\r\n" +
		"type=dir;sizd=4096;modify=20261122024721;UNIX.mode=0750;unique=fe00g984086; staged\r\n" +
		"type=cdir;sizd=4096;modify=20261122024913;UNIX.mode=0755;unique=fe00g984080; .\r\n" +
		"type=file;size=8;modify=20261120140500;UNIX.mode=0644;unique=fe00g98408b; sp ace.txt\r\n" +
		"type=OS.unix=slink:;size=5;modify=20261122024721;UNIX.mode=0777;UNIX.uid=0;UNIX.gid=0;unique=fe00g984088; link\r\n" +
		"type=pdir;sizd=4096;modify=20261122024913;UNIX.mode=0755;unique=fe00g984080; ..\r\n" +
		"Type=File;Size=4294979641;Modify=20260102030405.123; big;iso\r\n" +
		"type=OS.unix=chr-1/3;modify=20261122024721; null\r\n"
	l, err := parseMLSD([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if l.self != "fe00g984080" {
		t.Errorf("self = %q", l.self)
	}
	want := []item{
		{name: "dlink", unique: "fe00g984089", entry: scan.Entry{Type: scan.Symlink, Target: "sub",
			ModTime: time.Date(2026, 11, 22, 2, 47, 21, 0, time.UTC), Precision: time.Second, Mode: 0o777}},
		{name: "staged", unique: "fe00g984086", entry: scan.Entry{Type: scan.Dir,
			ModTime: time.Date(2026, 11, 22, 2, 47, 21, 0, time.UTC), Precision: time.Second, Mode: 0o750}},
		{name: "sp ace.txt", unique: "fe00g98408b", entry: scan.Entry{Type: scan.File, Size: 8,
			ModTime: time.Date(2026, 11, 20, 14, 5, 0, 0, time.UTC), Precision: time.Second, Mode: 0o644}},
		{name: "link", unique: "fe00g984088", entry: scan.Entry{Type: scan.Symlink,
			ModTime: time.Date(2026, 11, 22, 2, 47, 21, 0, time.UTC), Precision: time.Second, Mode: 0o777}},
		{name: "big;iso", entry: scan.Entry{Type: scan.File, Size: 4294979641,
			ModTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Precision: time.Second}},
	}
	if len(l.items) != len(want) {
		t.Fatalf("got %d items: %+v", len(l.items), l.items)
	}
	for i := range want {
		if l.items[i] != want[i] {
			t.Errorf("item %d:\ngot  %+v\nwant %+v", i, l.items[i], want[i])
		}
	}
	for _, line := range []string{
		"type=file;size=1; ../etc",
		"type=file;size=1; ..",
		"type=file;size=1; a\x00b",
		"type=file;size=x; a",
		"type=file;modify=2026; a",
		"type=weird; a",
		"size=1; a",
		"type=file;size=1;a",
		"type=file;garbage; a",
		"type=file; ",
	} {
		if _, err := parseMLSD([]byte(line)); !errors.Is(err, scan.ErrBadListing) {
			t.Errorf("parseMLSD(%q): %v, want ErrBadListing", line, err)
		}
	}
	// A file without size is listed with Size -1 (unknown), not 0.
	l, err = parseMLSD([]byte("type=file; nosize"))
	if err != nil || l.items[0].entry.Size != -1 || l.items[0].entry.Precision != 0 {
		t.Errorf("no size: %+v, %v", l.items, err)
	}
}

func TestParsePermsKeepsOnlyPermissionBits(t *testing.T) {
	m, ok := parsePerms("-rwSr-sr-T")
	if !ok || m != 0o654 || m&^fs.ModePerm != 0 {
		t.Errorf("parsePerms = %v, %v", m, ok)
	}
}

// FuzzParseLIST: the parser never panics, and what it accepts is an entry
// with a usable name and a type.
func FuzzParseLIST(f *testing.F) {
	for _, s := range []string{
		"-rw-r--r--    1 0          0          4294979641 Jan  2  2026 Fedora-40-x86_64.iso",
		"lrwxrwxrwx    1 0          0                   3 Nov 22 02:47 dlink -> sub",
		"drwxr-x---    2 ftp   4096 Mar  5  2024 staged",
		"-rw-r--r-- 1 0 0 7 Feb 29 10:00  with spaces ",
		"01-02-26  03:04AM       <DIR>          releases",
		"11-20-26  02:05PM              4294979641 big file.iso",
		"total 42",
		"crw-rw-rw-    1 0 0 1,   3 Nov 22 02:49 null",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		it, ok, err := parseLISTLine(line, now)
		if err != nil {
			if !errors.Is(err, scan.ErrBadListing) {
				t.Fatalf("error %v does not wrap ErrBadListing", err)
			}
			return
		}
		if !ok {
			return
		}
		switch {
		case it.name == "", it.name == ".", it.name == "..":
			t.Fatalf("accepted name %q", it.name)
		case strings.ContainsAny(it.name, "/\x00"):
			t.Fatalf("accepted name %q with '/' or NUL", it.name)
		case it.entry.Type < scan.File || it.entry.Type > scan.Symlink:
			t.Fatalf("accepted type %v", it.entry.Type)
		case it.entry.Size < 0:
			t.Fatalf("accepted size %d", it.entry.Size)
		case it.entry.ModTime.Location() != time.UTC:
			t.Fatalf("time %v not UTC", it.entry.ModTime)
		}
		if p, err := scan.CleanPath("/dir/" + it.name); err != nil || p != "/dir/"+it.name {
			t.Fatalf("name %q does not make a clean path: %q, %v", it.name, p, err)
		}
	})
}

// FuzzParseMLSD: the same promise for MLSD listings.
func FuzzParseMLSD(f *testing.F) {
	f.Add("type=OS.unix=slink:sub;size=3;modify=20261122024721;UNIX.mode=0777;unique=fe00g984089; dlink\r\ntype=cdir;sizd=4096; .")
	f.Add("type=file;size=8;modify=20261120140500;UNIX.mode=0644;unique=fe00g98408b; sp ace.txt")
	f.Fuzz(func(t *testing.T, data string) {
		l, err := parseMLSD([]byte(data))
		if err != nil {
			return
		}
		for _, it := range l.items {
			if p, err := scan.CleanPath("/dir/" + it.name); err != nil || p != "/dir/"+it.name {
				t.Fatalf("name %q does not make a clean path: %q, %v", it.name, p, err)
			}
		}
	})
}

func TestCheckReplies(t *testing.T) {
	for _, tc := range []struct {
		replies string
		lines   int
		ok      bool
	}{
		{"150 Accepted data connection\r\n226-Options: -a -l \r\n226 2502 matches total\r\n", 2502, true},
		{"150 Accepted data connection\r\n226 2502 matches total\r\n", 2501, false},
		{"150 Accepted data connection\r\n226 Output truncated to 10000 matches\r\n", 10000, false},
		{"150 ok\r\n226 Transfer complete\r\n", 7, true}, // other servers: no count
		{"", 0, true},
	} {
		if err := checkReplies([]byte(tc.replies), tc.lines); (err == nil) != tc.ok {
			t.Errorf("checkReplies(%q, %d) = %v", tc.replies, tc.lines, err)
		}
	}
}
