package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReleaseCommands(t *testing.T) {
	c := newCLI(t)
	root := filepath.Join(c.dir, "pub")
	staged := filepath.Join(root, "releases", "42")
	os.MkdirAll(filepath.Join(staged, "iso"), 0o755)
	os.WriteFile(filepath.Join(staged, "iso", "x.iso"), []byte("iso"), 0o640)
	os.Chmod(filepath.Join(staged, "iso"), 0o750)
	os.Chmod(staged, 0o750)
	c.env = append(c.env, "MIRRORKIT_SERVE_ROOT="+root, "MIRRORKIT_SERVE_STATE_DIR="+filepath.Join(c.dir, "state"))

	if out := c.ok("release", "status"); !strings.Contains(out, "releases/42") || !strings.Contains(out, "not scheduled") {
		t.Fatalf("status before: %s", out)
	}
	at := "2026-11-23T14:00:00Z" // after the CLI tests' pinned clock
	if out := c.ok("release", "flip", "releases/42", "--at", at); !strings.Contains(out, "releases/42 opens at") {
		t.Fatalf("schedule: %s", out)
	}
	var rep struct {
		Staged    []struct{ Path string }
		Scheduled []struct{ Path string }
	}
	if err := json.Unmarshal([]byte(c.ok("release", "status", "--json")), &rep); err != nil ||
		len(rep.Staged) != 1 || len(rep.Scheduled) != 1 || rep.Scheduled[0].Path != "releases/42" {
		t.Fatalf("status JSON: %+v %v", rep, err)
	}
	c.ok("release", "cancel", "releases/42")
	if r := c.run("release", "cancel", "releases/42"); r.code != exitNotFound {
		t.Fatalf("cancel twice: exit %d %s", r.code, r.err)
	}
	// Now: everything world-readable, the directories traversable.
	if out := c.ok("release", "flip", "releases/42"); !strings.Contains(out, "releases/42 is public: 3 entries opened") {
		t.Fatalf("flip: %s", out)
	}
	for p, want := range map[string]os.FileMode{staged: 0o755, filepath.Join(staged, "iso"): 0o755, filepath.Join(staged, "iso", "x.iso"): 0o644} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %v", p, fi.Mode(), err, want)
		}
	}
	if out := c.ok("release", "flip", "releases/42"); !strings.Contains(out, "already public") {
		t.Fatalf("flip again: %s", out)
	}
	if r := c.run("release", "flip", "../../etc"); r.code == 0 {
		t.Fatal("a path outside the tree was flipped")
	}
	if r := c.run("release", "flip", "releases/42", "--at", "tomorrow"); r.code != exitUsage {
		t.Fatalf("bad --at: exit %d", r.code)
	}
}
