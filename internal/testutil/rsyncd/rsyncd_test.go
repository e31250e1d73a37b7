//go:build unix

package rsyncd

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

func TestDaemonServesAndStops(t *testing.T) {
	bin := testutil.RequireTool(t, "rsync")
	pub := t.TempDir()
	if err := os.WriteFile(filepath.Join(pub, "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := Start(t,
		Module{Name: "pub", Path: pub},
		Module{Name: "priv", Path: pub, AuthUser: "u", Password: "p"},
	)
	if want := "rsync://" + d.Addr() + "/pub/"; d.URL("pub") != want {
		t.Fatalf("URL = %q, want %q", d.URL("pub"), want)
	}
	out, err := exec.Command(bin, "--list-only", "--no-motd", d.URL("pub")+"hello.txt").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello.txt") {
		t.Fatalf("listing the module: %v\n%s\n%s", err, out, d.Log())
	}

	priv := strings.Replace(d.URL("priv"), "rsync://", "rsync://u@", 1)
	cmd := exec.Command(bin, "--list-only", "--no-motd", priv)
	cmd.Env = append(os.Environ(), "RSYNC_PASSWORD=p")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("listing the auth module: %v\n%s", err, out)
	}
	cmd = exec.Command(bin, "--list-only", "--no-motd", priv)
	cmd.Env = append(os.Environ(), "RSYNC_PASSWORD=wrong")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "auth failed") {
		t.Fatalf("a wrong password: %v\n%s", err, out)
	}
	fi, err := os.Stat(filepath.Join(d.dir, "priv.secrets"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v, %v", fi, err)
	}

	pid := d.PID()
	d.Stop()
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("daemon group %d still there after Stop: %v", pid, err)
	}
	select {
	case <-d.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
	if err := greet(d.Addr(), 0); err == nil {
		t.Fatal("the port still answers after Stop")
	}
	d.Stop() // again: a no-op
}

// As root the daemon serves as nobody, so a 0750 root directory is as
// invisible to clients as a staged directory on a real mirror.
func TestDaemonHidesNonreadable(t *testing.T) {
	testutil.RequireRoot(t, "the daemon only drops to nobody when started as root")
	bin := testutil.RequireTool(t, "rsync")
	root := t.TempDir()
	staged := filepath.Join(root, "staged")
	if err := os.Mkdir(staged, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staged, "secret.iso"), nil, 0o640); err != nil {
		t.Fatal(err)
	}
	d := Start(t, Module{Name: "m", Path: root})
	out, err := exec.Command(bin, "-r", "--list-only", "--no-motd", d.URL("m")).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(string(out), "staged") {
		t.Fatalf("the listing shows the 0750 directory:\n%s", out)
	}
}
