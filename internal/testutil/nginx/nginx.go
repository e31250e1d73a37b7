package nginx

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

const (
	// startAttempts covers the window between probing a free port and nginx
	// binding it, in which a parallel test can take it.
	startAttempts = 3
	readyTimeout  = 15 * time.Second
	stopTimeout   = 15 * time.Second
)

// Option changes the generated configuration.
type Option func(*config)

type config struct {
	json      bool
	accessLog bool
	extra     []string
	port      int
}

// JSON serves autoindex pages as JSON (autoindex_format json).
func JSON() Option { return func(c *config) { c.json = true } }

// AccessLog makes nginx log every request, so a test can see with
// Requests what reached the server.
func AccessLog() Option { return func(c *config) { c.accessLog = true } }

// ServerDirectives adds directives to the server block, such as a location
// that redirects ("location = /old/ { return 301 /new/; }"). A directive
// that needs the server's own port can use $server_port.
func ServerDirectives(d string) Option { return func(c *config) { c.extra = append(c.extra, d) } }

// Port listens on the given port instead of a free one: to bring a
// stopped server back where clients and probes knew it.
func Port(p int) Option { return func(c *config) { c.port = p } }

// Server is one running nginx.
type Server struct {
	tb        testing.TB
	dir       string // config, pid, logs and temp paths
	port      int
	cmd       *exec.Cmd
	exited    chan struct{} // closed when cmd.Wait returns
	accessLog string

	mu      sync.Mutex
	stopped bool
}

// Start serves root with autoindex on a free port of 127.0.0.1 and stops the
// server when the test ends.
func Start(tb testing.TB, root string, opts ...Option) *Server {
	tb.Helper()
	bin := testutil.RequireTool(tb, "nginx", "/usr/sbin")
	var c config
	for _, o := range opts {
		o(&c)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		tb.Fatalf("nginx: %v", err)
	}
	if err := makeTraversable(root); err != nil {
		tb.Fatalf("nginx: %v", err)
	}
	var lastErr error
	for range startAttempts {
		s := &Server{tb: tb, dir: tb.TempDir(), exited: make(chan struct{})}
		err := s.start(bin, root, c)
		if err == nil {
			tb.Cleanup(func() {
				if err := s.Stop(); err != nil {
					tb.Errorf("nginx: %v", err)
				}
			})
			return s
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || c.port != 0 {
			break
		}
	}
	tb.Fatalf("nginx: %v", lastErr)
	return nil
}

// Port is the port it listens on.
func (s *Server) Port() int { return s.port }

// URL is the server's base URL, "http://127.0.0.1:PORT/".
func (s *Server) URL() string { return "http://127.0.0.1:" + strconv.Itoa(s.port) + "/" }

// Addr is "127.0.0.1:PORT".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// PID is the master process's id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Requests returns "METHOD URI STATUS" for every request logged so far, in
// the order they finished; it needs the AccessLog option. nginx writes a
// line just after sending the response (no buffer= in the config), so a
// client can see a response a moment before its line is in the file: use
// Await to wait for what the test expects.
func (s *Server) Requests() []string {
	s.tb.Helper()
	lines, err := s.readLog()
	if err != nil {
		s.tb.Fatalf("nginx: %v", err)
	}
	return lines
}

// Await polls the access log until cond holds for its lines or a deadline
// passes, and returns the lines and whether cond held.
func (s *Server) Await(cond func(lines []string) bool) ([]string, bool) {
	s.tb.Helper()
	lines, ok, err := s.await(cond)
	if err != nil {
		s.tb.Fatalf("nginx: %v", err)
	}
	return lines, ok
}

func (s *Server) await(cond func(lines []string) bool) ([]string, bool, error) {
	deadline := time.Now().Add(readyTimeout)
	for {
		lines, err := s.readLog()
		if err != nil {
			return nil, false, err
		}
		if cond(lines) {
			return lines, true, nil
		}
		if time.Now().After(deadline) {
			return lines, false, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) readLog() ([]string, error) {
	if s.accessLog == "" {
		return nil, errors.New("the access log needs the AccessLog option")
	}
	f, err := os.Open(s.accessLog)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	return out, nil
}

var errPortTaken = errors.New("port taken")

func (s *Server) start(bin, root string, c config) error {
	port := c.port
	if port == 0 {
		var err error
		if port, err = testutil.FreePort(); err != nil {
			return err
		}
	}
	s.port = port
	conf := filepath.Join(s.dir, "nginx.conf")
	errorLog := filepath.Join(s.dir, "error.log")
	if c.accessLog {
		s.accessLog = filepath.Join(s.dir, "access.log")
	}
	if err := os.WriteFile(conf, []byte(s.config(root, errorLog, c)), 0o644); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	// -e: the compiled-in error log is opened before the config is read.
	s.cmd = exec.Command(bin, "-c", conf, "-p", s.dir+"/", "-e", errorLog)
	s.cmd.Dir = s.dir
	// Own process group, so a forced stop reaches the workers too.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		log, _ := os.ReadFile(errorLog)
		if strings.Contains(string(log), "Address already in use") {
			return fmt.Errorf("%w: %d: %v", errPortTaken, port, err)
		}
		return fmt.Errorf("%v; error log:\n%s", err, log)
	}
	if s.accessLog != "" {
		// The readiness probe is logged a moment after its response: wait
		// for it, so that a test's count of requests starts after it.
		_, ok, err := s.await(func(lines []string) bool {
			return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "GET / ") })
		})
		if err != nil || !ok {
			s.kill()
			return fmt.Errorf("readiness probe never reached the access log %s: %v", s.accessLog, err)
		}
	}
	return nil
}

func (s *Server) config(root, errorLog string, c config) string {
	q := func(p string) string { return `"` + p + `"` }
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes 2;\n")
	fmt.Fprintf(&b, "pid %s;\nerror_log %s warn;\n", q(filepath.Join(s.dir, "nginx.pid")), q(errorLog))
	// Only meaningful for a root master; nginx ignores it (with a warning)
	// otherwise.
	b.WriteString("user nobody nogroup;\n")
	b.WriteString("events {\n\tworker_connections 256;\n}\n")
	b.WriteString("http {\n\ttypes { }\n\tdefault_type application/octet-stream;\n")
	if s.accessLog != "" {
		b.WriteString("\tlog_format mk '$request_method $request_uri $status';\n")
		fmt.Fprintf(&b, "\taccess_log %s mk;\n", q(s.accessLog))
	} else {
		b.WriteString("\taccess_log off;\n")
	}
	for _, t := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "\t%s_temp_path %s;\n", t, q(filepath.Join(s.dir, t)))
	}
	b.WriteString("\tserver {\n")
	fmt.Fprintf(&b, "\t\tlisten 127.0.0.1:%d;\n", s.port)
	fmt.Fprintf(&b, "\t\troot %s;\n", q(root))
	b.WriteString("\t\tautoindex on;\n\t\tautoindex_exact_size on;\n\t\tautoindex_localtime off;\n")
	if c.json {
		b.WriteString("\t\tautoindex_format json;\n")
	}
	for _, d := range c.extra {
		fmt.Fprintf(&b, "\t\t%s\n", d)
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// waitReady polls until nginx answers a request for /, the process exits, or
// the deadline passes.
func (s *Server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL(), nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("nginx exited during start: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("nginx did not answer on %s within %v", s.Addr(), readyTimeout)
		case <-tick.C:
		}
	}
}

// Stop shuts nginx down (SIGTERM: fast shutdown, open connections are
// closed) and checks that the master and its workers are gone. It is safe to
// call more than once; a test may stop the server early to see what a client
// does when the mirror goes away.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true
	workers := testutil.ChildPIDs(s.cmd.Process.Pid)
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal master %d: %w", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.kill()
		return fmt.Errorf("master %d did not exit within %v of SIGTERM; killed", s.cmd.Process.Pid, stopTimeout)
	}
	deadline := time.Now().Add(stopTimeout)
	for _, pid := range workers {
		for testutil.ProcessAlive(pid) {
			if time.Now().After(deadline) {
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				return fmt.Errorf("worker %d outlived its master", pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// kill ends a server that failed to start: the whole group, at once.
func (s *Server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
	}
	s.stopped = true
}

// makeTraversable opens the tree to the workers, which run as nobody only
// when nginx starts as root; otherwise they run as us and need nothing.
func makeTraversable(root string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return testutil.MakeTraversable(root)
}
