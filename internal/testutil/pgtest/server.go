package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

const (
	// startAttempts bounds the retries for the window between probing a free
	// port and the postmaster binding it, in which another process (often a
	// parallel test binary doing the same) can take it.
	startAttempts = 3
	readyTimeout  = 30 * time.Second
	// stopTimeout bounds Stop, which takes no context because it runs from
	// Cleanup and TestMain, after the test's own context is gone.
	stopTimeout = time.Minute
	// logTailLines is how much of the server log goes into a start error:
	// the FATAL line explaining the failure is near the end.
	logTailLines = 20
	// maxSocketPath is sizeof(sockaddr_un.sun_path) minus the NUL on Linux;
	// the postmaster refuses longer socket paths.
	maxSocketPath = 107
)

// Server is one running throw-away PostgreSQL cluster.
type Server struct {
	bins binaries
	as   *serverUser // nil when the programs run as the current user

	base    string // temp directory holding everything below; removed by Stop
	data    string
	sock    string
	logFile string
	port    int

	seq atomic.Uint64

	mu      sync.Mutex
	stopped bool
}

// serverUser is the account the cluster runs as when the test runs as root.
type serverUser struct {
	name     string
	uid, gid int
	runuser  string
}

// Start initialises a cluster in a fresh temp directory and starts it on 127.0.0.1:<free port>.
func Start(ctx context.Context) (*Server, error) {
	if !platformSupported {
		return nil, fmt.Errorf("%w: pgtest runs servers only on unix systems, not %s", ErrNotInstalled, runtime.GOOS)
	}
	bins, err := findBinaries(debianBinGlob)
	if err != nil {
		return nil, err
	}
	var as *serverUser
	if os.Geteuid() == 0 {
		if as, err = lookupServerUser(); err != nil {
			return nil, err
		}
	}
	base, err := makeBaseDir(as)
	if err != nil {
		return nil, err
	}
	s := &Server{
		bins:    bins,
		as:      as,
		base:    base,
		data:    filepath.Join(base, "data"),
		sock:    filepath.Join(base, "s"),
		logFile: filepath.Join(base, "log"),
	}
	if err := s.start(ctx); err != nil {
		if serr := s.Stop(); serr != nil {
			err = errors.Join(err, serr)
		}
		return nil, err
	}
	return s, nil
}

// Port is the TCP port the server listens on at 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DSN is the connection string for database as the superuser postgres,
// which needs no password because the cluster trusts every local client.
func (s *Server) DSN(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, url.PathEscape(database))
}

// CreateDatabase creates a database with a name unique within this server
// (mk_1, mk_2, ...) and returns its DSN. Safe for concurrent use.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	s.mu.Lock()
	stopped := s.stopped
	s.mu.Unlock()
	if stopped {
		return "", errors.New("pgtest: create database: server is stopped")
	}
	name := fmt.Sprintf("mk_%d", s.seq.Add(1))
	// Connecting to "postgres" rather than template1 matters: CREATE DATABASE
	// fails while anyone else is connected to its template.
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: create database %s: connect: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// Stop shuts the server down (pg_ctl stop -m immediate: the data is thrown
// away, so there is nothing to flush) and removes its directory. Calling it
// again returns nil.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil
	}
	s.stopped = true

	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	var errs []error
	if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
		out, err := s.command(ctx, s.bins.pgCtl, "stop", "-D", s.data, "-m", "immediate", "-w", "-t", "30").CombinedOutput()
		if err != nil {
			// pg_ctl can fail for reasons that leave the postmaster running
			// (a timeout, a broken runuser); killing it directly keeps the
			// promise that Stop leaves no process behind.
			if kerr := s.killPostmaster(ctx); kerr != nil {
				errs = append(errs, fmt.Errorf("pgtest: pg_ctl stop: %w: %s", err, bytes.TrimSpace(out)), kerr)
			}
		}
	}
	if err := os.RemoveAll(s.base); err != nil {
		errs = append(errs, fmt.Errorf("pgtest: remove %s: %w", s.base, err))
	}
	return errors.Join(errs...)
}

func (s *Server) start(ctx context.Context) error {
	for _, dir := range []string{s.data, s.sock} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	// pg_ctl opens the log as the server user, who cannot create files in
	// the root-owned base directory, so it is created here.
	if err := os.WriteFile(s.logFile, nil, 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if s.as != nil {
		for _, p := range []string{s.data, s.sock, s.logFile} {
			if err := os.Lchown(p, s.as.uid, s.as.gid); err != nil {
				return fmt.Errorf("pgtest: chown %s to %s: %w", p, s.as.name, err)
			}
		}
	}

	if err := s.initdb(ctx); err != nil {
		return err
	}

	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var portTaken bool
		portTaken, err = s.startOnce(ctx)
		if err == nil {
			return s.waitReady(ctx)
		}
		if !portTaken || ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("pgtest: no free port after %d attempts: %w", startAttempts, err)
}

func (s *Server) initdb(ctx context.Context) error {
	args := []string{"-D", s.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"}
	// --no-instructions only exists since PostgreSQL 13; older initdb
	// rejects unknown options.
	help, err := s.command(ctx, s.bins.initdb, "--help").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb --help: %w: %s", err, bytes.TrimSpace(help))
	}
	if bytes.Contains(help, []byte("--no-instructions")) {
		args = append(args, "--no-instructions")
	}
	out, err := s.command(ctx, s.bins.initdb, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: initdb: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// startOnce starts the postmaster on a freshly probed port and reports
// whether a failure was the port being taken, which is worth a retry.
func (s *Server) startOnce(ctx context.Context) (portTaken bool, err error) {
	port, err := testutil.FreePort()
	if err != nil {
		return false, err
	}
	s.port = port
	logStart := fileSize(s.logFile)
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
		port, shellQuote(s.sock))
	out, err := s.command(ctx, s.bins.pgCtl, "-D", s.data, "-w", "-t", "60", "-l", s.logFile, "-o", opts, "start").CombinedOutput()
	if err == nil {
		return false, nil
	}
	// A postmaster that pg_ctl gave up waiting for may still come up later
	// and would then hold the data directory against the retry.
	killErr := s.killPostmaster(context.WithoutCancel(ctx))
	logTail := tailFrom(s.logFile, logStart, logTailLines)
	err = fmt.Errorf("pgtest: pg_ctl start on port %d: %w: %s\nserver log:\n%s", port, err, bytes.TrimSpace(out), logTail)
	if killErr != nil {
		err = errors.Join(err, killErr)
	}
	return strings.Contains(logTail, "Address already in use"), err
}

// waitReady connects over TCP, the way tests will, because pg_ctl -w only
// proves that the postmaster reported itself ready in its pid file.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	backoff := 5 * time.Millisecond
	for {
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.WithoutCancel(ctx))
			if err == nil {
				return nil
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("pgtest: server on port %d not accepting connections: %w (last error: %v)\nserver log:\n%s",
				s.port, ctx.Err(), err, tailFrom(s.logFile, 0, logTailLines))
		case <-t.C:
		}
		backoff = min(backoff*2, 200*time.Millisecond)
	}
}

// killPostmaster is the fallback for when pg_ctl cannot stop the server.
func (s *Server) killPostmaster(ctx context.Context) error {
	pid, err := readPostmasterPID(s.data)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	// A stale pid file's number may have been reused by an unrelated process.
	if !isPostmasterOf(pid, s.data) {
		return nil
	}
	children := childPIDs(pid)
	// SIGQUIT is what pg_ctl -m immediate sends: the postmaster passes it on
	// to its children, which SIGKILL of the postmaster alone would not do.
	_ = quitProcess(pid)
	if !waitExit(ctx, pid, 5*time.Second) {
		_ = killProcess(pid)
		waitExit(ctx, pid, 5*time.Second)
	}
	for _, c := range children {
		_ = killProcess(c)
	}
	if processAlive(pid) {
		return fmt.Errorf("pgtest: postmaster %d of %s survived SIGKILL", pid, s.data)
	}
	return nil
}

func (s *Server) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if s.as != nil {
		cmd = exec.CommandContext(ctx, s.as.runuser, append([]string{"-u", s.as.name, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	// The test's working directory may not be reachable by the server user
	// (a checkout under /root); the base directory always is.
	cmd.Dir = s.base
	cmd.Env = serverEnv()
	// On cancellation the whole group (runuser, pg_ctl, initdb's children)
	// must go, not only the direct child.
	configureCmd(cmd)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// serverEnv drops PG* variables (PGDATA, PGOPTIONS, PGPORT ... would
// silently change what initdb and pg_ctl do) and pins the locale so that log
// messages such as "Address already in use" can be matched.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

func lookupServerUser() (*serverUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root needs the postgres user, which the package creates: %v", ErrNotInstalled, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("pgtest: uid of postgres: %w", err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("pgtest: gid of postgres: %w", err)
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		for _, p := range []string{"/usr/sbin/runuser", "/sbin/runuser"} {
			if isExecutable(p) {
				runuser, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs runuser (util-linux) to run the server as postgres: %w", err)
	}
	return &serverUser{name: u.Username, uid: uid, gid: gid, runuser: runuser}, nil
}

// makeBaseDir creates the directory holding the cluster. Its path must be
// short, because the unix socket lives below it, and when the server runs as
// another user every ancestor must let that user through. TMPDIR is
// preferred; /tmp is the fallback when TMPDIR fails either test.
func makeBaseDir(as *serverUser) (string, error) {
	// "/pg" + up to 10 random digits + "/s/.s.PGSQL.65535"
	const suffixLen = len("/pg4294967295/s/.s.PGSQL.65535")
	var reasons []string
	for _, parent := range uniq(os.TempDir(), "/tmp") {
		if len(parent)+suffixLen > maxSocketPath {
			reasons = append(reasons, fmt.Sprintf("%s: too long for a unix socket path", parent))
			continue
		}
		if as != nil {
			if dir := untraversable(parent, as); dir != "" {
				reasons = append(reasons, fmt.Sprintf("%s: user %s cannot enter %s", parent, as.name, dir))
				continue
			}
		}
		base, err := os.MkdirTemp(parent, "pg")
		if err != nil {
			reasons = append(reasons, err.Error())
			continue
		}
		if as != nil {
			// MkdirTemp's 0700 would lock the server user out of its own
			// data directory below.
			if err := os.Chmod(base, 0o711); err != nil {
				os.RemoveAll(base)
				return "", fmt.Errorf("pgtest: %w", err)
			}
		}
		return base, nil
	}
	return "", fmt.Errorf("pgtest: no usable temp directory: %s", strings.Join(reasons, "; "))
}

// untraversable returns the first directory from dir up to / that the user
// cannot search, or "" when there is none.
func untraversable(dir string, as *serverUser) string {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for {
		if !searchableBy(dir, as.uid, as.gid) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func uniq(ss ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// shellQuote is needed because pg_ctl hands -o to /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tailFrom returns the last n lines written to path at or after offset, so
// that a retry's error does not repeat an earlier attempt's log.
func tailFrom(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func readPostmasterPID(dataDir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pgtest: malformed postmaster.pid in %s: %q", dataDir, first)
	}
	return pid, nil
}

func waitExit(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for processAlive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
