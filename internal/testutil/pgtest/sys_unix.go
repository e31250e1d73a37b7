//go:build unix

package pgtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mirrorkit/mirrorkit/internal/testutil"
)

const platformSupported = true

func configureCmd(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

func quitProcess(pid int) error { return syscall.Kill(pid, syscall.SIGQUIT) }
func killProcess(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }

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

func processAlive(pid int) bool { return testutil.ProcessAlive(pid) }
func childPIDs(ppid int) []int  { return testutil.ChildPIDs(ppid) }
