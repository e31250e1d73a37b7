//go:build unix

package rsync

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// killTree SIGKILLs rsync's whole process group (its session leader's PID is
// the group's ID), so the generator or receiver it forked dies with it
// instead of lingering on a half-open connection.
func killTree(p *os.Process) error {
	err := syscall.Kill(-p.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		// The group is gone, but the leader may be a zombie awaiting Wait.
		if kerr := p.Kill(); kerr != nil {
			return os.ErrProcessDone
		}
		return nil
	}
	return err
}

// renice sets the niceness of rsync's process group. Processes rsync forks
// later inherit it; any it forked already are in the group, so there is no
// window in which one escapes.
func renice(pid, nice int) error {
	return syscall.Setpriority(syscall.PRIO_PGRP, pid, nice)
}
