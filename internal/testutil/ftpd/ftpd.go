package ftpd

import (
	"bufio"
	"bytes"
	"context"
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
	// startAttempts covers the window between probing free ports and
	// pure-ftpd binding them, in which a parallel test can take one.
	startAttempts = 3
	readyTimeout  = 15 * time.Second
	stopTimeout   = 15 * time.Second
	// passivePorts is the size of the passive range: data connections are
	// short-lived and sequential per client, a few suffice.
	passivePorts = 16
	nobody       = 65534
)

// Option changes how the server is set up.
type Option func(*config)

type config struct {
	user, password string
	binds          [][2]string
}

// WithUser adds a virtual user with this password (see the package doc).
func WithUser(name, password string) Option {
	return func(c *config) { c.user, c.password = name, password }
}

// WithBind bind-mounts the directory src over the existing directory dst
// inside the server's own mount namespace, before it starts; the host never
// sees the mount. Binding a directory over one of its own descendants makes
// a real directory loop, which the server shows as a plain directory.
func WithBind(src, dst string) Option {
	return func(c *config) { c.binds = append(c.binds, [2]string{src, dst}) }
}

// Server is one running pure-ftpd.
type Server struct {
	tb      testing.TB
	dir     string
	port    int
	cfg     config
	cmd     *exec.Cmd
	out     *syncBuffer
	exited  chan struct{}
	mu      sync.Mutex
	stopped bool
}

// Start serves root over FTP on 127.0.0.1 and stops the server when the test
// ends.
func Start(tb testing.TB, root string, opts ...Option) *Server {
	tb.Helper()
	if os.Geteuid() != 0 {
		testutil.MissingTool(tb, "ftpd: pure-ftpd needs root (chroot, setuid, a private mount namespace)")
		return nil
	}
	bin := testutil.RequireTool(tb, "pure-ftpd", "/usr/sbin")
	sh := testutil.RequireTool(tb, "sh")
	mount := testutil.RequireTool(tb, "mount", "/usr/bin", "/bin")
	var c config
	for _, o := range opts {
		o(&c)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		tb.Fatalf("ftpd: %v", err)
	}
	if strings.ContainsAny(root, ":\n") {
		tb.Fatalf("ftpd: root %q cannot be a passwd home directory", root)
	}
	if err := testutil.MakeTraversable(root); err != nil {
		tb.Fatalf("ftpd: %v", err)
	}
	dir := tb.TempDir() // outside root: nothing of ours is served
	passwd := filepath.Join(dir, "passwd")
	if err := writePasswd(passwd, root); err != nil {
		tb.Fatalf("ftpd: %v", err)
	}
	var pdb string
	if c.user != "" {
		pdb = filepath.Join(dir, "pureftpd.pdb")
		pw := testutil.RequireTool(tb, "pure-pw", "/usr/bin")
		if err := makePureDB(pw, filepath.Join(dir, "pureftpd.passwd"), pdb, root, c); err != nil {
			tb.Fatalf("ftpd: %v", err)
		}
	}
	var lastErr error
	for range startAttempts {
		s := &Server{tb: tb, dir: dir, cfg: c, out: &syncBuffer{}, exited: make(chan struct{})}
		err := s.start(sh, mount, bin, passwd, pdb, root)
		if err == nil {
			tb.Cleanup(func() {
				if err := s.Stop(); err != nil {
					tb.Errorf("ftpd: %v", err)
				}
			})
			return s
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
	}
	tb.Fatalf("ftpd: %v", lastErr)
	return nil
}

// URL is the anonymous base URL, "ftp://127.0.0.1:PORT/".
func (s *Server) URL() string { return "ftp://" + s.Addr() + "/" }

// UserURL is the virtual user's base URL, "ftp://NAME@127.0.0.1:PORT/".
func (s *Server) UserURL() string {
	if s.cfg.user == "" {
		s.tb.Fatalf("ftpd: UserURL needs the WithUser option")
	}
	return "ftp://" + s.cfg.user + "@" + s.Addr() + "/"
}

// Addr is "127.0.0.1:PORT".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// PID is the server process's id (its process group's too).
func (s *Server) PID() int { return s.cmd.Process.Pid }

// errExited: pure-ftpd exited while starting, most likely because a port
// was taken in the meantime; another attempt uses other ports.
var errExited = errors.New("pure-ftpd exited during start")

func (s *Server) start(sh, mount, bin, passwd, pdb, root string) error {
	port, err := testutil.FreePort()
	if err != nil {
		return err
	}
	low, err := freePortRange(passivePorts)
	if err != nil {
		return err
	}
	s.port = port
	args := []string{
		"-S", "127.0.0.1," + strconv.Itoa(port),
		"-p", fmt.Sprintf("%d:%d", low, low+passivePorts-1),
		"-H",       // no reverse DNS
		"-A",       // chroot everyone
		"-i",       // anonymous cannot upload (and nobody can write root's tree)
		"-R", "-G", // no chmod, no rename
		"-c", "50", "-C", "50", // parallel tests, all from 127.0.0.1
		"-f", "none", // no syslog: there is none, and output goes to the test
	}
	if pdb != "" {
		args = append(args, "-l", "puredb:"+pdb)
	} else {
		args = append(args, "-e") // anonymous only
	}
	// The bind mounts happen in the child's own mount namespace; see the
	// package doc.
	const script = `m=$1 p=$2 n=$3; shift 3
"$m" --bind "$p" /etc/passwd || exit 1
while [ "$n" -gt 0 ]; do "$m" --bind "$1" "$2" || exit 1; shift 2; n=$((n-1)); done
exec "$@"`
	argv := []string{"-c", script, "sh", mount, passwd, strconv.Itoa(len(s.cfg.binds))}
	for _, b := range s.cfg.binds {
		argv = append(argv, b[0], b[1])
	}
	argv = append(argv, bin)
	s.cmd = exec.Command(sh, append(argv, args...)...)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS}
	// Session processes inherit the output pipe; Stop kills them, and this
	// bounds Wait should one linger.
	s.cmd.WaitDelay = stopTimeout
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		return fmt.Errorf("%w; output:\n%s", err, s.out.String())
	}
	return nil
}

// waitReady polls until the server sends a complete 220 greeting, exits, or
// the deadline passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := greet(ctx, s.Addr()); err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("%w: %v", errExited, s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("pure-ftpd did not greet on %s within %v", s.Addr(), readyTimeout)
		case <-tick.C:
		}
	}
}

// greet connects, reads the greeting up to its last line ("220 ..."), and
// says QUIT.
func greet(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "220") {
			return fmt.Errorf("greeting %q", line)
		}
		if strings.HasPrefix(line, "220 ") {
			_, err := c.Write([]byte("QUIT\r\n"))
			return err
		}
	}
}

// Stop kills the server and its session processes and checks they are gone.
// It is safe to call more than once; a test may stop the server early to see
// what a client does when the mirror goes away.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	pgid := s.cmd.Process.Pid
	// SIGKILL: a mirror going away mid-transfer is what tests want to see,
	// and pure-ftpd's session processes would outlive a SIGTERM'd master.
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill group %d: %w", pgid, err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		return fmt.Errorf("pure-ftpd %d did not exit within %v of SIGKILL", pgid, stopTimeout)
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		left := testutil.GroupMembers(pgid)
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v of pure-ftpd %d outlived it", left, pgid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Freeze stops the server and its sessions (SIGSTOP) without closing
// anything: a mirror that hangs mid-transfer, for testing timeouts. Stop
// still ends a frozen server.
func (s *Server) Freeze() error {
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("freeze group %d: %w", s.cmd.Process.Pid, err)
	}
	return nil
}

// kill ends a server that failed to start.
func (s *Server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
	}
	s.stopped = true
}

// freePortRange finds n consecutive free ports: a port the kernel picks,
// and the ones after it if they can be bound too.
func freePortRange(n int) (int, error) {
	for range 100 {
		first, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("find free ports: %w", err)
		}
		low := first.Addr().(*net.TCPAddr).Port
		held := []net.Listener{first}
		ok := low+n-1 <= 65535
		for p := low + 1; ok && p < low+n; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if ok {
			return low, nil
		}
	}
	return 0, fmt.Errorf("find %d consecutive free ports: none after 100 tries", n)
}

// writePasswd copies the host's /etc/passwd without its ftp accounts and
// adds one whose home is root (see the package doc).
func writePasswd(dst, root string) error {
	host, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return err
	}
	var b strings.Builder
	for line := range strings.Lines(string(host)) {
		if strings.HasPrefix(line, "ftp:") || strings.HasPrefix(line, "_ftp:") {
			continue
		}
		b.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			b.WriteByte('\n')
		}
	}
	fmt.Fprintf(&b, "ftp:x:%d:%d:anonymous FTP:%s:/usr/sbin/nologin\n", nobody, nobody, root)
	// Readable by all: it replaces /etc/passwd, which unprivileged session
	// processes read too.
	return os.WriteFile(dst, []byte(b.String()), 0o644)
}

// makePureDB creates the virtual user with pure-pw, which reads the password
// twice from stdin (never from the command line).
func makePureDB(pw, passwdFile, pdb, root string, c config) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	add := exec.CommandContext(ctx, pw, "useradd", c.user, "-u", strconv.Itoa(nobody), "-g", strconv.Itoa(nobody), "-d", root, "-f", passwdFile)
	add.Stdin = strings.NewReader(c.password + "\n" + c.password + "\n")
	if out, err := add.CombinedOutput(); err != nil {
		return fmt.Errorf("pure-pw useradd: %w: %s", err, out)
	}
	mk := exec.CommandContext(ctx, pw, "mkdb", pdb, "-f", passwdFile)
	if out, err := mk.CombinedOutput(); err != nil {
		return fmt.Errorf("pure-pw mkdb: %w: %s", err, out)
	}
	return nil
}

// syncBuffer collects the server's output, written by exec's copier
// goroutines and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
