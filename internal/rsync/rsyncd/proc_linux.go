//go:build linux

package rsyncd

import "syscall"

// setDeathSignal has the kernel SIGTERM the daemon if the thread that
// started it dies, so a crashed mirrorkit does not leave a daemon holding
// the port. The supervising goroutine is locked to its thread for the
// daemon's whole life (see supervise), which makes "the thread dies" mean
// "mirrorkit died".
func setDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGTERM }
