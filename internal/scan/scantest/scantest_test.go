package scantest

import (
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/scan"
)

func TestTreeAndWant(t *testing.T) {
	root := t.TempDir()
	Build(t, root)
	for _, caps := range []Caps{
		{Symlinks: true, Precision: time.Second, DirTimes: true, ExactSizes: true},
		{Symlinks: false, Precision: time.Minute, ExactSizes: false},
	} {
		want := Want(t, root, caps)
		Check(t, want, want, caps)
		seen := map[string]scan.Entry{}
		for _, e := range want {
			seen[e.Path] = e
		}
		if e := seen["/releases/40/iso/Fedora-40-x86_64.iso"]; e.Size != BigSize {
			t.Fatalf("big file: %+v", e)
		}
		if _, ok := seen["/odd names/"+Latin1Name]; !ok {
			t.Fatal("latin-1 name missing")
		}
		if e, ok := seen["/releases/latest"]; !ok || (e.Type == scan.Symlink) != caps.Symlinks {
			t.Fatalf("latest: %+v", e)
		}
		_, followed := seen["/releases/latest/iso/CHECKSUM"]
		if followed == caps.Symlinks {
			t.Fatalf("symlinked dir followed=%v with caps %+v", followed, caps)
		}
	}
}

// Check must catch what it exists to catch.
func TestCheckCatches(t *testing.T) {
	root := t.TempDir()
	Build(t, root)
	caps := Caps{Symlinks: true, Precision: time.Second, DirTimes: true, ExactSizes: true}
	want := Want(t, root, caps)
	bad := map[string]func([]scan.Entry) []scan.Entry{
		"missing entry": func(es []scan.Entry) []scan.Entry { return es[1:] },
		"wrong size": func(es []scan.Entry) []scan.Entry {
			for i := range es {
				if es[i].Type == scan.File {
					es[i].Size++
					break
				}
			}
			return es
		},
		"wrong time": func(es []scan.Entry) []scan.Entry { es[0].ModTime = es[0].ModTime.Add(time.Hour); return es },
		"staged shown": func(es []scan.Entry) []scan.Entry {
			return append(es, scan.Entry{Path: StagedDir + "/Fedora-42.iso", Type: scan.File, Size: 2048})
		},
		"extra": func(es []scan.Entry) []scan.Entry { return append(es, scan.Entry{Path: "/ghost", Type: scan.File}) },
	}
	for name, mutate := range bad {
		got := mutate(append([]scan.Entry(nil), want...))
		ft := &fakeTB{TB: t}
		Check(ft, got, want, caps)
		if !ft.failed {
			t.Errorf("%s: not caught", name)
		}
	}
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Errorf(string, ...any) { f.failed = true }
func (f *fakeTB) Helper()               {}
