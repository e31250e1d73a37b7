package rsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Cmd is one rsync run.
type Cmd struct {
	// Path of the rsync binary; "" looks "rsync" up on PATH.
	Path string
	// Args are rsync's arguments. Never put a password here: command lines
	// are visible to every user of the host.
	Args []string
	// Env holds extra "KEY=value" entries for the child, such as
	// RSYNC_PASSWORD. The child also inherits this process's environment,
	// minus RSYNC_PASSWORD (so a stray one never reaches a mirror it was not
	// meant for), with TZ=UTC and LC_ALL=C forced so that listings carry
	// UTC times and escape every non-ASCII byte the same way.
	Env []string
	// Dir is the child's working directory; "" is this process's.
	Dir string
	// Stdout, when set, is called with rsync's standard output while rsync
	// runs, so output is consumed as it arrives. If it returns an error,
	// rsync is killed and Run returns that error. If it returns early
	// without one, the rest of the output is discarded. When Stdout is nil
	// the output is discarded.
	Stdout func(io.Reader) error
	// Output, instead of Stdout, sends rsync's standard output straight to
	// a file, read after Run returns. For small outputs it is the faster
	// way: an exiting rsync waits out its forked child's 20 ms exit pause
	// when that child holds a pipe, not when it holds a file.
	Output *os.File
	// Started, when set, is called with rsync's process ID once it runs.
	Started func(pid int)
	// Nice, 0..19, lowers the CPU priority of rsync and every process it
	// forks: background work such as scans must not slow what serves
	// clients on the same host.
	Nice int
	// StderrLine, when set, sees every non-empty line rsync writes to
	// stderr (cut to 1 KiB), serially, before Run returns. Callers use it
	// to judge failures by more than the last lines an ExitError keeps.
	StderrLine func(line string)
}

// waitDelay bounds how long Run waits, after rsync exits or is killed, for
// its stderr to close. rsync's helper processes share it and die with it,
// so this is only a guard against a wedged child.
const waitDelay = 5 * time.Second

// stderrLines is how many of rsync's last stderr lines an ExitError keeps.
const stderrLines = 32

// Run runs rsync and waits for it. A non-zero exit is an *ExitError. When
// ctx ends first, rsync and the helper processes it forked are killed, and
// Run returns an error wrapping ctx.Err() once they are gone.
//
// When Stdout fails because rsync's output ended early (rsync died), the
// returned error joins Stdout's error and rsync's *ExitError, so a caller can
// look at both: the exit code says why rsync died.
func Run(ctx context.Context, c Cmd) error {
	bin := c.Path
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("rsync"); err != nil {
			return fmt.Errorf("rsync: find binary: %w", err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("rsync: not started: %w", err)
	}
	if c.Stdout != nil && c.Output != nil {
		return errors.New("rsync: both Stdout and Output set")
	}
	if c.Nice < 0 || c.Nice > 19 {
		return fmt.Errorf("rsync: nice %d is out of range 0..19", c.Nice)
	}
	cmd := exec.CommandContext(ctx, bin, c.Args...)
	cmd.Env = childEnv(os.Environ(), c.Env)
	cmd.Dir = c.Dir
	// A session of its own: the group can be killed as a whole (rsync forks
	// a generator or receiver), and rsync has no controlling terminal to
	// prompt for a password on, so a missing password fails instead of
	// hanging.
	detach(cmd)
	cmd.Cancel = func() error { return killTree(cmd.Process) }
	cmd.WaitDelay = waitDelay
	stderr := &lineTail{max: stderrLines, each: c.StderrLine}
	cmd.Stderr = stderr

	var stdout io.ReadCloser
	if c.Output != nil {
		cmd.Stdout = c.Output
	} else if c.Stdout != nil {
		var err error
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return fmt.Errorf("rsync: %w", err)
		}
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rsync: start %s: %w", bin, err)
	}
	if c.Nice > 0 {
		// Best effort: a priority left at normal is no reason to fail.
		_ = renice(cmd.Process.Pid, c.Nice)
	}
	if c.Started != nil {
		c.Started(cmd.Process.Pid)
	}

	var consumeErr error
	killed := false
	if stdout != nil {
		consumeErr = c.Stdout(stdout)
		if consumeErr != nil {
			killed = true
			_ = killTree(cmd.Process)
		}
		// Drain so that rsync never blocks on a full pipe, and so that Wait,
		// which closes the pipe, does not race a reader.
		_, _ = io.Copy(io.Discard, stdout)
	}
	waitErr := cmd.Wait()
	stderr.flush()

	if ctxErr := ctx.Err(); ctxErr != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctxErr {
			return fmt.Errorf("rsync: %w: %w", ctxErr, cause)
		}
		return fmt.Errorf("rsync: %w", ctxErr)
	}
	if killed {
		return consumeErr
	}
	var exitErr error
	if waitErr != nil {
		exitErr = asExitError(waitErr, stderr.lines())
	}
	if consumeErr != nil && exitErr != nil {
		return errors.Join(consumeErr, exitErr)
	}
	if consumeErr != nil {
		return consumeErr
	}
	return exitErr
}

func asExitError(waitErr error, stderr []string) error {
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		// exec.ErrWaitDelay and friends: rsync exited, but something held
		// its output open.
		return fmt.Errorf("rsync: %w", waitErr)
	}
	code := ee.ExitCode()
	if code < 0 {
		code = ExitKilled
	}
	e := &ExitError{Code: code, Meaning: Meaning(code), Stderr: stderr}
	if code == ExitKilled {
		e.Meaning = "killed by " + ee.ProcessState.String()
	}
	e.LastLine = lastLine(stderr, code)
	return e
}

// childEnv is base minus the variables Run controls, then Run's settings, then extra.
func childEnv(base, extra []string) []string {
	env := make([]string, 0, len(base)+len(extra)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "TZ", "LC_ALL", "RSYNC_PASSWORD":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "TZ=UTC", "LC_ALL=C")
	return append(env, extra...)
}

// lineTail is an io.Writer keeping the last max lines written to it, each
// cut to maxLineLen bytes, so a chatty rsync cannot grow memory.
type lineTail struct {
	mu      sync.Mutex
	max     int
	each    func(string)
	partial []byte
	tail    []string
}

const maxLineLen = 1024

func (w *lineTail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = appendCapped(w.partial, p)
			break
		}
		w.partial = appendCapped(w.partial, p[:i])
		w.push(string(bytes.TrimRight(w.partial, "\r")))
		w.partial = w.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

func appendCapped(dst, src []byte) []byte {
	if room := maxLineLen - len(dst); len(src) > room {
		src = src[:max(room, 0)]
	}
	return append(dst, src...)
}

func (w *lineTail) push(l string) {
	if strings.TrimSpace(l) == "" {
		return
	}
	if w.each != nil {
		w.each(l)
	}
	if len(w.tail) == w.max {
		copy(w.tail, w.tail[1:])
		w.tail = w.tail[:w.max-1]
	}
	w.tail = append(w.tail, l)
}

// flush ends a last line that rsync did not terminate.
func (w *lineTail) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.push(string(bytes.TrimRight(w.partial, "\r")))
		w.partial = w.partial[:0]
	}
}

func (w *lineTail) lines() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.tail...)
}
