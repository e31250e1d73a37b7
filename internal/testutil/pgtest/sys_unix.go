//go:build unix

package pgtest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const platformSupported = true

func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

func quitProcess(pid int) error { return syscall.Kill(pid, syscall.SIGQUIT) }
func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

// processAlive treats zombies as dead: the postmaster is not our child, and
// whoever inherits it (PID 1 in a container) may be slow to reap it or never
// reap it at all.
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	if state, ok := procState(pid); ok && state == 'Z' {
		return false
	}
	return true
}

// procStat reads Linux's /proc; elsewhere they report !ok and
// the callers fall back to what kill(2) can tell.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	// The command name in parentheses may itself contain spaces or ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

func procState(pid int) (byte, bool) {
	f, ok := procStat(pid)
	if !ok || len(f) < 1 || len(f[0]) != 1 {
		return 0, false
	}
	return f[0][0], true
}

func childPIDs(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := procStat(pid)
		if ok && len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// isPostmasterOf checks that pid was started for dataDir: pg_ctl passes -D
// on the postmaster's command line.
func isPostmasterOf(pid int, dataDir string) bool {
	if !processAlive(pid) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		// Without /proc there is no way to tell; the pid file is ours and
		// was written moments ago, so trust it.
		return true
	}
	for _, arg := range bytes.Split(b, []byte{0}) {
		if filepath.Clean(string(arg)) == filepath.Clean(dataDir) {
			return true
		}
	}
	return false
}

func searchableBy(dir string, uid, gid int) bool {
	fi, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == uid:
		return perm&0o100 != 0
	case int(st.Gid) == gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
