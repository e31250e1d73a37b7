package syncer_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/syncer"
	"github.com/mirrorkit/mirrorkit/internal/syncer/synctest"
)

func TestParseUpstream(t *testing.T) {
	for _, c := range []struct {
		in   string
		want syncer.Upstream
		str  string
	}{
		{"rsync://mirror.example.org/debian/", syncer.Upstream{Host: "mirror.example.org", Module: "debian"}, "rsync://mirror.example.org/debian/"},
		{"rsync://u@h:8873/m/a/b", syncer.Upstream{User: "u", Host: "h", Port: 8873, Module: "m", Path: "a/b"}, "rsync://u@h:8873/m/a/b/"},
		{"rsync://h:873/m//a/./b/", syncer.Upstream{Host: "h", Module: "m", Path: "a/b"}, "rsync://h/m/a/b/"},
		{"rsync://[2001:db8::1]:874/m", syncer.Upstream{Host: "2001:db8::1", Port: 874, Module: "m"}, "rsync://[2001:db8::1]:874/m/"},
		{"h::m/x", syncer.Upstream{Host: "h", Module: "m", Path: "x"}, "rsync://h/m/x/"},
		{"u@[::1]::m", syncer.Upstream{User: "u", Host: "::1", Module: "m"}, "rsync://u@[::1]/m/"},
		{"192.0.2.1::fedora-enchilada/linux", syncer.Upstream{Host: "192.0.2.1", Module: "fedora-enchilada", Path: "linux"}, "rsync://192.0.2.1/fedora-enchilada/linux/"},
	} {
		got, err := syncer.ParseUpstream(c.in)
		if err != nil || got != c.want || got.String() != c.str {
			t.Errorf("ParseUpstream(%q) = %+v %q, %v; want %+v %q", c.in, got, got.String(), err, c.want, c.str)
		}
	}
	for _, c := range []struct {
		in   string
		want error
	}{
		{"", syncer.ErrURLScheme},
		{"http://h/m/", syncer.ErrURLScheme},
		{"h:path", syncer.ErrURLScheme},
		{"/srv/mirror", syncer.ErrURLScheme},
		{"rsync://h", syncer.ErrURLModule},
		{"rsync:///m/", syncer.ErrURLHost},
		{"rsync://h:0/m/", syncer.ErrURLPort},
		{"rsync://h:70000/m/", syncer.ErrURLPort},
		{"rsync://h:x/m/", syncer.ErrURLPort},
		{"rsync://2001:db8::1/m/", syncer.ErrURLHost},
		{"rsync://h/m/../etc", syncer.ErrURLPath},
		{"rsync://h/m/*.iso", syncer.ErrURLPath},
		{"rsync://h e/m/", syncer.ErrURLScheme},
		{"rsync://bad!host/m/", syncer.ErrURLHost},
		{"h:873::m", syncer.ErrURLHost},
	} {
		_, err := syncer.ParseUpstream(c.in)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), "upstream") {
			t.Errorf("ParseUpstream(%q): %v, want %v", c.in, err, c.want)
		}
	}
}

func FuzzParseUpstream(f *testing.F) {
	for _, s := range []string{"rsync://h/m/", "rsync://u@h:1/m/p/q", "h::m", "[::1]::m/x", "rsync://[::1]:2/m", "u@h::m/a//b/../c", "rsync://h/m/a[b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := syncer.ParseUpstream(s)
		if err != nil {
			return
		}
		again, err := syncer.ParseUpstream(u.String())
		if err != nil {
			t.Fatalf("%q parsed to %+v, whose String %q does not parse: %v", s, u, u.String(), err)
		}
		if again != u {
			t.Fatalf("%q: round trip %+v -> %q -> %+v", s, u, u.String(), again)
		}
		if strings.Contains(u.String(), "..") && strings.Contains(u.Path, "..") {
			for _, el := range strings.Split(u.Path, "/") {
				if el == ".." {
					t.Fatalf("%q: path climbs: %q", s, u.Path)
				}
			}
		}
	})
}

func TestTraceRoundTrip(t *testing.T) {
	tr := syncer.Trace{
		Date: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		Fields: []syncer.TraceField{
			{"Creator", "mirrorkit 1.0"},
			{"Upstream-Trace", "\nMon Jun  1 11:00:00 UTC 2026\n\n.hidden\nDate: x"},
			{"Empty", ""},
		},
	}
	b, err := tr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	want := "Mon Jun  1 12:00:00 UTC 2026\nCreator: mirrorkit 1.0\nUpstream-Trace:\n Mon Jun  1 11:00:00 UTC 2026\n .\n ..hidden\n Date: x\nEmpty:\n"
	if string(b) != want {
		t.Fatalf("Marshal:\n%s\nwant:\n%s", b, want)
	}
	back, err := syncer.ParseTrace(b)
	if err != nil || !reflect.DeepEqual(back, tr) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// An ftpsync trace.
	ft, _ := syncer.ParseTrace([]byte("Mon Jun  3 10:00:00 UTC 2024\nDate: Mon, 03 Jun 2024 10:00:00 +0000\nUsed ftpsync version: 20180513\nTotal bytes received in rsync: 123\n"))
	if ft.Date.IsZero() || ft.Get("Total bytes received in rsync") != "123" || ft.Get("Used ftpsync version") != "20180513" {
		t.Fatalf("ftpsync trace: %+v", ft)
	}
	if _, err := (syncer.Trace{Fields: []syncer.TraceField{{"Bad: key", "v"}}}).Marshal(); err == nil {
		t.Fatal("a key with ':' was accepted")
	}
}

func FuzzParseTrace(f *testing.F) {
	f.Add([]byte("Mon Jun  1 12:00:00 UTC 2026\nA: b\nC:\n x\n .\n"))
	f.Add([]byte("Date: x\n y\n..\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := syncer.ParseTrace(data)
		if err != nil {
			return
		}
		b, err := tr.Marshal()
		if err != nil {
			t.Fatalf("a parsed trace does not marshal: %v (%+v)", err, tr)
		}
		again, err := syncer.ParseTrace(b)
		if err != nil || !reflect.DeepEqual(again, tr) {
			t.Fatalf("not a fixed point:\n%q\n-> %+v\n-> %q\n-> %+v", data, tr, b, again)
		}
	})
}

func TestParseItem(t *testing.T) {
	for _, c := range []struct {
		line                     string
		created, changed, delete bool
		dir                      bool
	}{
		{"mk: >f+++++++++ 6 46 pool/p1.deb", true, false, false, false},
		{"mk: >f.st...... 6 46 pool/p1.deb", false, true, false, false},
		{"mk: .d..t...... 4096 0 ./", false, false, false, true},
		{"mk: cd+++++++++ 4096 0 dists/", true, false, false, true},
		{"mk: *deleting   0 0 old/o4", false, false, true, false},
		{"mk: *deleting   0 0 old/", false, false, true, true},
		{"mk: hf+++++++++ 6 0 pool/hard.deb => pool/p1.deb", true, false, false, false},
		{"mk: cL+++++++++ 14 0 good -> ../pool/p1.deb", true, false, false, false},
		{"mk: cL......... 14 0 good -> x y", false, true, false, false},
	} {
		it, err := syncer.ParseItem(c.line)
		if err != nil {
			t.Fatalf("%q: %v", c.line, err)
		}
		if it.Created() != c.created || it.Changed() != c.changed || it.Deleted() != c.delete || it.Dir() != c.dir {
			t.Errorf("%q: created %v changed %v deleted %v dir %v", c.line, it.Created(), it.Changed(), it.Deleted(), it.Dir())
		}
		if it.Format() != c.line {
			t.Errorf("Format %q, want %q", it.Format(), c.line)
		}
	}
	for _, bad := range []string{"", "mk: ", "Number of files: 3", "mk: >f+++++++++ x 1 a", "mk: >f+++++++++ 1 2 ", "mk: >f+++++++++ -1 2 a"} {
		if _, err := syncer.ParseItem(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseItem(f *testing.F) {
	f.Add("mk: >f+++++++++ 6 46 pool/p1.deb")
	f.Add("mk: *deleting   0 0 old/")
	f.Fuzz(func(t *testing.T, line string) {
		it, err := syncer.ParseItem(line)
		if err != nil {
			return
		}
		again, err := syncer.ParseItem(it.Format())
		if err != nil || again != it {
			t.Fatalf("%q -> %+v -> %q -> %+v, %v", line, it, it.Format(), again, err)
		}
	})
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("x\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	bad := syncer.Job{
		Name:           "bad name",
		Upstream:       "ftp://h/m",
		Dest:           "relative",
		StateDir:       "/",
		Include:        []string{""},
		Exclude:        []string{"a\nb"},
		Subtrees:       []string{"../etc"},
		BandwidthLimit: -1,
		PasswordFile:   pw,
		Timeout:        time.Millisecond,
		ConnectTimeout: -time.Second,
		MaxDeleteShare: 1.5,
		UpstreamTrace:  "ftp://h/x",
		TraceDir:       "/",
		TraceName:      "_x",
		InProgressFile: "a/b",
		Hook:           []string{""},
		Retry:          syncer.Retry{Attempts: -1, Initial: time.Hour, Max: time.Minute},
	}
	err := bad.Validate()
	var ve *syncer.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, syncer.ErrInvalidJob) {
		t.Fatalf("Validate: %v", err)
	}
	fields := map[string]bool{}
	for _, f := range ve.Fields {
		fields[f.Field] = true
	}
	for _, f := range []string{"name", "upstream", "dest", "state_dir", "include", "exclude", "subtrees", "bwlimit", "password_file",
		"timeout", "contimeout", "max_delete_share", "upstream_trace", "trace_dir", "trace_name", "in_progress_file", "hook", "retry.attempts", "retry"} {
		if !fields[f] {
			t.Errorf("no problem reported for %s in: %v", f, err)
		}
	}
	good := syncer.Job{Name: "fedora", Upstream: "rsync://dl.example.org/fedora/", Dest: "/srv/mirror/fedora", StateDir: "/var/lib/mirrorkit/sync"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	inside := good
	inside.StateDir = "/srv/mirror/fedora/.state"
	if err := inside.Validate(); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Fatalf("a state dir inside dest: %v", err)
	}
}

// The checker must be able to fail: a partial file, an index ahead of its
// packages, and an index naming a missing by-hash file are caught.
func TestCheckerCatchesViolations(t *testing.T) {
	dir := t.TempDir()
	repo := synctest.NewRepo(dir)
	if err := repo.Write(1); err != nil {
		t.Fatal(err)
	}
	check := func() error {
		return (&synctest.Checker{Root: dir, Known: repo.Known()}).Check()
	}
	if err := check(); err != nil {
		t.Fatalf("a consistent tree: %v", err)
	}
	// Metadata of version 2 over the content of version 1.
	v2 := t.TempDir()
	r2 := synctest.NewRepo(v2)
	if err := r2.Write(2); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"debian/dists/stable/main/binary-amd64/Packages", "fedora/repodata/repomd.xml"} {
		b := readFile(t, filepath.Join(v2, m))
		if err := os.WriteFile(filepath.Join(dir, m), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Write(1); err != nil { // restores v1, but remembers nothing of v2
		t.Fatal(err)
	}
	// A Release naming a Packages by hash that is not there.
	rel := filepath.Join(dir, "debian/dists/stable/Release")
	b := readFile(t, rel)
	if err := os.WriteFile(rel, bytes.Replace(b, []byte("SHA256:\n "), []byte("SHA256:\n 00"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	known := repo.Known()
	known["debian/dists/stable/Release"][sha(t, rel)] = true
	err := (&synctest.Checker{Root: dir, Known: known}).Check()
	if err == nil || !strings.Contains(err.Error(), "by-hash") {
		t.Fatalf("a Release naming a missing by-hash file: %v", err)
	}
	// A truncated package.
	if err := repo.Write(1); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "debian/pool/main/pkg1_1.0.deb")
	if err := os.Truncate(pkg, 100); err != nil {
		t.Fatal(err)
	}
	err = check()
	if err == nil || !strings.Contains(err.Error(), "partially written") || !strings.Contains(err.Error(), "pkg1_1.0.deb with") {
		t.Fatalf("a truncated package: %v", err)
	}
	// An index of version 2 over packages of version 1.
	if err := repo.Write(1); err != nil {
		t.Fatal(err)
	}
	pk := filepath.Join(dir, "debian/dists/stable/main/binary-amd64/Packages")
	if err := os.WriteFile(pk, readFile(t, filepath.Join(v2, "debian/dists/stable/main/binary-amd64/Packages")), 0o644); err != nil {
		t.Fatal(err)
	}
	known = repo.Known()
	known["debian/dists/stable/main/binary-amd64/Packages"][sha(t, pk)] = true
	err = (&synctest.Checker{Root: dir, Known: known}).Check()
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("metadata ahead of content: %v", err)
	}
}

func sha(t testing.TB, p string) string {
	h, err := synctest.HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
