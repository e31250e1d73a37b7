package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireTool returns the absolute path of an external program. When it is missing the
// test is skipped locally, but fails under CI=true (our rule: CI never skips for a missing tool).
//
// PATH is searched first, then extraDirs in order: some packages (Debian's
// postgresql, for one) install their programs outside PATH.
func RequireTool(tb testing.TB, name string, extraDirs ...string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	for _, dir := range extraDirs {
		p := filepath.Join(dir, name)
		if !isExecutable(p) {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
	}
	where := "PATH"
	if len(extraDirs) > 0 {
		where += ", " + strings.Join(extraDirs, ", ")
	}
	MissingTool(tb, "required tool %q not found (searched %s)", name, where)
	return ""
}

// MissingTool is what RequireTool does when it cannot find something: Skipf locally, Fatalf when os.Getenv("CI")=="true".
func MissingTool(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf(format+" (CI=true: a missing tool is a failure, not a skip)", args...)
		return
	}
	tb.Skipf(format+" (skipped; under CI=true this fails)", args...)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// RequireRoot is for tests whose real peers only drop privileges (to nobody,
// who cannot read staged content) when started as root. Like a missing tool:
// skipped locally, a failure under CI=true, where tests run as root.
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		MissingTool(tb, "needs root: %s", why)
	}
}
