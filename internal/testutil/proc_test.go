//go:build unix

package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestMakeTraversable(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b")
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	tmpBefore, _ := os.Stat(os.TempDir())
	if err := MakeTraversable(deep); err != nil {
		t.Fatal(err)
	}
	// The root gets read and search; the directories on the way only search.
	for dir, want := range map[string]os.FileMode{deep: 0o755, filepath.Dir(deep): 0o711, base: 0o711, filepath.Dir(base): 0o711} {
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", dir, fi.Mode().Perm(), want)
		}
	}
	if tmpAfter, _ := os.Stat(os.TempDir()); tmpAfter.Mode() != tmpBefore.Mode() {
		t.Error("the temp dir itself was changed")
	}
	if err := MakeTraversable("/usr/bin"); err == nil {
		t.Error("changed permissions outside the temp dir")
	}
}

func TestProcessHelpers(t *testing.T) {
	port, err := FreePort()
	if err != nil || port <= 0 {
		t.Fatalf("FreePort: %d %v", port, err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !ProcessAlive(pid) {
		t.Fatal("a running child is not alive")
	}
	found := false
	for _, c := range ChildPIDs(os.Getpid()) {
		found = found || c == pid
	}
	if !found {
		t.Fatal("ChildPIDs misses the child")
	}
	if f, ok := ProcStat(pid); !ok || len(f) < 3 {
		t.Fatalf("ProcStat: %v %v", f, ok)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if ProcessAlive(pid) {
		t.Fatal("a reaped child is alive")
	}
}
