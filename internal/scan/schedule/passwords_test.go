package schedule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/registry"
	"github.com/mirrorkit/mirrorkit/internal/testutil/rsyncd"
)

func TestReadPasswords(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("# logins\nprivate-de s3cret with spaces\n\nother  pw\n"), 0o600)
	pw, err := ReadPasswords(good)
	if err != nil || pw["private-de"] != "s3cret with spaces" || pw["other"] != "pw" || len(pw) != 2 {
		t.Fatalf("%v %v", pw, err)
	}
	for name, tc := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"world readable": {"m pw\n", 0o644, "chmod 600"},
		"no password":    {"m\n", 0o600, "line 1"},
		"duplicate":      {"m a\nm b\n", 0o600, "given twice"},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(tc.body), tc.mode)
		os.Chmod(p, tc.mode)
		if _, err := ReadPasswords(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ReadPasswords(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file accepted")
	}
}

// A mirror behind an rsync login is scanned with its password from the
// service, and refused without it.
func TestScanWithLogin(t *testing.T) {
	f := newFixture(t)
	f.svc.Load(context.Background())
	d := rsyncd.Start(t, rsyncd.Module{Name: "private", Path: f.origin, AuthUser: "scanner", Password: "s3cret"})
	url := strings.Replace(d.URL("private"), "rsync://", "rsync://scanner@", 1)
	m := f.mirror("private", registry.URLs{Rsync: url})
	res, err := f.svc.ScanMirror(context.Background(), m)
	if err == nil || !strings.Contains(res.Error, "auth") {
		t.Fatalf("scan without the password: %+v %v", res, err)
	}
	f.svc.Passwords = map[string]string{"private": "s3cret"}
	if res, err := f.svc.ScanMirror(context.Background(), m); err != nil || res.Current != f.publicFiles() {
		t.Fatalf("scan with the password: %+v %v", res, err)
	}
}
