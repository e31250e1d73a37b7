//go:build unix

package rsyncd

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

const (
	// startAttempts bounds retries for the window between probing a free
	// port and the daemon binding it, in which another process can take it.
	startAttempts = 3
	readyTimeout  = 15 * time.Second
	stopTimeout   = 10 * time.Second
	pollInterval  = 10 * time.Millisecond
)

// Module is one rsync module the daemon serves.
type Module struct {
	Name string
	// Path is the directory served. Start makes it reachable for nobody
	// (see the package documentation).
	Path string
	// AuthUser and Password, when set, require that login (auth users,
	// a 0600 secrets file and strict modes).
	AuthUser, Password string
	// ListNonreadable leaves out "ignore nonreadable", as many real mirrors
	// do: the daemon then lists directories it cannot open and the client
	// exits 23 over them.
	ListNonreadable bool
}

// Config is a daemon's configuration.
type Config struct {
	Modules []Module
	// BWLimit caps what the daemon sends, in KiB per second (rsync's
	// --bwlimit); 0 is unlimited. Tests use it to keep a listing in flight
	// long enough to cut it off.
	BWLimit int
	// Nice lowers the daemon's CPU priority (and that of the processes it
	// forks per connection), 0..19. Benchmarks in which the daemon stands
	// for a mirror on another machine use it, so that it takes only CPU
	// the system under test leaves idle.
	Nice int
}

// Daemon is a running rsync daemon.
type Daemon struct {
	tb      testing.TB
	dir     string
	logFile string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error

	stopOnce sync.Once
}

// Start runs a daemon serving modules; it is stopped at the test's cleanup.
func Start(tb testing.TB, modules ...Module) *Daemon {
	tb.Helper()
	return StartConfig(tb, Config{Modules: modules})
}

// StartConfig runs a daemon configured by cfg; it is stopped at the test's
// cleanup.
func StartConfig(tb testing.TB, cfg Config) *Daemon {
	tb.Helper()
	bin := testutil.RequireTool(tb, "rsync")
	dir := tb.TempDir()
	conf, err := writeConfig(dir, cfg)
	if err != nil {
		tb.Fatalf("rsyncd: %v", err)
	}
	for _, m := range cfg.Modules {
		if err := testutil.MakeTraversable(m.Path); err != nil {
			tb.Fatalf("rsyncd: %v", err)
		}
	}
	for attempt := 1; ; attempt++ {
		d, portTaken, err := start(tb, bin, dir, conf, cfg)
		if err == nil {
			tb.Cleanup(d.Stop)
			return d
		}
		if !portTaken || attempt == startAttempts {
			tb.Fatalf("rsyncd: %v", err)
		}
	}
}

func start(tb testing.TB, bin, dir, conf string, cfg Config) (d *Daemon, portTaken bool, err error) {
	port, err := testutil.FreePort()
	if err != nil {
		return nil, false, err
	}
	logFile := filepath.Join(dir, fmt.Sprintf("rsyncd-%d.log", port))
	args := []string{"--daemon", "--no-detach", "--config=" + conf, "--port=" + strconv.Itoa(port),
		"--address=127.0.0.1", "--log-file=" + logFile}
	if cfg.BWLimit > 0 {
		args = append(args, "--bwlimit="+strconv.Itoa(cfg.BWLimit))
	}
	out, err := os.Create(logFile + ".stderr")
	if err != nil {
		return nil, false, err
	}
	defer out.Close() // the child holds its own copy
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so Stop reaches the per-connection processes
	// the daemon forks as well.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("start %s: %w", bin, err)
	}
	d = &Daemon{tb: tb, dir: dir, logFile: logFile, port: port, cmd: cmd, exited: make(chan struct{})}
	if cfg.Nice > 0 {
		// Before it accepts a connection: every process it forks inherits it.
		if err := syscall.Setpriority(syscall.PRIO_PGRP, cmd.Process.Pid, cfg.Nice); err != nil {
			tb.Logf("rsyncd: renice: %v", err)
		}
	}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitReady(); err != nil {
		d.Stop()
		logs := d.Log()
		return nil, strings.Contains(logs, "Address already in use") || strings.Contains(logs, "unable to bind"),
			fmt.Errorf("daemon on port %d: %w\n%s", port, err, logs)
	}
	return d, false, nil
}

// waitReady connects until the daemon sends its "@RSYNCD:" greeting, which
// proves that the rsync we started, not something else, owns the port.
func (d *Daemon) waitReady() error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("rsync daemon exited before accepting connections: %v", d.waitErr)
		default:
		}
		if last = greet(d.Addr(), time.Until(deadline)); last == nil {
			// Another daemon could have answered on a port ours failed
			// to bind; ours would have exited by the time that one greets.
			select {
			case <-d.exited:
				return fmt.Errorf("rsync daemon exited (%v) while something else answered on its port", d.waitErr)
			default:
				return nil
			}
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("rsync daemon not ready after %v: %w", readyTimeout, last)
}

func greet(addr string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(line, "@RSYNCD: ") {
		return fmt.Errorf("unexpected greeting %q", line)
	}
	return nil
}

// Stop kills the daemon and every process it forked, and waits until they
// are gone. It runs at cleanup; tests call it earlier to make a daemon die
// under a client. Calling it again does nothing.
func (d *Daemon) Stop() {
	d.stopOnce.Do(func() {
		if err := d.stop(); err != nil {
			d.tb.Errorf("rsyncd: stop daemon %d: %v", d.PID(), err)
		}
	})
}

func (d *Daemon) stop() error {
	pgid := d.cmd.Process.Pid
	// SIGKILL straight away: there is nothing to flush, and a test that
	// stops a daemon mid-transfer wants it gone at once.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group: %w", err)
	}
	select {
	case <-d.exited:
	case <-time.After(stopTimeout):
		return fmt.Errorf("daemon still running %v after SIGKILL", stopTimeout)
	}
	// Connection processes are reparented when the daemon dies; wait until
	// the group is empty so no test leaves one behind.
	deadline := time.Now().Add(stopTimeout)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process group %d still has members after %v (kill -0: %v)", pgid, stopTimeout, err)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(pollInterval)
	}
}

// Exited is closed once the daemon process has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// PID is the daemon's process ID (and its process group's).
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Port is the TCP port the daemon listens on at 127.0.0.1.
func (d *Daemon) Port() int { return d.port }

// Addr is the daemon's host:port.
func (d *Daemon) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// URL is the rsync URL of a module: rsync://127.0.0.1:PORT/module/.
func (d *Daemon) URL(module string) string {
	return "rsync://" + d.Addr() + "/" + module + "/"
}

// Log returns the daemon's log and stderr, for failure messages.
func (d *Daemon) Log() string {
	var b strings.Builder
	for _, f := range []string{d.logFile, d.logFile + ".stderr"} {
		if data, err := os.ReadFile(f); err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

func writeConfig(dir string, cfg Config) (string, error) {
	var b strings.Builder
	// Global settings. uid/gid switching needs root; as anyone else the
	// daemon serves as that user, which is already unprivileged.
	if os.Geteuid() == 0 {
		b.WriteString("uid = nobody\ngid = nogroup\n")
	}
	b.WriteString("use chroot = no\nmax connections = 0\nreverse lookup = no\n")
	for _, m := range cfg.Modules {
		if m.Name == "" || strings.ContainsAny(m.Name, "[]/\n") {
			return "", fmt.Errorf("bad module name %q", m.Name)
		}
		if !filepath.IsAbs(m.Path) || strings.Contains(m.Path, "\n") {
			return "", fmt.Errorf("module %s: path %q must be absolute", m.Name, m.Path)
		}
		fmt.Fprintf(&b, "\n[%s]\n\tpath = %s\n\tread only = yes\n\tmunge symlinks = no\n", m.Name, m.Path)
		if !m.ListNonreadable {
			b.WriteString("\tignore nonreadable = yes\n")
		}
		if m.AuthUser != "" {
			secrets := filepath.Join(dir, m.Name+".secrets")
			if err := os.WriteFile(secrets, []byte(m.AuthUser+":"+m.Password+"\n"), 0o600); err != nil {
				return "", err
			}
			fmt.Fprintf(&b, "\tauth users = %s\n\tsecrets file = %s\n\tstrict modes = yes\n", m.AuthUser, secrets)
		}
	}
	conf := filepath.Join(dir, "rsyncd.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return conf, nil
}
