package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// entry is one item of a test tree; a mode of fs.ModeSymlink makes a
// symlink to target.
type entry struct {
	path   string
	mode   fs.FileMode
	target string
}

// build creates entries under root with exactly their modes (no umask).
func build(t *testing.T, root string, entries []entry) {
	t.Helper()
	for _, e := range entries {
		p := filepath.Join(root, e.path)
		var err error
		switch {
		case e.mode&fs.ModeSymlink != 0:
			err = os.Symlink(e.target, p)
		case e.mode.IsDir():
			if err = os.Mkdir(p, 0o700); err == nil {
				err = os.Chmod(p, e.mode)
			}
		default:
			if err = os.WriteFile(p, []byte(e.path), 0o600); err == nil {
				err = os.Chmod(p, e.mode)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func modeOf(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func TestFlipModes(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	build(t, root, []entry{
		{"rel", fs.ModeDir | 0o750, ""},
		{"rel/a.iso", 0o640, ""},
		{"rel/run.sh", 0o740, ""},
		{"rel/public.txt", 0o644, ""},
		{"rel/sub", fs.ModeDir | 0o750, ""},
		{"rel/sub/deep", fs.ModeDir | 0o700, ""},
		{"rel/sub/deep/f", 0o600, ""},
		{"rel/sub/deep/g", 0o710, ""},
		{"rel/shared", fs.ModeDir | fs.ModeSetgid | 0o750, ""},
		{"rel/link", fs.ModeSymlink, "a.iso"},
		{"rel/out", fs.ModeSymlink, outside},
		{"rel/up", fs.ModeSymlink, "../other"},
		{"other", fs.ModeDir | 0o750, ""},
	})
	want := map[string]fs.FileMode{
		"rel":            fs.ModeDir | 0o755,
		"rel/a.iso":      0o644,
		"rel/run.sh":     0o755,
		"rel/public.txt": 0o644,
		"rel/sub":        fs.ModeDir | 0o755,
		"rel/sub/deep":   fs.ModeDir | 0o755,
		"rel/sub/deep/f": 0o644,
		"rel/sub/deep/g": 0o755,
		"rel/shared":     fs.ModeDir | fs.ModeSetgid | 0o755,
		"other":          fs.ModeDir | 0o750, // behind a symlink: untouched
	}
	sum, err := Flip(context.Background(), root, "rel", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for p, m := range want {
		if got := modeOf(t, filepath.Join(root, p)); got != m {
			t.Errorf("%s: mode %v, want %v", p, got, m)
		}
	}
	if got := modeOf(t, outside); got != 0o600 {
		t.Errorf("a file outside the tree, reached by a symlink, became %v", got)
	}
	if sum.Path != "rel" || sum.Dirs != 4 || sum.Files != 5 || sum.Changed != 8 || sum.Skipped != 3 || len(sum.Unreachable) != 0 {
		t.Errorf("summary %+v", sum)
	}

	// Idempotent: nothing left to change, by relative or absolute path.
	for _, p := range []string{"rel", filepath.Join(root, "rel"), "rel/"} {
		again, err := Flip(context.Background(), root, p, Options{})
		if err != nil || again.Changed != 0 || again.Files != 5 {
			t.Fatalf("flip %q again: %+v, %v", p, again, err)
		}
	}
}

func TestFlipFileAndRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.Chmod(root, 0o750); err != nil {
		t.Fatal(err)
	}
	build(t, root, []entry{{"d", fs.ModeDir | 0o750, ""}, {"d/x", 0o600, ""}, {"y", 0o640, ""}})
	sum, err := Flip(context.Background(), root, "d/x", Options{})
	if err != nil || sum.Changed != 1 || modeOf(t, filepath.Join(root, "d/x")) != 0o644 {
		t.Fatalf("flip a file: %+v %v", sum, err)
	}
	if modeOf(t, filepath.Join(root, "d")) != fs.ModeDir|0o750 {
		t.Fatal("flipping a file changed its directory")
	}
	if len(sum.Unreachable) != 2 || sum.Unreachable[0] != "." || sum.Unreachable[1] != "d" {
		t.Fatalf("closed directories above: %q", sum.Unreachable)
	}
	sum, err = Flip(context.Background(), root, ".", Options{})
	if err != nil || sum.Changed != 3 || modeOf(t, root) != fs.ModeDir|0o755 {
		t.Fatalf("flip the root: %+v %v", sum, err)
	}
}

// At every step of a flip, a directory that others can enter holds only
// entries that are already public: nothing is ever visible half-flipped.
func TestFlipNeverShowsHalfFlipped(t *testing.T) {
	root := t.TempDir()
	var entries []entry
	entries = append(entries, entry{"rel", fs.ModeDir | 0o750, ""})
	for i := range 6 {
		d := fmt.Sprintf("rel/d%d", i)
		entries = append(entries, entry{d, fs.ModeDir | 0o750, ""})
		for j := range 4 {
			s := fmt.Sprintf("%s/s%d", d, j)
			entries = append(entries, entry{s, fs.ModeDir | 0o750, ""})
			for k := range 8 {
				m := fs.FileMode(0o640)
				if k%3 == 0 {
					m = 0o750
				}
				entries = append(entries, entry{fmt.Sprintf("%s/f%d", s, k), m, ""})
			}
		}
	}
	build(t, root, entries)
	top := filepath.Join(root, "rel")

	// Deterministically, after every single chmod...
	steps := 0
	_, err := flip(context.Background(), root, "rel", Options{}, func(string) {
		steps++
		if msg := halfFlipped(top); msg != "" {
			t.Fatalf("after step %d: %s", steps, msg)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if steps != len(entries) {
		t.Fatalf("%d steps for %d entries", steps, len(entries))
	}

	// ...and as a concurrent observer sees it.
	for _, e := range entries {
		if err := os.Chmod(filepath.Join(root, e.path), e.mode.Perm()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var done atomic.Bool
	var looks, sawOpen, sawClosed int
	wg.Go(func() {
		for {
			finished := done.Load()
			if msg := halfFlipped(top); msg != "" {
				t.Errorf("observer: %s", msg)
				return
			}
			looks++
			if modeOf(t, top)&0o001 != 0 {
				sawOpen++
			} else {
				sawClosed++
			}
			if finished {
				return
			}
		}
	})
	_, err = Flip(context.Background(), root, "rel", Options{})
	done.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sawOpen == 0 {
		t.Fatal("the observer never saw the flipped tree")
	}
	t.Logf("observer looked %d times (%d closed, %d open)", looks, sawClosed, sawOpen)
}

// halfFlipped walks dir as the public would see it: for each directory it
// can enter, everything inside must already be public.
func halfFlipped(dir string) string {
	fi, err := os.Lstat(dir)
	if err != nil {
		return err.Error()
	}
	if fi.Mode()&0o001 == 0 {
		return "" // closed: the public sees nothing below, whatever its state
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err.Error()
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		efi, err := os.Lstat(p)
		if err != nil {
			return err.Error()
		}
		if !Public(efi.Mode()) {
			return fmt.Sprintf("%s is open but %s inside it is %v", dir, e.Name(), efi.Mode())
		}
		if efi.IsDir() {
			if msg := halfFlipped(p); msg != "" {
				return msg
			}
		}
	}
	return ""
}

func TestFlipRefusesEscapesAndSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "tree")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	build(t, base, []entry{
		{"outside", fs.ModeDir | 0o750, ""},
		{"outside/f", 0o640, ""},
		{"tree/rel", fs.ModeDir | 0o750, ""},
		{"tree/rel/f", 0o640, ""},
		{"tree/toout", fs.ModeSymlink, "../outside"},
		{"tree/abs", fs.ModeSymlink, filepath.Join(base, "outside")},
		{"tree/torel", fs.ModeSymlink, "rel"},
	})
	for _, p := range []string{
		"../outside", filepath.Join(base, "outside"), "rel/../../outside",
		"toout", "abs", "toout/f", "abs/f", "torel", "torel/f", "missing",
	} {
		if sum, err := Flip(context.Background(), root, p, Options{}); err == nil {
			t.Errorf("flip %q: accepted, %+v", p, sum)
		} else if (p == "torel" || p == "toout" || p == "abs" || p == "torel/f") && !errors.Is(err, ErrSymlink) {
			t.Errorf("flip %q: %v, want ErrSymlink", p, err)
		}
	}
	for p, m := range map[string]fs.FileMode{
		"outside": fs.ModeDir | 0o750, "outside/f": 0o640, "tree/rel": fs.ModeDir | 0o750, "tree/rel/f": 0o640,
	} {
		if got := modeOf(t, filepath.Join(base, p)); got != m {
			t.Errorf("%s changed to %v", p, got)
		}
	}
}

func TestFlipInterruptedStaysClosed(t *testing.T) {
	root := t.TempDir()
	build(t, root, []entry{{"rel", fs.ModeDir | 0o750, ""}, {"rel/a", fs.ModeDir | 0o750, ""}, {"rel/a/f", 0o640, ""}, {"rel/b", 0o640, ""}})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := flip(ctx, root, "rel", Options{}, func(string) {
		if n++; n == 1 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := modeOf(t, filepath.Join(root, "rel")); got != fs.ModeDir|0o750 {
		t.Fatalf("an interrupted flip opened the top directory: %v", got)
	}
	if sum, err := Flip(context.Background(), root, "rel", Options{}); err != nil || sum.Changed != 3 {
		t.Fatalf("running it again: %+v %v", sum, err)
	}
}
