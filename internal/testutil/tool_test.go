package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// recordingTB lets the test observe Skipf/Fatalf without ending the test
// goroutine, which the real implementations would do via runtime.Goexit.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()                          {}
func (r *recordingTB) Skipf(format string, args ...any) { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
}

func TestRequireToolOnPath(t *testing.T) {
	p := RequireTool(t, "sh")
	if !filepath.IsAbs(p) {
		t.Fatalf("RequireTool(sh) = %q, want an absolute path", p)
	}
}

func TestRequireToolExtraDir(t *testing.T) {
	dir := t.TempDir()
	name := "mirrorkit-testutil-fake-tool"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A non-executable file of the same name earlier in the list must not win.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := RequireTool(t, name, other, dir)
	if want := filepath.Join(dir, name); got != want {
		t.Fatalf("RequireTool = %q, want %q", got, want)
	}
}

func TestMissingToolSkipsLocally(t *testing.T) {
	t.Setenv("CI", "")
	rec := &recordingTB{TB: t}
	if got := RequireTool(rec, "mirrorkit-no-such-tool", t.TempDir()); got != "" {
		t.Fatalf("RequireTool = %q, want empty", got)
	}
	if rec.skipped == "" || rec.fatal != "" {
		t.Fatalf("want a skip only, got skipped=%q fatal=%q", rec.skipped, rec.fatal)
	}
}

func TestMissingToolFailsInCI(t *testing.T) {
	t.Setenv("CI", "true")
	rec := &recordingTB{TB: t}
	RequireTool(rec, "mirrorkit-no-such-tool")
	if rec.fatal == "" || rec.skipped != "" {
		t.Fatalf("want a failure only, got skipped=%q fatal=%q", rec.skipped, rec.fatal)
	}
}
