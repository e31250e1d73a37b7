//go:build unix

package syncer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rsync runs in a session of its own (internal/rsync does that so it can
// kill rsync's helpers with it). The flip side: when the agent is killed
// with SIGKILL, rsync lives on, still writing into the tree, until it next
// writes to its closed stdout. The agent records rsync's PID and start time
// in the state directory, and the next run, holding the lock, kills a
// survivor's whole session before it touches the tree.

// procStartTime returns /proc/PID/stat's starttime (field 22), which tells
// a process apart from a later one that got the same PID. ok is false when
// the process does not exist (or /proc is not there).
func procStartTime(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	// After the command come state (field 3) ... starttime (field 22).
	if len(f) < 20 || f[0] == "Z" {
		return "", false
	}
	return f[19], true
}

// pidRecord is what the pid file holds.
func pidRecord(pid int) string {
	st, _ := procStartTime(pid)
	return strconv.Itoa(pid) + " " + st + "\n"
}

// killRecorded kills the rsync session a pid file names if that very
// process still runs, and waits until it is gone. It reports whether it
// killed something.
func killRecorded(ctx context.Context, record string) (bool, error) {
	f := strings.Fields(record)
	if len(f) != 2 {
		return false, nil
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 1 {
		return false, nil
	}
	st, alive := procStartTime(pid)
	if !alive || st != f[1] {
		return false, nil
	}
	// rsync is its session's leader, so its PID is the group's ID.
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, fmt.Errorf("kill leftover rsync %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, alive := procStartTime(pid); !alive {
			return true, nil
		}
		if time.Now().After(deadline) {
			return true, fmt.Errorf("leftover rsync %d still alive 10s after SIGKILL", pid)
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
