//go:build unix

package rsyncd

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mirrorkit/mirrorkit/internal/release"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

const testDeadline = 20 * time.Second

// tree builds a mirror tree with public content, staged (0750/0640)
// content and a sync's leftover temp directory, reachable by nobody.
func tree(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{"open", 0o755}, {"staged", 0o750}, {"staged/sub", 0o750}, {".~tmp~", 0o755}} {
		if err := os.Mkdir(filepath.Join(root, d.path), d.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, d.path), d.mode); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{{"open/a.txt", 0o644}, {"open/tool.sh", 0o755}, {"staged/s.iso", 0o640}, {"staged/sub/t.txt", 0o640}, {".~tmp~/partial", 0o644}} {
		if err := os.WriteFile(filepath.Join(root, f.path), []byte(f.path), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(root, f.path), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := testutil.MakeTraversable(root); err != nil {
		t.Fatal(err)
	}
	return root
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := testutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testConfig(t *testing.T, root string) Config {
	t.Helper()
	c := Defaults(root, filepath.Join(t.TempDir(), "state"), os.Geteuid() == 0)
	c.Address = "127.0.0.1"
	c.Port = freePort(t)
	c.Timeout = 60 * time.Second
	return c
}

type running struct {
	s    *Supervisor
	reg  *prometheus.Registry
	stop func() error // cancels Run and returns its error
	pids []int
}

// supervise runs a Supervisor until the test ends (or stop), and checks at
// the end that no process of any daemon it saw is left.
func supervise(t *testing.T, cfg Config, opts Options) *running {
	t.Helper()
	opts.Rsync = testutil.RequireTool(t, "rsync")
	reg := prometheus.NewRegistry()
	opts.Registerer = reg
	opts.Logger = slog.New(slog.NewTextHandler(tWriter{t}, nil))
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 50 * time.Millisecond
	}
	opts.StopGrace = 5 * time.Second
	s, err := NewSupervisor(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	r := &running{s: s, reg: reg}
	var stopped bool
	var runErr error
	r.stop = func() error {
		if stopped {
			return runErr
		}
		stopped = true
		cancel()
		select {
		case runErr = <-done:
		case <-time.After(testDeadline):
			t.Fatal("Run did not return after cancel")
		}
		for _, pid := range r.pids {
			if testutil.ProcessAlive(pid) || len(testutil.GroupMembers(pid)) > 0 {
				t.Errorf("daemon %d or its connections still running after Run returned: %v", pid, testutil.GroupMembers(pid))
			}
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := r.stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), testDeadline)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatalf("%v; status %+v", err, s.Status())
	}
	for _, st := range s.Status() {
		r.pids = append(r.pids, st.PID)
	}
	return r
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// rsyncClient runs the real rsync client; env adds variables such as
// RSYNC_PASSWORD.
func rsyncClient(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.RequireTool(t, "rsync"), args...)
	cmd.Env = append(childEnv(os.Environ()), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func url(addr, module string) string { return "rsync://" + addr + "/" + module + "/" }

func TestStagedHiddenFromPublicServedPrivately(t *testing.T) {
	testutil.RequireRoot(t, "rsync only switches to the public and private users when started as root")
	root := tree(t)
	cfg := testConfig(t, root)
	cfg.Private = &Private{
		Name: "staged", Path: root, Port: freePort(t), UID: "root", GID: "root",
		HostsAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Users:      []User{{Name: "tier2", Password: "pass word"}},
	}
	r := supervise(t, cfg, Options{})
	st := r.s.Status()
	if len(st) != 2 || st[0].Name != DaemonPublic || st[1].Name != DaemonPrivate {
		t.Fatalf("status %+v", st)
	}
	pub, priv := st[0].Addr, st[1].Addr

	out, err := rsyncClient(t, nil, "--list-only", "-r", "--no-motd", url(pub, "pub"))
	if err != nil {
		t.Fatalf("public listing: %v\n%s", err, out)
	}
	if !strings.Contains(out, "open/a.txt") || !strings.Contains(out, "open/tool.sh") {
		t.Fatalf("public listing misses public files:\n%s", out)
	}
	if strings.Contains(out, "staged") || strings.Contains(out, "~tmp~") {
		t.Fatalf("public listing shows staged or temporary content:\n%s", out)
	}
	dst := t.TempDir()
	if out, err := rsyncClient(t, nil, "-rlpt", "--no-motd", url(pub, "pub"), dst); err != nil {
		t.Fatalf("public sync: %v\n%s", err, out)
	}
	mustExist(t, filepath.Join(dst, "open/a.txt"), true)
	mustExist(t, filepath.Join(dst, "staged"), false)
	mustExist(t, filepath.Join(dst, ".~tmp~"), false)
	// Asking for the staged path by name does not get it either.
	if out, err := rsyncClient(t, nil, "-r", "--no-motd", url(pub, "pub")+"staged/s.iso", t.TempDir()); err == nil {
		t.Fatalf("public module served a staged file:\n%s", out)
	}

	login := strings.Replace(url(priv, "staged"), "rsync://", "rsync://tier2@", 1)
	pw := []string{"RSYNC_PASSWORD=pass word"}
	out, err = rsyncClient(t, pw, "--list-only", "-r", "--no-motd", login)
	if err != nil || !strings.Contains(out, "staged/s.iso") || !strings.Contains(out, "staged/sub/t.txt") {
		t.Fatalf("private listing: %v\n%s", err, out)
	}
	if strings.Contains(out, "~tmp~") {
		t.Fatalf("private listing shows a sync's temporary directory:\n%s", out)
	}
	dst = t.TempDir()
	if out, err := rsyncClient(t, pw, "-rlpt", "--no-motd", login, dst); err != nil {
		t.Fatalf("private sync: %v\n%s", err, out)
	}
	mustExist(t, filepath.Join(dst, "staged/sub/t.txt"), true)
	if fi, err := os.Stat(filepath.Join(dst, "staged")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("staged dir arrived as %v, %v; want 0750 kept for the downstream's own bit flip", fi.Mode(), err)
	}
	if out, err := rsyncClient(t, []string{"RSYNC_PASSWORD=wrong"}, "--list-only", login); err == nil || !strings.Contains(out, "auth failed") {
		t.Fatalf("wrong password: %v\n%s", err, out)
	}
	// The private module is not a module of the public daemon.
	if out, err := rsyncClient(t, pw, "--list-only", strings.Replace(login, priv, pub, 1)); err == nil || !strings.Contains(out, "Unknown module") {
		t.Fatalf("private module on the public port: %v\n%s", err, out)
	}
	// Nor is it in the private daemon's module list.
	if out, _ := rsyncClient(t, nil, "--list-only", "rsync://"+priv+"/"); strings.Contains(out, "staged") {
		t.Fatalf("private module is listed:\n%s", out)
	}

	// The bit flip opens the staged directory to the public module.
	if _, err := release.Flip(context.Background(), root, "staged", release.Options{}); err != nil {
		t.Fatal(err)
	}
	out, err = rsyncClient(t, nil, "--list-only", "-r", "--no-motd", url(pub, "pub"))
	if err != nil || !strings.Contains(out, "staged/s.iso") || !strings.Contains(out, "staged/sub/t.txt") {
		t.Fatalf("public listing after the bit flip: %v\n%s", err, out)
	}

	for _, flag := range []string{"-c", "--checksum"} {
		out, err := rsyncClient(t, nil, "-r", flag, "--no-motd", url(pub, "pub"), t.TempDir())
		if err == nil || !strings.Contains(out, "refuse --checksum") {
			t.Fatalf("%s on the public module: %v\n%s", flag, err, out)
		}
		out, err = rsyncClient(t, pw, "-r", flag, "--no-motd", login, t.TempDir())
		if err == nil || !strings.Contains(out, "refuse --checksum") {
			t.Fatalf("%s on the private module: %v\n%s", flag, err, out)
		}
	}
}

func mustExist(t *testing.T, path string, want bool) {
	t.Helper()
	_, err := os.Lstat(path)
	if got := err == nil; got != want {
		t.Fatalf("%s exists: %v, want %v (%v)", path, got, want, err)
	}
}

// A private module of the public daemon, guarded by hosts allow; a reload
// opens it to loopback without restarting the daemon.
func TestPrivateModuleHostsAllowAndReload(t *testing.T) {
	root := tree(t)
	cfg := testConfig(t, root)
	cfg.MOTD = "mirrorkit test mirror"
	cfg.Private = &Private{Name: "staged", Path: root,
		HostsAllow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}
	if cfg.Root {
		cfg.Private.UID, cfg.Private.GID = "root", "root"
	}
	r := supervise(t, cfg, Options{})
	st := r.s.Status()
	if len(st) != 1 {
		t.Fatalf("status %+v, want the public daemon only", st)
	}
	addr, pid := st[0].Addr, st[0].PID

	out, err := rsyncClient(t, nil, "--list-only", url(addr, "staged"))
	// rsync answers a host outside hosts allow as if the module did not exist.
	if err == nil || !strings.Contains(out, "access denied") && !strings.Contains(out, "Unknown module") {
		t.Fatalf("a host outside hosts allow: %v\n%s", err, out)
	}
	out, err = rsyncClient(t, nil, "--list-only", "rsync://"+addr+"/")
	if err != nil || !strings.Contains(out, "mirrorkit test mirror") || !strings.Contains(out, "pub") || strings.Contains(out, "staged") {
		t.Fatalf("module list (motd, pub, no staged): %v\n%s", err, out)
	}

	next := cfg
	p := *cfg.Private
	p.HostsAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	next.Private = &p
	next.Modules = append(next.Modules, Module{Name: "open", Path: filepath.Join(root, "open")})
	if err := r.s.Reload(next); err != nil {
		t.Fatal(err)
	}
	out, err = rsyncClient(t, nil, "--list-only", "-r", url(addr, "staged"))
	if err != nil || !strings.Contains(out, "open/a.txt") {
		t.Fatalf("after reload: %v\n%s", err, out)
	}
	if cfg.Root && !strings.Contains(out, "staged/s.iso") {
		t.Fatalf("the private module hides staged content:\n%s", out)
	}
	if out, err := rsyncClient(t, nil, "--list-only", url(addr, "open")); err != nil || !strings.Contains(out, "a.txt") {
		t.Fatalf("module added by reload: %v\n%s", err, out)
	}
	if st := r.s.Status(); st[0].PID != pid || st[0].Restarts != 0 {
		t.Fatalf("a module change restarted the daemon: %+v (pid was %d)", st, pid)
	}

	bad := next
	bad.Modules = []Module{{Name: "x]", Path: root}}
	if err := r.s.Reload(bad); err == nil {
		t.Fatal("Reload accepted an invalid config")
	}
	if out, err := rsyncClient(t, nil, "--list-only", url(addr, "open")); err != nil {
		t.Fatalf("a rejected reload changed the running config: %v\n%s", err, out)
	}

	// A new port is a global change: the daemon restarts on it.
	moved := next
	moved.Port = freePort(t)
	if err := r.s.Reload(moved); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to restart on its new port", func() bool {
		st := r.s.Status()
		return len(st) == 1 && st[0].Ready && st[0].PID != pid && strings.HasSuffix(st[0].Addr, ":"+strconv.Itoa(moved.Port))
	})
	r.pids = append(r.pids, r.s.Status()[0].PID)
	if out, err := rsyncClient(t, nil, "--list-only", url(r.s.Status()[0].Addr, "pub")); err != nil {
		t.Fatalf("on the new port: %v\n%s", err, out)
	}
	if st := r.s.Status(); st[0].Restarts != 0 {
		t.Fatalf("a reload counted as a restart: %+v", st)
	}
	if !waitGone(pid) {
		t.Fatalf("the old daemon %d is still running", pid)
	}
}

func TestMaxConnectionsEnforced(t *testing.T) {
	root := tree(t)
	big := filepath.Join(root, "open", "big.bin")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 4<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Chmod(big, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, root)
	cfg.Modules[0].MaxConnections = 1
	r := supervise(t, cfg, Options{})
	addr := r.s.Status()[0].Addr

	// Hold the only slot: a transfer throttled to 32 KiB/s takes minutes.
	dst := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slow := exec.CommandContext(ctx, testutil.RequireTool(t, "rsync"), "--bwlimit=32", "--no-motd", url(addr, "pub")+"open/big.bin", dst)
	slow.Stdout, slow.Stderr = io.Discard, io.Discard
	if err := slow.Start(); err != nil {
		t.Fatal(err)
	}
	slowDone := make(chan error, 1)
	go func() { slowDone <- slow.Wait() }()
	// The receiver's temporary file appears once the transfer (and so its
	// connection slot) is under way.
	waitFor(t, "the slow transfer to start", func() bool {
		entries, _ := os.ReadDir(dst)
		return len(entries) > 0
	})
	out, err := rsyncClient(t, nil, "--list-only", "--no-motd", url(addr, "pub"))
	if err == nil || !strings.Contains(out, "@ERROR: max connections (1) reached") {
		t.Fatalf("second connection: %v\n%s", err, out)
	}

	// Stopping the supervisor ends the transfer in progress too: nothing
	// of the daemon is left (checked by stop).
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-slowDone:
		if err == nil {
			t.Fatal("the slow transfer finished")
		}
	case <-time.After(testDeadline):
		t.Fatal("the client of a stopped daemon still runs")
	}
	if err := greet(context.Background(), addr); err == nil {
		t.Fatal("the port still answers after Run returned")
	}
}

func TestRestartsAfterKill(t *testing.T) {
	root := tree(t)
	cfg := testConfig(t, root)
	r := supervise(t, cfg, Options{})
	st := r.s.Status()[0]
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to come back", func() bool {
		now := r.s.Status()[0]
		return now.Ready && now.PID != 0 && now.PID != st.PID
	})
	now := r.s.Status()[0]
	r.pids = append(r.pids, now.PID)
	if now.Restarts != 1 || !strings.Contains(now.LastExit, "killed") {
		t.Fatalf("status after a kill: %+v", now)
	}
	if got := counter(t, r.reg, "mirrorkit_rsyncd_restarts_total", DaemonPublic); got != 1 {
		t.Fatalf("mirrorkit_rsyncd_restarts_total = %v, want 1", got)
	}
	if got := counter(t, r.reg, "mirrorkit_rsyncd_up", DaemonPublic); got != 1 {
		t.Fatalf("mirrorkit_rsyncd_up = %v, want 1", got)
	}
	if out, err := rsyncClient(t, nil, "--list-only", "--no-motd", url(now.Addr, "pub")); err != nil || !strings.Contains(out, "open") {
		t.Fatalf("after restart: %v\n%s", err, out)
	}
	if !waitGone(st.PID) {
		t.Fatalf("the killed daemon's group %d is not empty", st.PID)
	}
}

func TestNewSupervisorRefuses(t *testing.T) {
	cfg := Defaults("/srv/pub", t.TempDir(), os.Geteuid() != 0)
	_, err := NewSupervisor(cfg, Options{Rsync: "/bin/true"})
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "root" {
		t.Fatalf("a Root that does not match the process: %v", err)
	}
	cfg.Root = os.Geteuid() == 0
	cfg.Modules = nil
	if _, err := NewSupervisor(cfg, Options{Rsync: "/bin/true"}); err == nil {
		t.Fatal("an invalid config was accepted")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name, daemon string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "daemon" && l.GetValue() == daemon {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{daemon=%q}", name, daemon)
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitGone(pgid int) bool {
	deadline := time.Now().Add(testDeadline)
	for testutil.ProcessAlive(pgid) || len(testutil.GroupMembers(pgid)) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
