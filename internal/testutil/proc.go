//go:build unix

package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ProcStat returns the fields of /proc/PID/stat after the command name
// (state, ppid, pgrp, ...); the name itself may contain spaces or ')'.
func ProcStat(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(string(b[i+1:])), true
}

// ProcessAlive treats zombies as dead: servers' children are reparented to
// PID 1, which in a container may be slow to reap them or never do.
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	f, ok := ProcStat(pid)
	return !ok || len(f) == 0 || f[0] != "Z"
}

// ChildPIDs lists the processes whose parent is ppid.
func ChildPIDs(ppid int) []int {
	return procsWhere(func(f []string) bool { return len(f) > 1 && f[1] == strconv.Itoa(ppid) })
}

// GroupMembers lists the live (non-zombie) processes of a process group.
func GroupMembers(pgid int) []int {
	return procsWhere(func(f []string) bool { return len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" })
}

func procsWhere(match func(stat []string) bool) []int {
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
		if f, ok := ProcStat(pid); ok && match(f) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// MakeTraversable lets an unprivileged server (nobody) reach a test tree
// under the system temp dir, whose directories t.TempDir creates 0700: it adds
// read and search for group and others on root, and search only on the
// directories between it and the temp dir. It refuses to touch anything
// outside the temp dir.
func MakeTraversable(root string) error {
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(real, tmp+string(filepath.Separator)) {
		return fmt.Errorf("%s is outside %s: refusing to change permissions there", real, tmp)
	}
	for dir, bits := real, os.FileMode(0o055); dir != tmp; dir, bits = filepath.Dir(dir), 0o011 {
		fi, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&bits == bits {
			continue
		}
		if err := os.Chmod(dir, fi.Mode().Perm()|bits); err != nil {
			return fmt.Errorf("make %s traversable: %w", dir, err)
		}
	}
	return nil
}
