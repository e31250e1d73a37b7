package rsyncd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Names of the daemons a Supervisor runs, as in DaemonStatus.Name and the
// "daemon" label of its metrics.
const (
	DaemonPublic  = "public"
	DaemonPrivate = "private"
)

// Options tune a Supervisor; the zero value is usable.
type Options struct {
	// Rsync is the rsync binary; "" looks "rsync" up on PATH.
	Rsync string
	// Logger receives the supervisor's events and, line by line, what
	// rsync writes to its standard error (its log when Config.LogFile is
	// ""); nil discards them.
	Logger *slog.Logger
	// Registerer, when set, receives the supervisor's metrics.
	Registerer prometheus.Registerer
	// MinBackoff is the wait before the first restart (default 1s); each
	// further restart doubles it up to MaxBackoff (default 1m). A daemon
	// that ran for MaxBackoff before dying starts again from MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// StopGrace is how long rsync has to exit after SIGTERM before it and
	// its connections are SIGKILLed (default 10s).
	StopGrace time.Duration
	// ReadyTimeout bounds the wait for a new daemon's greeting; a daemon
	// that does not greet in time is killed and restarted (default 30s).
	ReadyTimeout time.Duration
}

// DaemonStatus describes one supervised daemon.
type DaemonStatus struct {
	// Name is DaemonPublic or DaemonPrivate.
	Name string
	// Addr is the host:port the readiness probe connects to.
	Addr string
	// PID is the daemon's process ID (and process group ID); 0 while it
	// is not running.
	PID int
	// Ready says the daemon greeted a client since it last started.
	Ready bool
	// Restarts counts unplanned restarts (the daemon died or never became
	// ready); reloads that restart it are not counted.
	Restarts int
	// LastExit describes how the daemon last ended, "" if it never did.
	LastExit string
}

// Supervisor runs the rsync daemon(s) for a Config. Create one with
// NewSupervisor and call Run once.
type Supervisor struct {
	opts Options
	bin  string
	log  *slog.Logger

	restartsTotal *prometheus.CounterVec
	up            *prometheus.GaugeVec

	mu      sync.Mutex
	cfg     Config
	state   map[string]*DaemonStatus
	changed chan struct{} // closed and replaced whenever state changes
	running bool
	reload  chan struct{} // wakes Run to reconcile after Reload
	// stopErrs are process groups that survived SIGKILL; Run returns them.
	stopErrs []error
}

// NewSupervisor validates cfg, finds rsync and registers the metrics:
// mirrorkit_rsyncd_restarts_total and mirrorkit_rsyncd_up, both labelled
// by daemon.
func NewSupervisor(cfg Config, opts Options) (*Supervisor, error) {
	if !supported {
		return nil, errors.New("rsyncd: supervising rsync needs process groups (unix)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkRoot(cfg); err != nil {
		return nil, err
	}
	bin := opts.Rsync
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("rsync"); err != nil {
			return nil, fmt.Errorf("rsyncd: find rsync: %w", err)
		}
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Minute
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.MinBackoff)
	if opts.StopGrace <= 0 {
		opts.StopGrace = 10 * time.Second
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		opts: opts, bin: bin, log: log.With("component", "rsyncd"),
		restartsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mirrorkit_rsyncd_restarts_total",
			Help: "Unplanned restarts of a supervised rsync daemon (it died or never greeted).",
		}, []string{"daemon"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mirrorkit_rsyncd_up",
			Help: "1 while a supervised rsync daemon runs and has greeted the readiness probe.",
		}, []string{"daemon"}),
		cfg:     cfg,
		state:   map[string]*DaemonStatus{},
		changed: make(chan struct{}),
		reload:  make(chan struct{}, 1),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{s.restartsTotal, s.up} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("rsyncd: register metrics: %w", err)
			}
		}
	}
	for _, name := range daemonNames(cfg) {
		s.restartsTotal.WithLabelValues(name)
		s.up.WithLabelValues(name).Set(0)
	}
	return s, nil
}

// checkRoot refuses a Config whose Root does not match the process: the
// uid/gid lines would be missing (rsync as root serves as nobody) or fail
// every connection (rsync as a user cannot switch users).
func checkRoot(cfg Config) error {
	if isRoot := os.Geteuid() == 0; cfg.Root != isRoot {
		return &FieldError{Field: "root", Value: strconv.FormatBool(cfg.Root),
			Msg: fmt.Sprintf("does not match the process (effective uid %d)", os.Geteuid())}
	}
	return nil
}

func daemonNames(c Config) []string {
	if c.privateDaemon() {
		return []string{DaemonPublic, DaemonPrivate}
	}
	return []string{DaemonPublic}
}

// spec is what a daemon is started with; a change in it needs a restart.
type spec struct {
	conf   string // rsyncd.conf path
	global string // the global section: rsync reads it once, at start
	probe  string // host:port for the readiness probe
}

func specs(c Config) (map[string]spec, error) {
	pub, err := Generate(c)
	if err != nil {
		return nil, err
	}
	out := map[string]spec{DaemonPublic: {conf: c.ConfigPath(), global: globalSection(pub), probe: probeAddr(c.Address, c.Port)}}
	if c.privateDaemon() {
		priv, err := GeneratePrivate(c)
		if err != nil {
			return nil, err
		}
		addr := c.Private.Address
		if addr == "" {
			addr = c.Address
		}
		out[DaemonPrivate] = spec{conf: c.PrivateConfigPath(), global: globalSection(priv), probe: probeAddr(addr, c.Private.Port)}
	}
	return out, nil
}

func globalSection(conf []byte) string {
	if i := bytes.Index(conf, []byte("\n[")); i >= 0 {
		return string(conf[:i])
	}
	return string(conf)
}

// probeAddr is where a client on this host reaches a daemon bound to addr.
func probeAddr(addr string, port int) string {
	host := "127.0.0.1"
	if a, err := netip.ParseAddr(addr); err == nil && !a.IsUnspecified() {
		host = a.String()
	} else if err == nil && a.Is6() {
		host = "::1"
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// Run writes the daemons' files, starts them and keeps them running until
// ctx ends; then it stops them, their connection processes included, and
// returns nil once every process it started is gone. It returns an error
// at once if the files cannot be written, and if a daemon's processes
// survive SIGKILL.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("rsyncd: supervisor already running")
	}
	s.running = true
	cfg := s.cfg
	s.mu.Unlock()
	if err := WriteFiles(cfg); err != nil {
		return err
	}

	type worker struct {
		spec   spec
		cancel context.CancelFunc
		done   chan struct{}
	}
	workers := map[string]*worker{}
	stopWorker := func(name string) {
		w := workers[name]
		w.cancel()
		<-w.done
		delete(workers, name)
	}
	reconcile := func() {
		s.mu.Lock()
		want, err := specs(s.cfg)
		s.mu.Unlock()
		if err != nil { // Reload validated it; not reached
			s.log.Error("rsync daemon configuration", "err", err)
			return
		}
		for name, w := range workers {
			if sp, ok := want[name]; !ok || sp != w.spec {
				s.log.Info("restarting rsync daemon for a changed global configuration", "daemon", name)
				stopWorker(name)
			}
		}
		for name, sp := range want {
			if workers[name] != nil {
				continue
			}
			wctx, cancel := context.WithCancel(ctx)
			w := &worker{spec: sp, cancel: cancel, done: make(chan struct{})}
			workers[name] = w
			go func() {
				defer close(w.done)
				s.supervise(wctx, name, sp)
			}()
		}
		s.mu.Lock()
		for name := range s.state {
			if _, ok := want[name]; !ok {
				delete(s.state, name)
				s.up.DeleteLabelValues(name)
			}
		}
		s.notifyLocked()
		s.mu.Unlock()
	}

	reconcile()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-s.reload:
			reconcile()
		}
	}
	for name := range workers {
		stopWorker(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.running = false
	return errors.Join(s.stopErrs...)
}

// Reload validates cfg and makes it current. It rewrites the files at once:
// rsync reads rsyncd.conf anew for every connection, so module changes
// (paths, limits, users, hosts) apply to the next client without touching
// the daemon or the transfers in progress. A daemon whose global section
// changed (port, address, log file...) is restarted, and a private daemon
// is started or stopped as cfg asks. rsync is never sent SIGHUP: a
// --no-detach daemon exits on it. On error nothing changes.
func (s *Supervisor) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := checkRoot(cfg); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg.StateDir != s.cfg.StateDir {
		return &FieldError{Field: "state_dir", Value: cfg.StateDir, Msg: "cannot change on reload"}
	}
	if err := WriteFiles(cfg); err != nil {
		return err
	}
	s.cfg = cfg
	for _, name := range daemonNames(cfg) {
		s.restartsTotal.WithLabelValues(name)
	}
	select {
	case s.reload <- struct{}{}:
	default:
	}
	return nil
}

// Status describes every daemon, the public one first.
func (s *Supervisor) Status() []DaemonStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []DaemonStatus
	for _, name := range []string{DaemonPublic, DaemonPrivate} {
		if st := s.state[name]; st != nil {
			out = append(out, *st)
		}
	}
	return out
}

// WaitReady waits until every daemon the configuration asks for runs and
// has greeted the readiness probe, or ctx ends.
func (s *Supervisor) WaitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		ready := true
		for _, name := range daemonNames(s.cfg) {
			st := s.state[name]
			ready = ready && st != nil && st.Ready && st.PID != 0
		}
		ch := s.changed
		s.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("rsyncd: waiting for the daemons to greet: %w", ctx.Err())
		}
	}
}

func (s *Supervisor) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Supervisor) update(name string, f func(*DaemonStatus)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[name]
	if st == nil {
		st = &DaemonStatus{Name: name}
		s.state[name] = st
	}
	f(st)
	up := 0.0
	if st.Ready && st.PID != 0 {
		up = 1
	}
	s.up.WithLabelValues(name).Set(up)
	s.notifyLocked()
}

// supervise keeps one daemon running until ctx ends.
func (s *Supervisor) supervise(ctx context.Context, name string, sp spec) {
	// The daemon's parent-death signal fires when the thread that started
	// it exits (see setDeathSignal): pin this goroutine to its thread so
	// that the thread lives exactly as long as the supervision. The thread
	// is discarded when the goroutine returns, after its daemons are gone.
	runtime.LockOSThread()
	log := s.log.With("daemon", name)
	s.update(name, func(st *DaemonStatus) { st.Addr = sp.probe })
	backoff := s.opts.MinBackoff
	for ctx.Err() == nil {
		started := time.Now()
		why := s.runOnce(ctx, log, name, sp)
		if ctx.Err() != nil {
			return
		}
		s.restartsTotal.WithLabelValues(name).Inc()
		if time.Since(started) >= s.opts.MaxBackoff {
			backoff = s.opts.MinBackoff
		}
		s.update(name, func(st *DaemonStatus) { st.Restarts++; st.LastExit = why })
		log.Warn("rsync daemon stopped; restarting", "why", why, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

// runOnce starts the daemon and returns, once it is gone, why it ended.
func (s *Supervisor) runOnce(ctx context.Context, log *slog.Logger, name string, sp spec) string {
	cmd := exec.Command(s.bin, "--daemon", "--no-detach", "--config="+sp.conf)
	cmd.Env = childEnv(os.Environ())
	cmd.Dir = "/"
	ownGroup(cmd)
	// rsync's stderr is a pipe we read ourselves rather than an io.Writer:
	// connection processes inherit it and may outlive the daemon, and
	// exec's copying goroutine would make Wait wait for them.
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Sprintf("pipe: %v", err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	err = cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Sprintf("start %s: %v", s.bin, err)
	}
	pgid := cmd.Process.Pid
	go forwardLines(r, log)
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s.update(name, func(st *DaemonStatus) { st.PID = pgid; st.Ready = false })
	log.Info("rsync daemon started", "pid", pgid, "config", sp.conf, "addr", sp.probe)

	readyCtx, cancelReady := context.WithTimeout(ctx, s.opts.ReadyTimeout)
	ready := make(chan error, 1)
	go func() { ready <- waitGreeting(readyCtx, sp.probe, exited) }()

	var why string
	select {
	case <-ctx.Done():
		cancelReady()
		<-ready
		if err := s.stopGroup(pgid, exited); err != nil {
			log.Error("stopping rsync daemon", "err", err)
		} else {
			log.Info("rsync daemon stopped", "pid", pgid)
		}
	case err := <-ready:
		cancelReady()
		if err != nil && ctx.Err() == nil {
			select {
			case <-exited:
			default:
				why = fmt.Sprintf("no greeting: %v", err)
				if err := s.stopGroup(pgid, exited); err != nil {
					log.Error("stopping rsync daemon", "err", err)
				}
			}
			break
		}
		if err == nil {
			s.update(name, func(st *DaemonStatus) { st.Ready = true })
			log.Info("rsync daemon ready", "pid", pgid, "addr", sp.probe)
		}
		select {
		case <-exited:
		case <-ctx.Done():
			if err := s.stopGroup(pgid, exited); err != nil {
				log.Error("stopping rsync daemon", "err", err)
			} else {
				log.Info("rsync daemon stopped", "pid", pgid)
			}
		}
	}
	<-exited
	if why == "" {
		why = describeExit(waitErr)
	}
	// Connection processes of a daemon that died are unsupervised and
	// hold its connection slots: they go with it.
	if groupAlive(pgid) {
		if err := s.stopGroup(pgid, exited); err != nil {
			log.Error("stopping the connections of a dead rsync daemon", "err", err)
		}
	}
	s.update(name, func(st *DaemonStatus) {
		st.PID, st.Ready = 0, false
		if ctx.Err() != nil {
			st.LastExit = "stopped: " + why
		}
	})
	return why
}

func describeExit(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exited with status 0"
	case errors.As(err, &ee):
		return ee.ProcessState.String()
	default:
		return err.Error()
	}
}

// stopGroup SIGTERMs a process group, SIGKILLs it after the grace period,
// and waits until its leader (if exited is not nil) and every member are
// gone.
func (s *Supervisor) stopGroup(pgid int, exited <-chan struct{}) error {
	gone := func() bool {
		if exited != nil {
			select {
			case <-exited:
			default:
				return false
			}
		}
		return !groupAlive(pgid)
	}
	wait := func(d time.Duration) bool {
		deadline := time.Now().Add(d)
		for !gone() {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
		return true
	}
	if err := signalGroup(pgid, sigTERM); err != nil {
		return fmt.Errorf("rsyncd: SIGTERM process group %d: %w", pgid, err)
	}
	if !wait(s.opts.StopGrace) {
		s.log.Warn("rsync still running after SIGTERM; killing it", "pgid", pgid, "grace", s.opts.StopGrace)
		if err := signalGroup(pgid, sigKILL); err != nil {
			return fmt.Errorf("rsyncd: SIGKILL process group %d: %w", pgid, err)
		}
		if !wait(10 * time.Second) {
			err := fmt.Errorf("rsyncd: process group %d still has members after SIGKILL", pgid)
			s.mu.Lock()
			s.stopErrs = append(s.stopErrs, err)
			s.mu.Unlock()
			return err
		}
	}
	return nil
}

// waitGreeting connects to addr until the daemon there sends its
// "@RSYNCD:" greeting, the daemon exits or ctx ends. A greeting seen after
// our daemon exited came from another process on the port, so the exit
// is checked last.
func waitGreeting(ctx context.Context, addr string, exited <-chan struct{}) error {
	var last error
	for {
		select {
		case <-exited:
			return errors.New("rsync exited before accepting connections")
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return last
		default:
		}
		if last = greet(ctx, addr); last == nil {
			select {
			case <-exited:
				return errors.New("rsync exited while something else answered on its port")
			default:
				return nil
			}
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		case <-exited:
			t.Stop()
		}
	}
}

// greet reads one line from addr and checks it is an rsync daemon's greeting.
func greet(ctx context.Context, addr string) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read greeting: %w", err)
	}
	if !strings.HasPrefix(line, "@RSYNCD: ") {
		return fmt.Errorf("not an rsync daemon: greeting %q", line)
	}
	return nil
}

// forwardLines logs what rsync writes until every process holding the
// pipe has closed it.
func forwardLines(r *os.File, log *slog.Logger) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		if line := stripTimestamp(strings.TrimSpace(sc.Text())); line != "" {
			log.Info(line, "source", "rsync")
		}
	}
}

// stripTimestamp drops the "2006/01/02 15:04:05 " rsync puts before each
// log line: slog has its own.
func stripTimestamp(line string) string {
	const layout = "2006/01/02 15:04:05 "
	if len(line) > len(layout) {
		if _, err := time.Parse(layout, line[:len(layout)]); err == nil {
			return line[len(layout):]
		}
	}
	return line
}

// childEnv is env without RSYNC_* variables (a stray RSYNC_PASSWORD or
// RSYNC_CONNECT_PROG has no business in a daemon) and with the C locale.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if strings.HasPrefix(kv, "RSYNC_") || strings.HasPrefix(kv, "LC_ALL=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}
